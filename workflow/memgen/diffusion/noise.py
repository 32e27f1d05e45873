"""Per-sample sampling noise from a counter-based generator, drawn on the device in one pass per step.

`PerSampleNoise` (memgen.diffusion.sampler) keeps sample i independent of the batch by running one CPU
generator per sample: B small draws and a host-to-device copy at every reverse step. `CounterNoise` gives the
same guarantee without any state: every number is a pure function of (run seed, sample index, draw, element),
computed for the whole batch at once with torch integer ops wherever the batch lives.

Generator: Philox4x32-10 (Salmon, Moraes, Dror & Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3";
the constants of Random123's philox.h), checked against Random123's known-answer vectors in tests/test_noise.py.
Words are int64 tensors holding values in [0, 2^32); a round's 32 x 32-bit products keep their low 64 bits
(two's-complement wrap of torch's int64 multiply, checked against a known answer on each device before use).
  key     = two 32-bit words from numpy's SeedSequence([seed, 0x6e6f6973]) (any non-negative integer seed);
  counter = (q, d, k mod 2^32, k div 2^32) for sample index k, draw d (0 = x_T, i + 1 = reverse step i) and
            q = 0, 1, ... the group of 4 consecutive elements (C, H, W order) of that sample's draw.
Normals: Box-Muller on each pair of output words (a, b): u1 = (a + 1) / 2^32 in (0, 1], u2 = b / 2^32 in [0, 1),
z = sqrt(-2 ln u1) (cos 2 pi u2, sin 2 pi u2), computed in float64 (exact uniforms) and rounded to float32.
The smallest u1 is 2^-32, so |z| <= sqrt(64 ln 2) = 6.66: the tail beyond 6.66 sigma (probability 2.7e-11 per
number) is cut. The integers are bit-identical on every device; the floats are bit-identical for a sample
whatever its batch or the batch size, on one device (CPU and CUDA transcendentals may differ in the last bit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from memgen.errors import MemgenError
from memgen.runtime import STREAM

PHILOX_M = (0xD2511F53, 0xCD9E8D57)  # round multipliers (Random123 PHILOX_M4x32_0, _1)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)  # key increments (golden ratio, sqrt(3) - 1)
MASK32 = 0xFFFFFFFF


def philox4x32(counter: Sequence[Tensor], key: Sequence[int], rounds: int = 10) -> list[Tensor]:
    """Philox4x32-R: four counter words (int64 tensors in [0, 2^32), broadcastable) and two key words (ints)
    -> four output words (int64 tensors in [0, 2^32), the broadcast shape).

    Round (Random123 philox4x32round): (hi, lo) of M0 c0 and M1 c2; c <- (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
    the key is bumped by W before every round but the first. The in-place ops keep it to 14 passes per round.
    """
    shape = torch.broadcast_shapes(*(c.shape for c in counter))
    c0, c1, c2, c3 = (c.to(torch.int64).expand(shape).clone() for c in counter)
    p0, p1 = torch.empty_like(c0), torch.empty_like(c0)
    k0, k1 = int(key[0]) & MASK32, int(key[1]) & MASK32
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + PHILOX_W[0]) & MASK32, (k1 + PHILOX_W[1]) & MASK32
        # 32 x 32 -> 64-bit products; int64 keeps their low 64 bits (two's complement), so (p >> 32) & MASK32
        # is the high word even when the product passed 2^63 (checked on each device by _check_device).
        torch.mul(c0, PHILOX_M[0], out=p0)
        torch.mul(c2, PHILOX_M[1], out=p1)
        c0.copy_(p1).bitwise_right_shift_(32).bitwise_and_(MASK32).bitwise_xor_(c1).bitwise_xor_(k0)
        torch.bitwise_and(p1, MASK32, out=c1)
        c2.copy_(p0).bitwise_right_shift_(32).bitwise_and_(MASK32).bitwise_xor_(c3).bitwise_xor_(k1)
        torch.bitwise_and(p0, MASK32, out=c3)
    return [c0, c1, c2, c3]


# Random123 kat_vectors, philox4x32 10 with every word 0xffffffff: the largest products, so a device whose int64
# products did not wrap modulo 2^64 fails it.
_KAT_ONES = (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)
_CHECKED: set[str] = set()


def _check_device(device: torch.device) -> None:
    """Refuse a device whose int64 arithmetic does not reproduce the Philox known answers (checked once)."""
    if str(device) in _CHECKED:
        return
    ones = torch.full((64,), MASK32, dtype=torch.int64, device=device)  # 64 lanes: the vectorised kernels too
    out = philox4x32((ones, ones, ones, ones), (MASK32, MASK32))
    if any(not bool((w == v).all()) for w, v in zip(out, _KAT_ONES)):
        raise MemgenError(f"CounterNoise: Philox4x32-10 gives wrong known answers on {device} (int64 overflow?)")
    _CHECKED.add(str(device))


def run_key(seed: int) -> tuple[int, int]:
    """The Philox key (two 32-bit words) of a run seed."""
    words = np.random.SeedSequence([int(seed), STREAM.SAMPLE_NOISE]).generate_state(2, dtype=np.uint32)
    return int(words[0]), int(words[1])


def _box_muller(a: Tensor, b: Tensor, out: Tensor) -> None:
    """Two normals per pair of words into ``out`` [..., 2] (float32): radius from a, angle from b."""
    radius = a.to(torch.float64).add_(1.0).mul_(2.0**-32).log_().mul_(-2.0).sqrt_()  # u1 in (0, 1]: no log(0)
    angle = b.to(torch.float64).mul_(2.0 * math.pi * 2.0**-32)
    out[..., 0].copy_(torch.cos(angle).mul_(radius))
    out[..., 1].copy_(angle.sin_().mul_(radius))


def counter_normals(key: Sequence[int], indices: Tensor, first_draw: int | Tensor, draws: int, numel: int) -> Tensor:
    """Standard normals float32 ``[draws, B, numel]``: [s, b] is draw ``first_draw + s`` of sample ``indices[b]``
    (int64 [B]). One Philox pass covers all the draws: a pure function of (key, sample, draw, element).

    ``first_draw`` may be a 0-dim int64 tensor on the device instead of an int, with bit-identical results: a
    step captured in a CUDA graph or compiled once then draws the noise of the step it is replayed for (an int
    would be baked in: step 0's noise at every replay, or a recompilation per step)."""
    quads = -(-numel // 4)
    dev = indices.device
    q = torch.arange(quads, device=dev, dtype=torch.int64).view(1, 1, quads)
    k = indices.to(torch.int64).view(1, -1, 1)
    if isinstance(first_draw, Tensor):
        d = first_draw.to(torch.int64).reshape(1, 1, 1) + torch.arange(draws, device=dev, dtype=torch.int64).view(
            draws, 1, 1)
    else:
        d = torch.arange(first_draw, first_draw + draws, device=dev, dtype=torch.int64).view(draws, 1, 1)
    w0, w1, w2, w3 = philox4x32((q, d, k & MASK32, k >> 32), key)
    out = torch.empty(draws, len(indices), quads, 4, dtype=torch.float32, device=dev)
    _box_muller(w0, w1, out[..., 0:2])
    _box_muller(w2, w3, out[..., 2:4])
    return out.view(draws, len(indices), 4 * quads)[..., :numel]


def counter_normal(key: Sequence[int], indices: Tensor, draw: int | Tensor, numel: int) -> Tensor:
    """Standard normals float32 ``[B, numel]``: row b is draw ``draw`` of sample ``indices[b]`` (int64 [B])."""
    return counter_normals(key, indices, draw, 1, numel)[0]


def step_noise(key: Sequence[int], indices: Tensor, step: Tensor, shape_chw: Sequence[int]) -> Tensor:
    """The noise of reverse step ``step`` (a 0-dim int64 tensor; draw ``step + 1``, as `CounterNoise`'s
    ``self(step)``) for samples ``indices`` (int64 [B]): float32 [B, C, H, W], stateless, for a step function
    that is captured or compiled once and replayed at every step."""
    return counter_normal(key, indices, step + 1, math.prod(shape_chw)).reshape(len(indices), *shape_chw)


# Draws computed ahead in one pass (fewer, larger tensor ops: per-op overhead dominates small batches), capped so
# that a block holds at most this many numbers (its int64 Philox words then stay in a core's L2 cache).
_BLOCK_NUMBERS = 1 << 16
_MAX_BLOCK = 16


class CounterNoise:
    """Drop-in for `PerSampleNoise` (same calls, same order checks) that draws on ``device`` with Philox.

    Sample ``indices[b]`` gets x_T from ``initial()`` (draw 0) and the noise of reverse step i from ``self(i)``
    (draw i + 1), each standard normal of shape ``shape_chw``, stacked to [B, C, H, W] in ``dtype``. For small
    batches step noise is computed up to 16 draws ahead in one pass (at most 2^16 numbers); values do not change.
    """

    def __init__(self, seed: int, indices: Sequence[int] | Tensor | np.ndarray, shape_chw: Sequence[int],
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        index_list = [int(i) for i in (indices.tolist() if hasattr(indices, "tolist") else indices)]
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise MemgenError(f"CounterNoise: seed must be a non-negative integer, got {seed!r}")
        if not index_list or min(index_list) < 0 or max(index_list) >= 2**63:
            raise MemgenError(f"CounterNoise: sample indices must be non-empty, in [0, 2^63): {index_list[:5]}")
        self.seed, self.key = int(seed), run_key(seed)
        self.shape_chw = tuple(int(s) for s in shape_chw)
        self.device, self.dtype = torch.device(device), dtype
        self._indices = torch.tensor(index_list, dtype=torch.int64, device=self.device)
        self._next_step: int | None = None  # None until initial() has been drawn
        numel = math.prod(self.shape_chw)
        self._block = max(1, min(_MAX_BLOCK, _BLOCK_NUMBERS // (len(index_list) * numel)))
        self._cache: tuple[int, Tensor] | None = None  # (first draw, [draws, B, numel])

    def _draw(self, draw: int) -> Tensor:
        _check_device(self.device)
        if self._indices.device != self.device:
            self._indices, self._cache = self._indices.to(self.device), None
        first, block = self._cache if self._cache is not None else (-1, None)
        if block is None or not first <= draw < first + len(block):
            count = 1 if draw == 0 else self._block  # x_T alone: a loop may stop after it
            block = counter_normals(self.key, self._indices, draw, count, math.prod(self.shape_chw))
            self._cache, first = (draw, block), draw
        return block[draw - first].reshape(len(self._indices), *self.shape_chw).to(self.dtype)

    def initial(self, shape_chw: Sequence[int] | None = None, device: torch.device | str | None = None) -> Tensor:
        """x_T [B, C, H, W], standard normal. ``shape_chw`` if given must equal the constructed one;
        ``device`` if given becomes the device of this and every later draw."""
        if shape_chw is not None and tuple(int(s) for s in shape_chw) != self.shape_chw:
            raise MemgenError(f"CounterNoise.initial: shape {tuple(shape_chw)} differs from {self.shape_chw}")
        if self._next_step is not None:
            raise MemgenError("CounterNoise.initial: x_T was already drawn; make a new CounterNoise per run")
        if device is not None:
            self.device = torch.device(device)
        self._next_step = 0
        return self._draw(0)

    def __call__(self, i: int) -> Tensor:
        """Noise [B, C, H, W] for reverse step number ``i`` (0, 1, 2, ... in order, after ``initial()``)."""
        if self._next_step is None or i != self._next_step:
            raise MemgenError(
                f"CounterNoise: step noise {i} requested out of order (expected {self._next_step}; initial() first)"
            )
        self._next_step += 1
        return self._draw(i + 1)
