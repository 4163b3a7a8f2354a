#!/usr/bin/env bash
# Install the Debian package that ships Fashion-MNIST, when apt can be used.
set -u
if [[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
  exit 0
fi
bash "$(dirname "$0")/apt_install.sh" dataset-fashion-mnist || {
  echo "With internet access, cnnvision.data.load_fashion_mnist(allow_download=True) downloads it."
  exit 0
}
