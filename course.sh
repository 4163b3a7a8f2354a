#!/usr/bin/env bash
# One command to set up and run the course on a fresh Debian/Ubuntu machine.
#   bash course.sh book   build the book into _build/html
#   bash course.sh test   run every test (lint, unit, notebooks, grading, strict book build)
# It installs what it needs: make and python3-venv with apt when apt is usable,
# the Python packages into .venv, and Debian's Fashion-MNIST package.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:-book}

missing=()
command -v make >/dev/null 2>&1 || missing+=(make)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
if (( ${#missing[@]} )); then
  if command -v apt-get >/dev/null 2>&1 && { [[ $(id -u) -eq 0 ]] || sudo -n true 2>/dev/null; }; then
    SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo -n"
    $SUDO apt-get update -q && $SUDO apt-get install -y -q "${missing[@]}"
  else
    echo "Please install: ${missing[*]} (e.g. sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
exec make "$target"
