#!/bin/sh
# Install (or remove) Studio's desktop entry and icons for the current user.
#
#   packaging/install-desktop.sh               install into ${XDG_DATA_HOME:-~/.local/share}
#   packaging/install-desktop.sh --uninstall   remove what an install put there
#
# The entry starts `studio-gui`, which must be on PATH (e.g. installed with pipx). If it is somewhere else, such
# as in a virtual environment, give its path in STUDIO_GUI and the entry's Exec line will point there:
#
#   STUDIO_GUI="$PWD/.venv/bin/studio-gui" packaging/install-desktop.sh
#
# For a system-wide install, run as root with XDG_DATA_HOME=/usr/local/share (or /usr/share for a distribution).
set -eu

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
data_home=${XDG_DATA_HOME:-"$HOME/.local/share"}
applications="$data_home/applications"
hicolor="$data_home/icons/hicolor"

usage() {
    sed -n '2,12s/^# \{0,1\}//p' "$0"
}

refresh_caches() {
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$applications" || true
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1; then
        # -t: a per-user hicolor folder usually has no index.theme.
        gtk-update-icon-cache -q -f -t "$hicolor" || true
    fi
}

install_files() {
    mkdir -p "$applications"
    if [ -n "${STUDIO_GUI:-}" ]; then
        case $STUDIO_GUI in
            *[!A-Za-z0-9_./+-]*)
                echo "install-desktop.sh: STUDIO_GUI must be a path without spaces or special characters" >&2
                exit 1
                ;;
        esac
        sed "s|^Exec=studio-gui |Exec=$STUDIO_GUI |" "$here/studio.desktop" >"$applications/studio.desktop"
    else
        cp "$here/studio.desktop" "$applications/studio.desktop"
        if ! command -v studio-gui >/dev/null 2>&1; then
            echo "install-desktop.sh: note: studio-gui is not on PATH; set STUDIO_GUI to its full path" >&2
        fi
    fi
    chmod 644 "$applications/studio.desktop"

    for icon in "$here"/icons/hicolor/*/apps/studio.png "$here"/icons/hicolor/*/apps/studio.svg; do
        [ -f "$icon" ] || continue
        size_dir=$(basename -- "$(dirname -- "$(dirname -- "$icon")")")
        mkdir -p "$hicolor/$size_dir/apps"
        cp "$icon" "$hicolor/$size_dir/apps/"
        chmod 644 "$hicolor/$size_dir/apps/$(basename -- "$icon")"
    done

    refresh_caches
    echo "Installed the Studio desktop entry and icons into $data_home"
}

uninstall_files() {
    rm -f "$applications/studio.desktop"
    for size_dir in "$here"/icons/hicolor/*/; do
        size_dir=$(basename -- "$size_dir")
        rm -f "$hicolor/$size_dir/apps/studio.png" "$hicolor/$size_dir/apps/studio.svg"
    done
    refresh_caches
    echo "Removed the Studio desktop entry and icons from $data_home"
}

case ${1:-} in
    "") install_files ;;
    --uninstall) uninstall_files ;;
    -h | --help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
esac
