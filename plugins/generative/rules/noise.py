"""Smooth, seeded noise in numpy.

``Perlin2D`` is gradient noise after Ken Perlin ("An Image Synthesizer",
SIGGRAPH 1985; "Improving Noise", SIGGRAPH 2002: quintic fade curve) with
random unit gradients on the lattice. ``value_noise_1d`` interpolates random
lattice values with the same fade curve. Both evaluate at any coordinates, so
the result does not depend on the sampling resolution.
"""

from __future__ import annotations

import numpy as np

_TABLE = 256


def _fade(t: np.ndarray) -> np.ndarray:
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


class Perlin2D:
    """Seeded 2-D gradient noise; values lie roughly in -1..1."""

    def __init__(self, rng: np.random.Generator) -> None:
        angles = rng.uniform(0.0, 2.0 * np.pi, _TABLE)
        self._gx = np.cos(angles)
        self._gy = np.sin(angles)
        perm = rng.permutation(_TABLE)
        self._perm = np.concatenate([perm, perm])

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Noise at float coordinates ``x``, ``y`` (same shape)."""
        x0 = np.floor(x)
        y0 = np.floor(y)
        fx = x - x0
        fy = y - y0
        ix = x0.astype(np.int64) & (_TABLE - 1)
        iy = y0.astype(np.int64) & (_TABLE - 1)
        perm = self._perm
        a = perm[ix]
        b = perm[ix + 1]
        h00 = perm[a + iy]
        h01 = perm[a + iy + 1]
        h10 = perm[b + iy]
        h11 = perm[b + iy + 1]
        gx, gy = self._gx, self._gy
        n00 = gx[h00] * fx + gy[h00] * fy
        n10 = gx[h10] * (fx - 1.0) + gy[h10] * fy
        n01 = gx[h01] * fx + gy[h01] * (fy - 1.0)
        n11 = gx[h11] * (fx - 1.0) + gy[h11] * (fy - 1.0)
        u = _fade(fx)
        v = _fade(fy)
        nx0 = n00 + u * (n10 - n00)
        nx1 = n01 + u * (n11 - n01)
        return (nx0 + v * (nx1 - nx0)) * np.sqrt(2.0)

    def fbm(self, x: np.ndarray, y: np.ndarray, octaves: int = 2, gain: float = 0.5) -> np.ndarray:
        """Fractal sum of ``octaves`` layers, each twice the frequency; normalised to about -1..1."""
        total = np.zeros(np.shape(x))
        amplitude = 1.0
        norm = 0.0
        frequency = 1.0
        for octave in range(octaves):
            # offset each octave so lattice points do not line up
            total += amplitude * self(x * frequency + 17.31 * octave, y * frequency - 5.77 * octave)
            norm += amplitude
            amplitude *= gain
            frequency *= 2.0
        return total / norm


def value_noise_1d(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Smoothly interpolate lattice ``values`` at float positions ``x`` (clamped to the lattice)."""
    x = np.clip(x, 0.0, len(values) - 1.000001)
    i = np.floor(x).astype(np.int64)
    f = _fade(x - i)
    return values[i] + (values[i + 1] - values[i]) * f
