"""Shared plotting helpers of the figures: the atomic PNG writer, table checks, axes, legends and error bars.

Matplotlib ``Figure`` objects are built without pyplot (no global figure state, Agg canvas for PNG) and written
atomically: a temporary file in the target directory, then ``os.replace``. Imports nothing from the figure modules.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from memgen.errors import MemgenError

DPI = 150
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: mkstemp creates 0600 files, the final PNG gets the usual 0666 & ~umask
CAPACITY_THRESHOLD_PCT = 90.0  # Yoon et al. call a model memorizing when >= 90% of samples are replicates
RATE = ["replicate_fraction", "ci_low", "ci_high"]


def save_png_atomic(fig: Figure, out_path: str | os.PathLike, tight: bool = True) -> None:
    """Write ``fig`` as PNG (dpi 150) to ``out_path`` atomically; the parent directory is created if needed.
    tight: crop to the drawn artists (a second drawing pass; a constrained-layout figure needs none)."""
    out_path = os.fspath(out_path)
    parent = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(out_path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, format="png", dpi=DPI, bbox_inches="tight" if tight else None)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def as_frame(tables) -> pd.DataFrame | None:
    """One DataFrame from a DataFrame, a list of them (concatenated; None when empty) or None."""
    if tables is None or isinstance(tables, pd.DataFrame):
        return tables
    return pd.concat(list(tables), ignore_index=True) if len(tables) else None


def require(table: pd.DataFrame, columns: list[str], what: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise MemgenError(f"{what} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MemgenError(f"{what} lacks column(s) {missing}")
    if table.empty:
        raise MemgenError(f"{what} has no rows to plot")


def size_label(size: float) -> str:
    """500 -> '500', 1000 -> '1k', 2500 -> '2.5k', 32000 -> '32k'."""
    return f"{size / 1000:g}k" if size >= 1000 else f"{size:g}"


def error_bars(pct: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Asymmetric yerr ``[2, n]`` in percent, never negative (NaN CIs draw no bar)."""
    return np.clip(np.vstack([pct - lo, hi - pct]), 0.0, None)


def log_size_axis(ax, sizes, label: str) -> None:
    """Log x axis with one labelled tick per measured size (500 -> '500', 2000 -> '2k')."""
    sizes = np.sort(np.unique(np.asarray(sizes, dtype=float)))
    ax.set_xscale("log")
    if sizes.min() == sizes.max():
        ax.set_xlim(sizes.min() / 2, sizes.max() * 2)
    ax.xaxis.set_major_locator(FixedLocator(sizes))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([size_label(s) for s in sizes])
    ax.set_xlabel(label)


def threshold_label(threshold: float) -> str:
    return "1/3" if abs(threshold - 1 / 3) < 1e-12 else f"{threshold:g}"


def varying(table: pd.DataFrame, candidates: list[str]) -> list[str]:
    return [c for c in candidates if c in table.columns and table[c].nunique(dropna=False) > 1]


def series_label(key, cols: list[str]) -> str:
    key = key if isinstance(key, tuple) else (key,)
    return ", ".join(f"{c} {v}" for c, v in zip(cols, key)) or "all"
