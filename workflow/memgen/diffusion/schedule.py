"""Noise schedules and timestep respacing, as float64 numpy arrays.

Notation (Ho et al. 2020): ``betas[t]`` is beta_t for t = 0 .. T-1 (0-based, so ``betas[0]`` is the
paper's beta_1), alpha_t = 1 - beta_t and ``alphas_cumprod[t]`` = abar_t = prod_{s<=t} alpha_s.
The cosine schedule is Nichol & Dhariwal 2021 ("Improved DDPM") eq. 17; respacing is their section 4
("improving sampling speed"): keep a subset S of the steps and derive new betas so that abar is
unchanged at every kept step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from memgen.errors import MemgenError
from memgen.runtime import check_int

COSINE_OFFSET = 0.008  # s in Improved DDPM eq. 17


def cosine_alpha_bar(t_frac: float | np.ndarray) -> np.ndarray:
    """f(t) = cos^2(((t + s) / (1 + s)) * pi / 2) with s = 0.008 (Improved DDPM eq. 17).

    ``t_frac`` is t/T in [0, 1] (scalar or array); returns float64 of the same shape. The
    schedule's abar_t is f(t/T) / f(0); f(0) is within 1e-4 of 1.
    """
    t = np.asarray(t_frac, dtype=np.float64)
    return np.cos((t + COSINE_OFFSET) / (1.0 + COSINE_OFFSET) * math.pi / 2.0) ** 2


def _check_steps(num_steps: int) -> int:
    return check_int("number of diffusion steps", num_steps, 1)


def cosine_betas(num_steps: int, max_beta: float = 0.999) -> np.ndarray:
    """Cosine schedule [T]: beta_t = min(1 - f((t+1)/T) / f(t/T), max_beta) (Improved DDPM eq. 17).

    The clip at 0.999 avoids the singularity at t = T where f -> 0.
    """
    n = _check_steps(num_steps)
    if not 0.0 < max_beta <= 1.0:
        raise MemgenError(f"max_beta must lie in (0, 1], got {max_beta!r}")
    grid = np.arange(n + 1, dtype=np.float64) / n
    f = cosine_alpha_bar(grid)
    return np.minimum(1.0 - f[1:] / f[:-1], max_beta)


def linear_betas(num_steps: int) -> np.ndarray:
    """Linear schedule [T] of Ho et al. 2020: 1e-4 .. 0.02 at T = 1000, both ends scaled by 1000/T."""
    n = _check_steps(num_steps)
    scale = 1000.0 / n
    return np.linspace(scale * 1e-4, scale * 0.02, n, dtype=np.float64)


SCHEDULES: dict[str, Callable[[int], np.ndarray]] = {"cosine": cosine_betas, "linear": linear_betas}


def named_betas(name: str, num_steps: int) -> np.ndarray:
    """betas [T] of the schedule called ``name`` (a key of ``SCHEDULES``)."""
    if name not in SCHEDULES:
        raise MemgenError(f"unknown noise schedule {name!r}; expected one of {sorted(SCHEDULES)}")
    return SCHEDULES[name](num_steps)


def _ddim_steps(num_steps: int, desired: int) -> set[int]:
    """'ddimN': the uniform stride k (smallest first) with len(range(0, T, k)) == N."""
    for stride in range(1, num_steps):
        if len(range(0, num_steps, stride)) == desired:
            return set(range(0, num_steps, stride))
    raise MemgenError(f"timestep respacing 'ddim{desired}': no integer stride gives {desired} of {num_steps} steps")


def _parse_sections(section_counts: int | str) -> list[int] | str:
    if isinstance(section_counts, (int, np.integer)) and not isinstance(section_counts, bool):
        return [int(section_counts)]
    if not isinstance(section_counts, str) or not section_counts.strip():
        raise MemgenError(f"timestep respacing must be an int or a string like '100' or '10,15,20': {section_counts!r}")
    text = section_counts.strip()
    if text.startswith("ddim"):
        return text
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise MemgenError(f"timestep respacing {section_counts!r}: not a comma-separated list of integers") from None


def space_timesteps(num_steps: int, section_counts: int | str) -> set[int]:
    """The original steps (0-based) kept when respacing a T-step process.

    ``section_counts`` is an int N, a string "N", a list "n1,n2,..." or "ddimN". With k counts the
    T steps are cut into k contiguous sections of equal size (the first T % k sections one step
    longer); from a section of length L, n steps are taken at the evenly spaced fractional positions
    j (L-1)/(n-1), j = 0..n-1 (accumulated in float, then rounded half to even), so the section's
    first and last steps are always kept (n = 1 keeps only the first). This is improved-diffusion's
    ``respace.space_timesteps`` convention: ``space_timesteps(4000, 100)`` keeps 100 steps including 0 and
    3999. "ddimN" keeps ``range(0, T, k)`` for the stride k giving N steps (does not in general include T-1).
    """
    n = _check_steps(num_steps)
    sections = _parse_sections(section_counts)
    if isinstance(sections, str):
        try:
            desired = int(sections[len("ddim"):])
        except ValueError:
            raise MemgenError(f"timestep respacing {sections!r}: expected 'ddim' followed by an integer") from None
        return _ddim_steps(n, desired)
    if not sections or any(c < 1 for c in sections):
        raise MemgenError(f"timestep respacing {section_counts!r}: section counts must be positive integers")
    base, extra = divmod(n, len(sections))
    kept: set[int] = set()
    start = 0
    for i, count in enumerate(sections):
        length = base + (1 if i < extra else 0)
        if count > length:
            raise MemgenError(
                f"timestep respacing {section_counts!r}: cannot take {count} steps from a section of {length}"
            )
        stride = (length - 1) / (count - 1) if count > 1 else 1.0
        position = 0.0
        for _ in range(count):
            kept.add(start + round(position))
            # A running float sum, not j * stride: at exact .5 ties the float error decides the rounding,
            # and this reproduces improved-diffusion's kept steps in every case.
            position += stride
        start += length
    return kept


def respace_betas(alphas_cumprod: np.ndarray, use_timesteps: set[int] | list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Betas of the process that visits only ``use_timesteps``, keeping abar at those steps exactly.

    For kept steps k_0 < k_1 < ..., new beta_i = 1 - abar_{k_i} / abar_{k_{i-1}} (abar_{k_{-1}} = 1),
    so the respaced cumulative product at index i equals the original abar_{k_i}.
    Returns ``(new_betas [S] float64, timestep_map [S] int64)`` with ``timestep_map[i] = k_i``.
    """
    abar = np.asarray(alphas_cumprod, dtype=np.float64)
    keep = np.array(sorted(int(k) for k in use_timesteps), dtype=np.int64)
    if keep.size == 0:
        raise MemgenError("respace_betas: use_timesteps is empty")
    if keep[0] < 0 or keep[-1] >= abar.shape[0]:
        raise MemgenError(f"respace_betas: kept steps must lie in [0, {abar.shape[0]}), got {keep[0]}..{keep[-1]}")
    kept_abar = abar[keep]
    prev = np.concatenate([[1.0], kept_abar[:-1]])
    return 1.0 - kept_abar / prev, keep
