#!/usr/bin/env bash
# Install Debian's Chromium and its WebDriver for the browser test of the built book
# (tests/browser), when apt can be used. Nothing is downloaded at test time.
set -u
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
exec bash "$(dirname "$0")/apt_install.sh" chromium chromium-driver
