#!/usr/bin/env bash
# Installs the X11 libraries Qt's xcb platform plugin needs, when they are missing.
# Called by `make run`; does nothing when Qt can already open a window.
set -euo pipefail
venv=${1:-.venv}
plugin=$(ls "$venv"/lib/python3*/site-packages/PySide6/Qt/plugins/platforms/libqxcb.so 2>/dev/null | head -n1)
[ -n "$plugin" ] || exit 0
missing=$(ldd "$plugin" | awk '/not found/ {print $1}' | sort -u)
[ -n "$missing" ] || exit 0
packages="libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libegl1 libgl1 libfontconfig1 libdbus-1-3"
echo "Qt needs system libraries that are missing: $(echo $missing | tr '\n' ' ')"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && apt-get install -y -qq $packages
elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
  sudo apt-get install -y $packages
else
  echo "Install them with your package manager (on Debian/Ubuntu: apt-get install $packages)." >&2
  exit 1
fi
