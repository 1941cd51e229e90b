#!/usr/bin/env bash
# Installs the system packages Studio uses, when they are missing:
# - ICC profiles for export and soft proofing: the "Compatible with Adobe RGB (1998)" profile
#   (Debian's icc-profiles-free, zlib license) and Ghostscript's CMYK profiles (libgs-common,
#   AGPL-3+; the default printer profile in the tests). Never fatal: without them only the
#   Adobe RGB choice says which package to install.
# - the X11 libraries Qt's xcb platform plugin needs (skipped with --icc-only).
# Called by `make run` (everything) and `make test` (--icc-only); does nothing when all is there.
set -euo pipefail
icc_only=false
if [ "${1:-}" = "--icc-only" ]; then icc_only=true; shift; fi
venv=${1:-.venv}

icc_packages="icc-profiles-free libgs-common"
if [ ! -f /usr/share/color/icc/compatibleWithAdobeRGB1998.icc ] || [ ! -f /usr/share/color/icc/ghostscript/default_cmyk.icc ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $icc_packages; } ||
      echo "Could not install $icc_packages; Adobe RGB export and the CMYK tests need them." >&2
  else
    echo "Optional ICC profiles (Adobe RGB export, CMYK proofing) are missing; on Debian/Ubuntu: sudo apt-get install $icc_packages" >&2
  fi
fi
$icc_only && exit 0

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
