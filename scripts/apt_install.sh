#!/usr/bin/env bash
# apt_install.sh PACKAGE...: install Debian packages with apt when it can be used (as root or
# with password-less sudo); otherwise say what to run and exit 1.
set -u
if ! command -v apt-get >/dev/null 2>&1; then
  echo "No apt-get here: install $* by other means."
  exit 1
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "Run once:  sudo apt-get install -y $*   (needs administrator rights)"
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q "$@" >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null 2>&1
  $SUDO apt-get install -y -q "$@" >/dev/null
}
