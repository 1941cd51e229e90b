"""The training-photo gatherer's pure parts: pictures found in binary blobs, licences, the photo check, names, split."""

import importlib.util
import io
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parent.parent / "packaging" / "training_photos.py"
spec = importlib.util.spec_from_file_location("training_photos", SCRIPT)
photos = importlib.util.module_from_spec(spec)
sys.modules["training_photos"] = photos
spec.loader.exec_module(photos)


def jpeg_bytes(rgb: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def photo_like(height=300, width=400, seed=0) -> np.ndarray:
    """A smooth gradient with shapes and sensor-like noise: what the photo check must keep."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x / width * 200, y / height * 180, (x + y) / (width + height) * 220], axis=-1)
    cv2.circle(base, (width // 3, height // 2), height // 4, (40, 160, 90), -1)
    return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def test_webp_and_jpeg_members_are_found_in_a_blob_with_their_offsets():
    webp = b"RIFF" + (12).to_bytes(4, "little") + b"WEBPVP8L" + b"\x00" * 4
    # A comment segment holding an end-of-image marker must not cut the JPEG short.
    jpeg = jpeg_bytes(photo_like(32, 48), quality=90, comment=b"\xff\xd9 not the end")
    wave = b"RIFF" + (4).to_bytes(4, "little") + b"WAVE"
    blob = b"junk\xff\xd8" + webp + wave + b"\x00" * 7 + jpeg + b"RIFF" + (99).to_bytes(4, "little") + b"WEBP"

    assert list(photos.webp_members(blob)) == [(6, webp)]
    [(offset, found)] = list(photos.jpeg_members(blob))
    assert offset == blob.index(jpeg) and found == jpeg
    assert Image.open(io.BytesIO(found)).size == (48, 32)


def test_split_is_a_stable_tenth_decided_by_each_name_alone():
    names = [f"source__photo{i}.jpg" for i in range(2000)]
    splits = [photos.split_of(name, 0.1) for name in names]
    assert splits == [photos.split_of(name, 0.1) for name in reversed(names)][::-1]
    assert 0.08 < splits.count("validation") / len(names) < 0.12
    assert {photos.split_of(name, 0.0) for name in names} == {"train"}


def test_flat_art_cutouts_and_small_pictures_are_dropped_and_photos_kept():
    flat = np.zeros((300, 400, 3), np.uint8)
    flat[:, :200] = (250, 200, 30)
    flat[100:200, 150:300] = (20, 90, 200)
    palette = np.array([(230, 40, 40), (40, 200, 60), (30, 60, 220), (240, 220, 30)], np.uint8)
    dithered = palette[np.random.default_rng(1).integers(0, 4, (300, 400))]

    assert photos.photo_problem(photo_like(), 0.0) is None
    assert photos.photo_problem(flat, 0.0) == "large flat areas"
    assert photos.photo_problem(dithered, 0.0) == "few colours"
    assert photos.photo_problem(photo_like(), 0.3) == "transparent cut-out"
    assert photos.photo_problem(photo_like(150, 400), 0.0) == "too small"


def test_transparency_goes_over_white_and_is_measured():
    rgba = np.zeros((10, 20, 4), np.uint8)
    rgba[:, :5] = (255, 0, 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, "PNG")

    rgb, transparent = photos.decode(buffer.getvalue())
    assert rgb.shape == (10, 20, 3) and transparent == pytest.approx(0.75)
    assert rgb[0, 0].tolist() == [255, 0, 0] and rgb[0, 10].tolist() == [255, 255, 255]


@pytest.mark.parametrize("stem", ["../../etc/passwd", "/abs/path", "..", "a/b\\c d", ".hidden"])
def test_a_member_name_cannot_leave_the_output_folder(tmp_path, stem):
    name = photos.safe_name("gcompris-qt-data", stem)
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert photos.photo_path(tmp_path, "train", name).parent == (tmp_path / "train").resolve()
    with pytest.raises(ValueError, match="unsafe"):
        photos.photo_path(tmp_path, "train", "../escape.jpg")


def test_licence_is_the_last_stanza_naming_the_file_else_the_main_one():
    text = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2020 Someone
License: GPL-2+

Files: nature/*
Copyright: 2008 A Photographer
License: CC-BY-SA 4.0
Comment: https://example.org/photo

Files: nature/Storm.jpg
Copyright: 2009 Another
License: Public Domain

License: GPL-2+
 The licence text.
"""
    stanzas = photos.copyright_stanzas(text)
    where = "copyright"
    assert photos.licence_of(stanzas, ["nature/Dune.jpg"], where) == photos.Licence(
        "CC-BY-SA-4.0", "copyright, Files: nature/*", "2008 A Photographer", "https://example.org/photo"
    )
    assert photos.licence_of(stanzas, ["nature/Storm.jpg"], where).name == "public-domain"
    main = photos.licence_of(stanzas, ["abstract/Silk.png"], where)
    assert main.name == "GPL-2+" and "main licence" in main.read_from


def test_same_content_at_another_size_has_a_near_equal_hash():
    photo = photo_like(seed=3)
    smaller = cv2.resize(photo, (200, 150), interpolation=cv2.INTER_AREA)
    other = photo_like(seed=4)[::-1]
    assert (photos.content_hash(photo) ^ photos.content_hash(smaller)).bit_count() <= photos.DUPLICATE_BITS
    assert (photos.content_hash(photo) ^ photos.content_hash(other)).bit_count() > photos.DUPLICATE_BITS
