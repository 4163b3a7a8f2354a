#!/usr/bin/env bash
# Install Debian's Chromium and its WebDriver for the browser test of the built book
# (tests/browser), when apt can be used. Nothing is downloaded at test time.
set -u
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "No apt-get here: install Chromium and chromedriver to run the browser test."
  exit 1
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "Run once:  sudo apt-get install -y chromium chromium-driver   (needs administrator rights)"
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null 2>&1
  $SUDO apt-get install -y -q chromium chromium-driver >/dev/null
}
