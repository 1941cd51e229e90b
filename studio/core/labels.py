"""Label maps: pictures whose flat colours are regions (doodles and the label maps of style paintings).

A label map arrives as RGB uint8; each distinct colour is one region. Maps made
in another program often have anti-aliased edges, whose in-between colours are
snapped to the nearest colour of a palette. A doodle's regions are matched to a
style map's regions by colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_REGION_SHARE = 0.002
"""A colour whose interior covers less than this share of a map is an edge colour, not a region (:func:`palette_of`)."""


def colour_hex(colour: np.ndarray | tuple[int, int, int]) -> str:
    """``#rrggbb`` of an RGB colour."""
    red, green, blue = (int(c) for c in colour)
    return f"#{red:02x}{green:02x}{blue:02x}"


def _codes(labels: np.ndarray) -> np.ndarray:
    """Each pixel's colour as one integer (0xRRGGBB), shape (H, W)."""
    if labels.dtype != np.uint8 or labels.ndim != 3 or labels.shape[2] < 3:
        raise ValueError(f"a label map must be RGB uint8, not {labels.dtype} of shape {labels.shape}")
    rgb = labels[..., :3].astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _colours(codes: np.ndarray) -> np.ndarray:
    """Integer codes (K,) as RGB uint8 colours (K, 3)."""
    return np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], axis=1).astype(np.uint8)


