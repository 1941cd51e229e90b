"""Render docs/style-contact-sheet.png: optimise-mode style transfer with the real vgg16 (see docs/style-images.md).

Rows are content photos, columns style images; the top row shows the styles.

    .venv/bin/python docs/make_style_contact_sheet.py [--size 448] [--cell 320] [--iterations 150]

Needs the installed vgg16 (`studio models install vgg16`), scikit-image, and
the Debian packages opencv-doc and mate-backgrounds for the style pictures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from PIL import Image
from studio_plugins.style_transfer.optimise import run
from studio_plugins.style_transfer.params import StyleParams

from studio.core.image import to_uint8
from studio.core.inputs import Inputs
from studio.core.jobs import RunContext, drive
from studio.core.models.store import ModelStore
from studio.core.params import make_params

STYLES = {  # path, and the frame to cut off (px on each side): a frame would be painted as a texture too
    "The Starry Night (van Gogh)": ("/usr/share/doc/opencv-doc/examples/data/starry_night.jpg", 16),
    "Elephants (Stancikaite)": ("/usr/share/backgrounds/mate/abstract/Elephants.jpg", 0),
    "FreshFlower (Ansorg)": ("/usr/share/backgrounds/mate/nature/FreshFlower.jpg", 0),
}
CONTENTS = {"astronaut": skimage.data.astronaut, "chelsea": skimage.data.chelsea}
OUT = Path(__file__).parent / "style-contact-sheet.png"


def fit(image: np.ndarray, cell: int) -> np.ndarray:
    """``image`` scaled to fit a ``cell`` x ``cell`` square, centred on white."""
    height, width = image.shape[:2]
    scale = cell / max(width, height)
    small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    out = np.full((cell, cell, 3), 255, np.uint8)
    y, x = (cell - small.shape[0]) // 2, (cell - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 18), (255, 255, 255), -1)
    cv2.putText(out, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (20, 20, 20), 1, cv2.LINE_AA)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=448, help="long side of each render")
    parser.add_argument("--cell", type=int, default=320, help="px of each cell of the sheet")
    parser.add_argument("--iterations", type=int, default=150)
    options = parser.parse_args()
    missing = [path for path, _ in STYLES.values() if not Path(path).is_file()]
    if missing:
        print(f"missing style pictures: {', '.join(missing)} (apt-get install opencv-doc mate-backgrounds)")
        return 1
    folder = Path(tempfile.mkdtemp(prefix="studio-sheet-"))
    style_files = {}
    rows = [[np.full((options.cell, options.cell, 3), 255, np.uint8)]]
    for name, (path, frame) in STYLES.items():
        style = cv2.imread(path)
        style = style[frame : style.shape[0] - frame, frame : style.shape[1] - frame]
        style_files[name] = str(folder / f"{len(style_files)}.png")
        cv2.imwrite(style_files[name], style)
        rows[0].append(label(fit(cv2.cvtColor(style, cv2.COLOR_BGR2RGB), options.cell), name))
    for content_name, make in CONTENTS.items():
        content = make()
        rgba = np.dstack([content, np.full(content.shape[:2], 255, np.uint8)])
        row = [label(fit(content, options.cell), content_name)]
        for name, path in style_files.items():
            start = time.perf_counter()
            params = make_params(StyleParams, {"style": path, "size": options.size, "iterations": options.iterations})
            ctx = RunContext(preview_interval_s=1e9, models=ModelStore())
            final = drive(run(params, Inputs(content.shape[1], content.shape[0], rgba), ctx), ctx)
            print(f"{content_name} x {name}: {time.perf_counter() - start:.0f} s", flush=True)
            row.append(fit(to_uint8(final.image), options.cell))
        rows.append(row)
    sheet = np.vstack([np.hstack(row) for row in rows])
    Image.fromarray(sheet).save(OUT, optimize=True)
    print(f"wrote {OUT} ({sheet.shape[1]}x{sheet.shape[0]}, {OUT.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
