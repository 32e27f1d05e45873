"""A directory of PNG/JPEG images as a uint8 image set.

Every non-hidden regular file under the directory (recursively; names starting with ``.`` and everything inside
hidden directories are skipped) must be a PNG or JPEG image: anything else is an error naming the file, so a
mistyped folder or a stray file never changes a data set silently. Files are read in sorted order of their
POSIX paths relative to the directory, so the result is deterministic.

Each image is decoded with Pillow, rotated upright by its EXIF orientation tag (JPEG photos), converted to RGB
(grey replicated; an alpha channel is dropped without compositing), centre-cropped to its largest square (offset
``floor((w - side) / 2)``, likewise for rows) and resized to ``S x S`` with ``Image.Resampling.BICUBIC``
(Pillow's resize filters over the whole source footprint, so downscaling is antialiased). Images of mixed sizes
and aspect ratios are therefore fine: all come out ``S x S``, non-square ones lose their edges.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from memgen.errors import MemgenError
from memgen.runtime import check_int

IMAGE_FORMATS = ("PNG", "JPEG")


def image_files(path: str | os.PathLike) -> list[Path]:
    """The non-hidden regular files under ``path``, recursively, sorted by their relative POSIX paths."""
    root = Path(path)
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "no such directory"
        raise MemgenError(f"{root}: {what} (an image folder data set needs a directory of PNG/JPEG files)")
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        files += [Path(dirpath, f) for f in filenames if not f.startswith(".")]
    files = [f for f in files if f.is_file()]
    return sorted(files, key=lambda f: f.relative_to(root).as_posix())


def square_resize(image, image_size: int) -> np.ndarray:
    """A PIL image as uint8 ``[S, S, 3]``: RGB, centre-cropped to a square, BICUBIC-resized (module docstring)."""
    from PIL import Image

    image = image.convert("RGB")
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    if (w, h) != (side, side):
        image = image.crop((left, top, left + side, top + side))
    if side != image_size:
        image = image.resize((image_size, image_size), resample=Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8).copy()


def resize_images(images: np.ndarray, image_size: int) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` images through ``square_resize`` (a no-op copy when already ``S x S``)."""
    from PIL import Image

    if images.shape[1:3] == (image_size, image_size):
        return images.copy()
    return np.stack([square_resize(Image.fromarray(im), image_size) for im in images])


def _read(file: Path, image_size: int) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(file) as im:
            if im.format not in IMAGE_FORMATS:
                raise MemgenError(f"{file}: a {im.format} image; an image folder may hold only PNG or JPEG files")
            im.load()  # decode now, so a truncated file fails here
            return square_resize(ImageOps.exif_transpose(im), image_size)
    except UnidentifiedImageError:
        raise MemgenError(f"{file}: not a readable image (an image folder may hold only PNG or JPEG files)") \
            from None
    except (OSError, ValueError, SyntaxError) as e:
        msg = " ".join(str(e).split())[:200]
        raise MemgenError(f"{file}: not a readable image ({type(e).__name__}: {msg})") from None


def load_image_folder(path: str | os.PathLike, image_size: int) -> np.ndarray:
    """Every image under ``path`` as uint8 ``[N, S, S, 3]``, in sorted path order (rules in the module
    docstring). A missing directory, a directory without files, or a file that is not a readable PNG/JPEG
    raises MemgenError naming it."""
    image_size = check_int("image_size", image_size, 4)
    files = image_files(path)
    if not files:
        raise MemgenError(f"{path}: no images found (PNG or JPEG files, searched recursively)")
    return np.stack([_read(f, image_size) for f in files])