def region_colours(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct colours of a label map (K, 3) uint8, sorted, and the pixel count of each (K,)."""
    codes, counts = np.unique(_codes(labels), return_counts=True)
    return _colours(codes), counts


def palette_of(labels: np.ndarray, min_share: float = MIN_REGION_SHARE) -> np.ndarray:
    """The region colours of a label map (K, 3): colours whose interior pixels (all 8 neighbours of the same
    colour) cover at least ``min_share`` of the map.

    The colours of anti-aliased edges, a band a few pixels wide with no interior, are left out (they are snapped
    to these); the most frequent colour always counts, so the palette is never empty.
    """
    codes = _codes(labels)
    padded = np.pad(codes, 1, mode="edge")
    height, width = codes.shape
    interior = np.ones(codes.shape, bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            interior &= padded[dy : dy + height, dx : dx + width] == codes
    unique, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    inside = np.bincount(inverse.ravel(), weights=interior.ravel(), minlength=len(unique))
    keep = inside >= max(1.0, min_share * codes.size)
    keep[np.argmax(counts)] = True
    return _colours(unique[keep])


def snap_to_palette(labels: np.ndarray, palette: np.ndarray, max_distance: float) -> tuple[np.ndarray, int]:
    """``labels`` with every colour within ``max_distance`` (Euclidean, in 0..255 RGB) of a palette colour replaced
    by the nearest one, and the number of pixels that changed.

    Colours farther than ``max_distance`` from every palette colour stay as they are.
    """
    codes = _codes(labels)
    unique, inverse = np.unique(codes, return_inverse=True)
    colours = _colours(unique).astype(np.float32)
    targets = np.asarray(palette, np.float32).reshape(-1, 3)
    distances = np.sqrt(((colours[:, None, :] - targets[None, :, :]) ** 2).sum(axis=2))
    nearest = distances.argmin(axis=1)
    snap = distances[np.arange(len(unique)), nearest] <= max_distance
    mapped = np.where(snap[:, None], targets[nearest], colours).astype(np.uint8)
    moved_colours = (mapped != colours.astype(np.uint8)).any(axis=1)
    snapped = mapped[inverse.reshape(codes.shape)]
    return snapped, int(moved_colours[inverse].sum())


@dataclass(frozen=True)
class RegionMatch:
    """A doodle's regions matched to a style label map's regions by colour.

    ``colours`` (K, 3) are the doodle's region colours, each a region of the
    style map or a colour textured from elsewhere; ``doodle`` and ``style`` are index maps (H, W) int64
    of the snapped maps: ``i`` where the region is ``colours[i]``, -1 on the
    style's regions the doodle does not use. ``snapped_doodle`` and
    ``snapped_style`` count the pixels snapping moved.
    """

    colours: np.ndarray
    doodle: np.ndarray
    style: np.ndarray
    snapped_doodle: int
    snapped_style: int
    unused_style_colours: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.colours)

    def summary(self) -> dict[str, object]:
        """What a recipe records: each region's colour and its share of the doodle and of the style, and snapping."""
        regions = [
            {
                "colour": colour_hex(colour),
                "doodle_share": round(float((self.doodle == index).mean()), 4),
                "style_share": round(float((self.style == index).mean()), 4),
            }
            for index, colour in enumerate(self.colours)
        ]
        return {
            "regions": regions,
            "unused_style_colours": list(self.unused_style_colours),
            "snapped_pixels": {"doodle": self.snapped_doodle, "style_labels": self.snapped_style},
        }


def match_regions(
    doodle: np.ndarray,
    style: np.ndarray,
    max_distance: float,
    min_share: float = MIN_REGION_SHARE,
    elsewhere: np.ndarray | None = None,
) -> RegionMatch:
    """The doodle's regions matched to the style map's by colour, after snapping both to the style map's palette.

    ``elsewhere`` (E, 3) are colours the doodle may use although the style map lacks them (regions textured from
    other pictures); the doodle is snapped to them too. Any other doodle colour that is no region of the style map
    is a ValueError naming the colours.
    """
    palette = palette_of(style, min_share)
    extra = np.zeros((0, 3), np.uint8) if elsewhere is None else np.asarray(elsewhere, np.uint8).reshape(-1, 3)
    allowed = np.concatenate([palette, extra])
    style_snapped, style_moved = snap_to_palette(style, palette, max_distance)
    doodle_snapped, doodle_moved = snap_to_palette(doodle, allowed, max_distance)
    doodle_colours, _ = region_colours(doodle_snapped)
    palette_codes = _codes(allowed[None])[0]
    doodle_codes = _codes(doodle_colours[None])[0]
    missing = doodle_colours[~np.isin(doodle_codes, palette_codes)]
    if len(missing):
        named = ", ".join(colour_hex(c) for c in missing[:8])
        more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        verb = "is" if len(missing) == 1 else "are"
        raise ValueError(
            f"{named}{more} {verb} in the doodle but not in the style's label map; paint the doodle with the "
            f"style map's colours ({', '.join(colour_hex(c) for c in palette)}), or texture them from other pictures"
        )
    lookup = {int(code): index for index, code in enumerate(doodle_codes)}
    unused = tuple(
        colour_hex(c) for c, code in zip(palette, palette_codes[: len(palette)], strict=True) if int(code) not in lookup
    )
    return RegionMatch(
        colours=doodle_colours,
        doodle=_indices(doodle_snapped, lookup),
        style=_indices(style_snapped, lookup),
        snapped_doodle=doodle_moved,
        snapped_style=style_moved,
        unused_style_colours=unused,
    )


def _indices(labels: np.ndarray, lookup: dict[int, int]) -> np.ndarray:
    """The region index (H, W) of each pixel by colour code; -1 where the colour is not in ``lookup``."""
    unique, inverse = np.unique(_codes(labels), return_inverse=True)
    table = np.array([lookup.get(int(code), -1) for code in unique], np.int64)
    return table[inverse.reshape(labels.shape[:2])]


def one_hot(indices: np.ndarray, count: int) -> np.ndarray:
    """Region index map (H, W) as float32 masks (count, H, W); pixels with index -1 are in none."""
    return (indices[None, :, :] == np.arange(count)[:, None, None]).astype(np.float32)


def to_indices(labels: np.ndarray, palette: np.ndarray) -> tuple[np.ndarray, int]:
    """Each pixel of an RGB label map as the row of ``palette`` (K, 3) nearest its colour, uint8 (H, W), and the
    number of pixels whose colour was not exactly a palette colour (snapped).

    With the document's palette (:func:`studio.core.inputs.label_colours` of ``arange(256)``) the rows are the
    label indices a label layer holds.
    """
    colours = np.asarray(palette, np.uint8).reshape(-1, 3)
    if not 0 < len(colours) <= 256:
        raise ValueError(f"a palette needs 1 to 256 colours, not {len(colours)}")
    unique, inverse = np.unique(_codes(labels), return_inverse=True)
    found = _colours(unique).astype(np.float32)
    distances = ((found[:, None, :] - colours[None, :, :].astype(np.float32)) ** 2).sum(axis=2)
    nearest = distances.argmin(axis=1)
    exact = distances[np.arange(len(unique)), nearest] == 0
    indices = nearest.astype(np.uint8)[inverse.reshape(labels.shape[:2])]
    return indices, int((~exact)[inverse].sum())


def from_indices(indices: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Label indices (H, W) as the RGB colours (H, W, 3) of ``palette``'s rows: the inverse of :func:`to_indices`."""
    return np.asarray(palette, np.uint8).reshape(-1, 3)[indices]


SEGMENT_SAMPLES = 100_000
"""At most this many pixels (an even grid) fit :func:`segment`'s clusters; every pixel is then given the nearest."""


SEGMENT_MIN_BLUR = 3.0
"""Colours are averaged over at least this radius (Gaussian sigma, px) so a fine texture counts as one region."""


def segment(picture: np.ndarray, regions: int, position_weight: float = 0.5) -> np.ndarray:
    """A label map of ``picture`` (RGB(A) uint8) in ``regions`` regions of similar colour and place: indices
    1..regions, uint8 (H, W), numbered in the order they first appear row by row.

    k-means (OpenCV, fixed seed: the same picture gives the same map) on the Lab colour around each pixel (a
    texture's mean) and its position; ``position_weight`` 0 groups by colour alone, 1 counts moving across the
    picture like the whole lightness range.
    """
    import cv2

    if not 1 <= regions <= 255:
        raise ValueError(f"a label map has 1 to 255 regions, not {regions}")
    if picture.dtype != np.uint8 or picture.ndim != 3 or picture.shape[2] < 3:
        raise ValueError(f"segment needs an RGB(A) uint8 picture, not {picture.dtype} of shape {picture.shape}")
    height, width = picture.shape[:2]
    lab = cv2.cvtColor(picture[..., :3].astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lab = cv2.GaussianBlur(lab, (0, 0), max(SEGMENT_MIN_BLUR, max(height, width) / 48))  # a texture's mean colour
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    scale = 100.0 * position_weight / max(height, width)
    features = np.concatenate([lab, (x * scale)[..., None], (y * scale)[..., None]], axis=2).reshape(-1, 5)
    stride = max(1, int(np.ceil(len(features) / SEGMENT_SAMPLES)))
    samples = np.ascontiguousarray(features[::stride])
    count = min(regions, len(samples))
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.01)
    _, _, centres = cv2.kmeans(samples, count, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    nearest = np.empty(len(features), np.int64)
    for start in range(0, len(features), 1 << 18):
        chunk = features[start : start + (1 << 18)]
        nearest[start : start + len(chunk)] = ((chunk[:, None, :] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
    _, first = np.unique(nearest, return_index=True)
    order = np.argsort(np.argsort(first))
    present = np.unique(nearest)
    table = np.zeros(count, np.uint8)
    table[present] = order.astype(np.uint8) + 1
    return table[nearest].reshape(height, width)


def region_signatures(picture: np.ndarray, indices: np.ndarray, count: int) -> np.ndarray:
    """Each region's mean Lab colour and centroid (x, y as shares of the picture's size): (count, 5), NaN for a
    region with no pixel; ``indices`` (H, W) numbers the regions 0..count-1 (other values are in none)."""
    import cv2

    height, width = indices.shape
    lab = cv2.cvtColor(picture[..., :3].astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    y, x = np.mgrid[0:height, 0:width]
    values = np.concatenate([lab, (x / width).reshape(-1, 1), (y / height).reshape(-1, 1)], axis=1)
    flat = indices.reshape(-1)
    inside = (flat >= 0) & (flat < count)
    sums = np.zeros((count, 5))
    np.add.at(sums, flat[inside], values[inside])
    sizes = np.bincount(flat[inside], minlength=count)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / sizes


def match_by_likeness(
    picture: np.ndarray, segments: np.ndarray, style: np.ndarray, style_regions: np.ndarray, count: int
) -> np.ndarray:
    """For each region 0..count-1 of ``segments`` (of ``picture``), the region of ``style_regions`` (of ``style``,
    also numbered 0..count-1) it resembles most in colour and place, one to one (the Hungarian method on the
    distance of mean Lab colours, lightness range = 1, plus the distance of centroids): a photo's sky becomes
    the painting's sky. Regions absent from either map are matched last."""
    from scipy.optimize import linear_sum_assignment

    ours = region_signatures(picture, segments, count)
    theirs = region_signatures(style, style_regions, count)
    colour = np.linalg.norm(ours[:, None, :3] - theirs[None, :, :3], axis=2) / 100.0
    place = np.linalg.norm(ours[:, None, 3:] - theirs[None, :, 3:], axis=2)
    cost = np.nan_to_num(colour + place, nan=1e6)
    rows, columns = linear_sum_assignment(cost)
    match = np.zeros(count, np.int64)
    match[rows] = columns
    return match
