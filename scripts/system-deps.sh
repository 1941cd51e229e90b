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

# Each package Qt's xcb platform plugin needs, with the library it provides. Some (libxcb-cursor0) are loaded
# at run time, so ldd on the plugin does not see them: ask the dynamic linker's cache for each library instead.
libraries="libxcb-icccm4:libxcb-icccm.so.4 libxcb-keysyms1:libxcb-keysyms.so.1 libxcb-cursor0:libxcb-cursor.so.0
libxkbcommon-x11-0:libxkbcommon-x11.so.0 libxcb-image0:libxcb-image.so.0 libxcb-render-util0:libxcb-render-util.so.0
libxcb-randr0:libxcb-randr.so.0 libxcb-shape0:libxcb-shape.so.0 libxcb-xinerama0:libxcb-xinerama.so.0
libxcb-xkb1:libxcb-xkb.so.1 libegl1:libEGL.so.1 libgl1:libGL.so.1 libfontconfig1:libfontconfig.so.1
libdbus-1-3:libdbus-1.so.3"
known=$(/sbin/ldconfig -p 2>/dev/null || ldconfig -p)
packages=""
for entry in $libraries; do
  grep -qF "${entry#*:} (" <<<"$known" || packages="$packages ${entry%%:*}"
done
packages=${packages# }
[ -n "$packages" ] || exit 0
echo "Qt's X11 support needs system packages that are missing: $packages"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && apt-get install -y -qq $packages
elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
  sudo apt-get install -y $packages
else
  echo "Install them with your package manager (on Debian/Ubuntu: apt-get install $packages)." >&2
  exit 1
fi
