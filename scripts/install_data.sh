#!/usr/bin/env bash
# Install the Debian package that ships Fashion-MNIST, when apt can be used.
set -u
if [[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "No apt-get here: Fashion-MNIST cannot be installed from Debian's package."
  echo "With internet access, cnnvision.data.load_fashion_mnist(allow_download=True) downloads it."
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "Run once:  sudo apt-get install -y dataset-fashion-mnist   (needs administrator rights)"
    exit 0
  fi
fi
$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null 2>&1
  $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null
}
