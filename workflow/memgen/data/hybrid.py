"""GM + car hybrid dummies of the dummy-kinds follow-up: "within the Fourier domain, combining 75% high frequency
of a randomly generated GM image and 25% low frequency of a CIFAR-10 car image, such that the resulting image
looks like a GM image but also preserves a car edges" (the hybrid images of Oliva, Torralba & Schyns 2006).

The report does not define "75% / 25%"; we read it as shares of the 2-D frequency plane. Frequencies are those
of ``numpy.fft.fftfreq`` along rows and columns, in cycles per pixel, divided by the Nyquist frequency 1/2, so
the plane is the square ``[-1, 1)^2`` of area 4. The low band is the disc of radius ``cutoff`` (in Nyquist units,
boundary included): ``sqrt(fy^2 + fx^2) <= cutoff``. Its area ``pi * cutoff^2`` is 25% of the plane when
``cutoff = 1 / sqrt(pi) = 0.5642``, the default (``DEFAULT_CUTOFF``). On the discrete grid the disc holds
253 of the 1024 coefficients at 32 x 32 (24.7%) and 69 of 256 at 16 x 16 (27.0%); ``low_band_fraction`` reports
the exact share. Each RGB channel is transformed separately; the hybrid takes every coefficient inside the disc
from the low-frequency source (the car) and every other one from the high-frequency source (the GM image),
then transforms back. The mask is symmetric under ``f -> -f``, so the result is real up to float rounding
(the imaginary part is dropped). ``hybrid_dummies`` then clips to [0, 255] and rounds to uint8. The GM
high band is loud (GM pixels have a standard deviation near 97 of 255), so that clipping is not rare: about
a quarter of the values of a GM + Mondrian hybrid at 32 x 32 clip, and the stored image's low band is the car's
only up to that clipping.
"""

from __future__ import annotations

import math

import numpy as np

from memgen.data.synthetic import check_args, gaussian_mixture
from memgen.errors import MemgenError

DEFAULT_CUTOFF = 1.0 / math.sqrt(math.pi)  # low band = 25% of the frequency plane's area


def low_pass_mask(height: int, width: int, cutoff: float) -> np.ndarray:
    """bool ``[H, W]`` in ``numpy.fft.fft2`` order: True where ``|f| / Nyquist <= cutoff``."""
    fy = np.fft.fftfreq(height) / 0.5
    fx = np.fft.fftfreq(width) / 0.5
    return fy[:, None] ** 2 + fx[None, :] ** 2 <= cutoff * cutoff


def low_band_fraction(image_size: int, cutoff: float = DEFAULT_CUTOFF) -> float:
    """The share of the ``S x S`` Fourier coefficients in the low band of ``cutoff``."""
    return float(low_pass_mask(image_size, image_size, cutoff).mean())


def _check_cutoff(cutoff: float) -> float:
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or not (0 <= cutoff and math.isfinite(cutoff)):
        raise MemgenError(f"hybrid cutoff must be a finite number >= 0 (in Nyquist units), got {cutoff!r}")
    return float(cutoff)


def fourier_hybrid(high_src: np.ndarray, low_src: np.ndarray, cutoff: float = DEFAULT_CUTOFF) -> np.ndarray:
    """Hybrid of two image arrays ``[..., H, W, C]`` of the same shape: float64, low band (radius <= ``cutoff``
    x Nyquist) from ``low_src``, the rest from ``high_src`` (module docstring). Not clipped or rounded."""
    high = np.asarray(high_src, dtype=np.float64)
    low = np.asarray(low_src, dtype=np.float64)
    if high.shape != low.shape or high.ndim < 3:
        raise MemgenError(f"fourier_hybrid: sources must share one shape [..., H, W, C], got {list(high.shape)} "
                          f"and {list(low.shape)}")
    mask = low_pass_mask(high.shape[-3], high.shape[-2], _check_cutoff(cutoff))[:, :, None]
    axes = (-3, -2)
    spectrum = np.where(mask, np.fft.fft2(low, axes=axes), np.fft.fft2(high, axes=axes))
    return np.fft.ifft2(spectrum, axes=axes).real


def hybrid_dummies(n: int, seed: int, image_size: int, car_images: np.ndarray,
                   cutoff: float = DEFAULT_CUTOFF) -> np.ndarray:
    """GM + car hybrids, uint8 ``[n, S, S, 3]``: image i is
    ``round(clip(fourier_hybrid(gaussian_mixture(n, seed, S)[i], car_images[i], cutoff), 0, 255))``.

    ``car_images``: uint8 ``[n, S, S, 3]``, the low-frequency sources, one per hybrid (held out from the
    training set by the caller). Pure: the same inputs give the same output.
    """
    n, seed, s = check_args(n, seed, image_size)
    cars = np.asarray(car_images)
    if cars.dtype != np.uint8 or cars.shape != (n, s, s, 3):
        raise MemgenError(f"hybrid_dummies: car_images must be uint8 [{n}, {s}, {s}, 3], got {cars.dtype} "
                          f"{list(cars.shape)}")
    gm = gaussian_mixture(n, seed, s)
    out = np.empty((n, s, s, 3), dtype=np.uint8)
    for start in range(0, n, 1024):  # bound the complex128 working memory
        stop = min(n, start + 1024)
        mixed = fourier_hybrid(gm[start:stop], cars[start:stop], cutoff)
        out[start:stop] = np.rint(np.clip(mixed, 0.0, 255.0)).astype(np.uint8)
    return out
