"""Materialize a training set: base images (label 0) plus optional dummy images (label 1), and its JSON card.

The base component of ``(base, n, seed, S)`` is exactly ``get_generator(base)(n, seed, S)``, whatever dummies
are added. The dummy component is drawn with ``dummy_seed(seed)``, a seed derived from ``seed`` through its own
SeedSequence stream, so it is independent of the base even when both are the same kind.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from memgen import io
from memgen.data.synthetic import GENERATORS, check_int, get_generator
from memgen.errors import MemgenError

CARD_FORMAT = 1
NO_DUMMY = "none"
MAX_LISTED_DUPLICATES = 20
_DUMMY_STREAM = 0x64756D6D  # "dumm": spawn key of the dummy seed stream; fixed forever


def dummy_seed(seed: int) -> int:
    """The seed of the dummy component of a training set built with ``seed``: a 63-bit integer derived as
    ``SeedSequence(seed, spawn_key=(0x64756D6D,)).generate_state(1, uint64)[0] >> 1``."""
    state = np.random.SeedSequence(seed, spawn_key=(_DUMMY_STREAM,)).generate_state(1, np.uint64)
    return int(state[0]) >> 1


def exact_duplicates(images: np.ndarray) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, for every image ``j`` that is byte-identical to an earlier image ``i``
    (``i`` its first occurrence), in increasing ``j``. ``images``: any array ``[N, ...]``."""
    flat = np.ascontiguousarray(images).reshape(len(images), -1)
    first: dict[bytes, list[int]] = {}
    pairs: list[tuple[int, int]] = []
    for j, row in enumerate(flat):
        key = hashlib.blake2b(row.tobytes(), digest_size=16).digest()
        candidates = first.setdefault(key, [])
        match = next((i for i in candidates if np.array_equal(flat[i], row)), None)  # guard hash collisions
        if match is None:
            candidates.append(j)
        else:
            pairs.append((match, j))
    return pairs


def build_training_set(
    base: str, n: int, seed: int, image_size: int, dummy: str = NO_DUMMY, dummy_count: int = 0
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Generate a training set in memory.

    Returns ``(images uint8 [N, S, S, 3], labels int64 [N], card)`` with ``N = n + k``: the ``n`` base images
    first (label 0), then the ``k`` dummy images (label 1), where ``k = dummy_count`` if ``dummy != "none"``.
    ``dummy="none"`` with ``dummy_count > 0`` is an error. The card (JSON-serializable) records the inputs,
    counts, class names, the SHA-256 of both arrays (``memgen.io.sha256_array``) and the number of exact
    duplicate images, which the ratio criterion cannot see (with up to 20 ``[earlier, later]`` index pairs).
    """
    generate_base = get_generator(base)
    if dummy != NO_DUMMY and dummy not in GENERATORS:
        valid = ", ".join([NO_DUMMY, *sorted(GENERATORS)])
        raise MemgenError(f"unknown dummy kind {dummy!r}; valid kinds: {valid}")
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    k = check_int("dummy_count", dummy_count, 0)
    if dummy == NO_DUMMY and k > 0:
        raise MemgenError(f"dummy_count is {k} but dummy is {NO_DUMMY!r}; name a dummy kind or set dummy_count 0")

    parts = [generate_base(n, seed, image_size)]
    labels = [np.zeros(n, dtype=np.int64)]
    class_names, counts = {"0": base}, {"0": n}
    if k > 0:
        parts.append(get_generator(dummy)(k, dummy_seed(seed), image_size))
        labels.append(np.ones(k, dtype=np.int64))
        class_names["1"], counts["1"] = dummy, k
    images = np.concatenate(parts) if len(parts) > 1 else parts[0]
    label_array = np.concatenate(labels)

    duplicates = exact_duplicates(images)
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "base": base,
        "n": n,
        "dummy": dummy,
        "dummy_count": k,
        "seed": seed,
        "dummy_seed": dummy_seed(seed) if k > 0 else None,
        "image_size": int(images.shape[1]),
        "num_images": int(images.shape[0]),
        "num_classes": len(class_names),
        "class_names": class_names,
        "counts": counts,
        "sha256": {"images": io.sha256_array(images), "labels": io.sha256_array(label_array)},
        "exact_duplicates": len(duplicates),
    }
    if duplicates:
        card["duplicate_pairs"] = [[i, j] for i, j in duplicates[:MAX_LISTED_DUPLICATES]]
    return images, label_array, card


def write_dataset(
    npz_path: str | Path, card_path: str | Path, images: np.ndarray, labels: np.ndarray, card: dict[str, Any]
) -> None:
    """Atomically write the images/labels ``.npz`` and then its JSON card.

    If the card carries ``sha256`` digests they must match the arrays (a card never describes other data).
    """
    digests = card.get("sha256") or {}
    for key, array in (("images", images), ("labels", labels)):
        if key in digests and digests[key] != io.sha256_array(np.asarray(array)):
            raise MemgenError(f"{card_path}: card sha256.{key} does not match the {key} being written")
    io.save_images_npz(npz_path, images, labels)
    io.write_json(card_path, card)
