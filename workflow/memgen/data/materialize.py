"""Materialize a training set: base images (label 0) plus optional dummy images, and its JSON card.

A base is a procedural kind (``mondrian``, ``gm``, ``random_ink``, ``shapes``), ``cifar:<class>`` (one CIFAR-10
class read from ``cifar_root``, see ``memgen.data.cifar``) or ``folder:<path>`` (a directory of PNG/JPEG
images, ``memgen.data.folder``; a relative path is taken relative to ``folder`` when given). Dummy kinds:

- ``none``; ``gm``, ``random_ink``, ``mondrian``, ``shapes``: procedural images drawn with ``dummy_seed(seed)``,
  label 1.
- ``hybrid``: GM + held-out base hybrids (``memgen.data.hybrid``), label 1: the high band of
  ``gaussian_mixture(k, dummy_seed(seed), S)`` and the low band of the base's ``hybrid_source`` pool.
- ``heldout``: k more real images of the base distribution from the disjoint ``extra`` pool, label 0, since
  they are the same class (the follow-up trained this case unconditionally; with one class a conditional model
  is the unconditional one with a constant label).

Pools of a real base (cifar, folder) are cut from one seeded permutation of its images (``disjoint_pools``):
``base`` first, then ``extra`` or ``hybrid_source``; ``build_heldout_set``'s ``heldout_eval`` from the end. For a
procedural base a pool is a fresh draw: ``base`` is exactly ``generator(n, seed, S)`` whatever dummies are
added, ``extra`` uses ``dummy_seed(seed)``, ``hybrid_source`` and ``heldout_eval`` seeds derived like it from
their own spawn keys, so every component is independent of the others even when they are the same kind. A ``gm``
base's pools keep the base's mixture means (``gm_means(seed)``) and draw only components and noise with the pool's
seed: the same distribution, fresh images.
CIFAR images are resized from 32 to S by centre-crop + PIL bicubic when ``image_size != 32``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from memgen import io
from memgen.data import cifar, folder as folder_data
from memgen.data.hybrid import DEFAULT_CUTOFF, hybrid_dummies, low_band_fraction
from memgen.data.shapes import shapes
from memgen.data.synthetic import GENERATORS, ImageGenerator, gaussian_mixture
from memgen.errors import MemgenError
from memgen.runtime import STREAM, check_int, spawned_seed

CARD_FORMAT = 1
NO_DUMMY = "none"
HYBRID = "hybrid"
HELDOUT = "heldout"
SPLIT = "split:"  # split:<base>, the second side of a disjoint split (build_split_set)
DUMMY_KINDS = (NO_DUMMY, "gm", "random_ink", "mondrian", "shapes", HYBRID, HELDOUT)
MAX_LISTED_DUPLICATES = 20
_POOL_STREAMS = {"extra": STREAM.DUMMY, "hybrid_source": STREAM.HYBRID_SOURCE, cifar.EVAL_POOL: STREAM.HELDOUT}


def synthetic_kinds() -> dict[str, ImageGenerator]:
    """Every procedural kind: the paper's ``GENERATORS`` (looked up at call time) plus the follow-up's shapes."""
    return {**GENERATORS, "shapes": shapes}


def dummy_seed(seed: int) -> int:
    """The seed of the dummy component of a training set built with ``seed``: ``spawned_seed(seed, STREAM.DUMMY)``."""
    return spawned_seed(seed, STREAM.DUMMY)


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


def heldout_seed(seed: int) -> int:
    """The seed of the procedural ``heldout_eval`` images of ``build_heldout_set(..., seed, ...)``."""
    return spawned_seed(seed, STREAM.HELDOUT)


def _parse_base(base: str, cifar_root, folder) -> tuple[str, str]:
    """``(kind, arg)``: ``("synthetic", name)``, ``("cifar", class)`` or ``("folder", resolved path)``."""
    if isinstance(base, str) and base.startswith("cifar:"):
        name = base[len("cifar:"):]
        if name != cifar.ALL:
            cifar.cifar_class_index(name)
        if cifar_root is None:
            raise MemgenError(f"base {base!r} needs data.cifar_root (the directory that contains "
                              f"{cifar.BASE_FOLDER})")
        return "cifar", name
    if isinstance(base, str) and base.startswith("folder:") and len(base) > len("folder:"):
        path = Path(base[len("folder:"):])
        return "folder", str(path if folder is None or path.is_absolute() else Path(folder) / path)
    if isinstance(base, str) and base in synthetic_kinds():
        return "synthetic", base
    valid = ", ".join([*sorted(synthetic_kinds()), "cifar:<class>", "folder:<path>"])
    raise MemgenError(f"unknown dataset kind {base!r}; valid kinds: {valid}")


def _pool_draw(kind: str, k: int, pool_seed: int, base_seed: int, image_size: int) -> np.ndarray:
    """``k`` fresh images of a procedural base's distribution for a pool. A Gaussian mixture's distribution is its
    means, fixed by the base seed: its pools draw components and noise with the pool's seed around the BASE's
    means (drawn with their own seed they would be another mixture, 0% valid under the base's means). The other
    kinds have no parameters beyond the kind, so any seed draws from the same distribution."""
    if kind == "gm":
        return gaussian_mixture(k, pool_seed, image_size, means_seed=base_seed)
    return synthetic_kinds()[kind](k, pool_seed, image_size)


def _pool_card(pools: dict[str, np.ndarray], positions: dict[str, list[int]]) -> dict[str, Any]:
    return {name: {"count": len(idx), "positions": positions[name], "sha256": io.sha256_array(idx)}
            for name, idx in pools.items()}


def _base_pools(base: str, n_base: int, pools: dict[str, int], seed: int, image_size: int, cifar_root, folder,
                cifar_download: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Images of each pool of the base distribution (``"base"`` + ``pools``), and the card's ``source``."""
    kind, arg = _parse_base(base, cifar_root, folder)
    if kind == "synthetic":
        generate = synthetic_kinds()[arg]
        out = {"base": generate(n_base, seed, image_size)} if n_base else {}
        seeds = {name: spawned_seed(seed, _POOL_STREAMS[name]) for name in pools}
        out |= {name: _pool_draw(arg, k, seeds[name], seed, image_size) for name, k in pools.items() if k}
        extra = {"means_seed": seed} if arg == "gm" else {}
        return out, {"kind": "synthetic", "generator": arg, "pool_seeds": seeds, **extra}
    if kind == "cifar" and arg == cifar.ALL:  # the paper's "randomly sampled CIFAR-10 images": the 50k train split
        images, labels, split = cifar.load_cifar10(cifar_root, download=cifar_download)
        members = np.flatnonzero(split == 0).astype(np.int64)
        idx, positions = cifar.disjoint_pools(members, n_base, pools, seed, (STREAM.CIFAR_ALL,), "cifar:all",
                                              "the CIFAR-10 training split")
        source = {"kind": "cifar10", "root": str(cifar_root), "class": "all (training split)",
                  "class_size": len(members), "pools": _pool_card(idx, positions)}
        return {name: folder_data.resize_images(images[i], image_size) for name, i in idx.items() if len(i)}, source
    if kind == "cifar":
        images, labels, _ = cifar.load_cifar10(cifar_root, download=cifar_download)
        idx, positions = cifar.cifar_class_pools_with_positions(images, labels, arg, n_base, pools, seed)
        source = {"kind": "cifar10", "root": str(cifar_root), "class": arg,
                  "class_index": cifar.cifar_class_index(arg),
                  "class_size": int((labels == cifar.cifar_class_index(arg)).sum()),
                  "index_order": "train then test", "pools": _pool_card(idx, positions)}
        if image_size != 32:
            source["resample"] = f"centre-crop + PIL bicubic 32->{image_size}"
        return {name: folder_data.resize_images(images[i], image_size) for name, i in idx.items() if len(i)}, source
    images = folder_data.load_image_folder(arg, image_size)
    idx, positions = cifar.disjoint_pools(np.arange(len(images)), n_base, pools, seed, (STREAM.FOLDER_POOLS,),
                                          f"folder:{arg}", "the folder")
    source = {"kind": "folder", "path": arg, "num_images": len(images), "all_images_sha256": io.sha256_array(images),
              "resample": f"centre-crop + PIL bicubic to {image_size}", "pools": _pool_card(idx, positions)}
    return {name: images[i] for name, i in idx.items() if len(i)}, source


def _card(images: np.ndarray, labels: np.ndarray, **fields: Any) -> dict[str, Any]:
    duplicates = exact_duplicates(images)
    card: dict[str, Any] = {"format": CARD_FORMAT, **fields,
                            "image_size": int(images.shape[1]), "num_images": int(images.shape[0]),
                            "sha256": {"images": io.sha256_array(images), "labels": io.sha256_array(labels)},
                            "exact_duplicates": len(duplicates)}
    if duplicates:
        card["duplicate_pairs"] = [[i, j] for i, j in duplicates[:MAX_LISTED_DUPLICATES]]
    return card


def build_training_set(
    base: str, n: int, seed: int, image_size: int, dummy: str = NO_DUMMY, ndummy: int = 0, *,
    cifar_root: str | os.PathLike | None = None, folder: str | os.PathLike | None = None,
    cifar_download: bool = False,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Build a training set in memory (kinds and pools in the module docstring).

    Returns ``(images uint8 [N, S, S, 3], labels int64 [N], card)`` with ``N = n + ndummy``: the ``n`` base images
    first (label 0), then the ``ndummy`` dummy images (label 1; ``heldout``: 0), when
    ``dummy != "none"``. ``dummy="none"`` with ``ndummy > 0`` is an error. The card (JSON-serializable)
    records the inputs, counts, class names, the sources (CIFAR root, class, each pool's positions in the
    permutation and the SHA-256 of its indices; hybrid cutoff), the SHA-256 of both arrays
    (``memgen.io.sha256_array``), ``base_sha256``, that of the ``n`` base images alone (two sets of one seed with
    other dummies share it: `memgen.analysis.pairing` checks paired claims on it) and the number of exact duplicate images, which the ratio criterion cannot see
    (with up to 20 ``[earlier, later]`` index pairs).
    """
    if not isinstance(dummy, str) or dummy not in DUMMY_KINDS:
        raise MemgenError(f"unknown dummy kind {dummy!r}; valid kinds: {', '.join(DUMMY_KINDS)}")
    if isinstance(base, str) and base.startswith(SPLIT):
        return build_split_set(base[len(SPLIT):], n, seed, image_size, dummy, ndummy, cifar_root=cifar_root,
                               folder=folder, cifar_download=cifar_download)
    _parse_base(base, cifar_root, folder)
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    k = check_int("ndummy", ndummy, 0)
    if dummy == NO_DUMMY and k > 0:
        raise MemgenError(f"ndummy is {k} but dummy is {NO_DUMMY!r}; name a dummy kind or set ndummy 0")
    image_size = check_int("image_size", image_size, 4)

    pool = {HELDOUT: "extra", HYBRID: "hybrid_source"}.get(dummy) if k else None
    parts, source = _base_pools(base, n, {pool: k} if pool else {}, seed, image_size, cifar_root, folder,
                                cifar_download)
    images, labels = [parts["base"]], [np.zeros(n, dtype=np.int64)]
    class_names, counts = {"0": base}, {"0": n}
    extra: dict[str, Any] = {}
    uses_dummy_seed = k > 0 and (dummy != HELDOUT or source["kind"] == "synthetic")
    if k and dummy == HELDOUT:
        images.append(parts["extra"])
        labels.append(np.zeros(k, dtype=np.int64))
        counts["0"] = n + k
    elif k:
        if dummy == HYBRID:
            images.append(hybrid_dummies(k, dummy_seed(seed), image_size, parts["hybrid_source"]))
            extra["hybrid"] = {"cutoff": DEFAULT_CUTOFF, "cutoff_units": "Nyquist", "high_source": "gm",
                               "low_source": "hybrid_source",
                               "low_band_fraction": low_band_fraction(image_size, DEFAULT_CUTOFF)}
        else:
            images.append(synthetic_kinds()[dummy](k, dummy_seed(seed), image_size))
        labels.append(np.ones(k, dtype=np.int64))
        class_names["1"], counts["1"] = dummy, k
    image_array = np.concatenate(images) if len(images) > 1 else images[0]
    label_array = np.concatenate(labels)
    card = _card(image_array, label_array, base=base, n=n, dummy=dummy, ndummy=k, seed=seed,
                 base_sha256=io.sha256_array(parts["base"]),
                 dummy_seed=dummy_seed(seed) if uses_dummy_seed else None, num_classes=len(class_names),
                 class_names=class_names, counts=counts, source=source, **extra)
    return image_array, label_array, card


def split_dummy_seed(seed: int) -> int:
    """The seed of the dummy component of a split's second side: disjoint from side A's (`dummy_seed`)."""
    return spawned_seed(seed, STREAM.SPLIT_DUMMY)


def build_split_set(base: str, n: int, seed: int, image_size: int, dummy: str = NO_DUMMY, ndummy: int = 0,
                    **sources) -> tuple[np.ndarray, np.ndarray, dict]:
    """The second side of a disjoint split (``split:<base>``): ``n`` images of ``base`` disjoint from its training
    set of ``n`` images and the same ``seed`` (label 0) and, when asked, ``ndummy`` procedural dummies of another
    draw than side A's (`split_dummy_seed`, label 1). Procedural bases: a fresh draw from the ``extra`` stream;
    CIFAR and folders: permutation slots ``[n, 2n)``. The card says ``split: b``, which gives the model trained on
    it training randomness of its own (`memgen.train`), and ``base_seed``: for a ``gm`` base the seed of the
    mixture's means (side A's seed: both sides draw from one mixture), else the seed of the pool's draw."""
    _parse_base(base, sources.get("cifar_root"), sources.get("folder"))
    n, seed = check_int("n", n, 1), check_int("seed", seed, 0)
    k = check_int("ndummy", ndummy, 0)
    if k and dummy not in synthetic_kinds():
        raise MemgenError(f"base {SPLIT + base!r}: a split's second side takes procedural dummies only "
                          f"({', '.join(sorted(synthetic_kinds()))}), not {dummy!r}")
    if dummy == NO_DUMMY and k:
        raise MemgenError(f"ndummy is {k} but dummy is {NO_DUMMY!r}; name a dummy kind or set ndummy 0")
    parts, source = _base_pools(base, n, {"extra": n}, seed, check_int("image_size", image_size, 4),
                                sources.get("cifar_root"), sources.get("folder"), sources.get("cifar_download", False))
    images, labels = parts["extra"], np.zeros(n, dtype=np.int64)
    class_names, counts = {"0": base}, {"0": n}
    if k:
        images = np.concatenate([images, synthetic_kinds()[dummy](k, split_dummy_seed(seed), image_size)])
        labels = np.concatenate([labels, np.ones(k, dtype=np.int64)])
        class_names["1"], counts["1"] = dummy, k
    base_seed = source.get("means_seed", source.get("pool_seeds", {}).get("extra"))  # gm: the base's means
    extra = {"dummy_seed": split_dummy_seed(seed)} if k else {}
    return images, labels, _card(images, labels, base=SPLIT + base, n=n, dummy=dummy if k else NO_DUMMY, ndummy=k,
                                 seed=seed, base_sha256=io.sha256_array(parts["extra"]), **extra, split="b", base_seed=base_seed, num_classes=len(class_names),
                                 class_names=class_names, counts=counts, source=source)


def build_heldout_set(
    base: str, n: int, seed: int, image_size: int, cifar_root: str | os.PathLike | None = None, *,
    folder: str | os.PathLike | None = None, cifar_download: bool = False,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``n`` images of the base distribution that no training set of the same ``seed`` contains, for the
    train/validation loss gap: ``(images uint8 [n, S, S, 3], labels int64 [n] all 0, card)``.

    Procedural bases: a fresh draw with ``heldout_seed(seed)``. CIFAR and folder bases: the ``heldout_eval`` pool,
    cut from the END of the seed's permutation, so it is disjoint from a training set of ``n_train`` base +
    ``k`` extra/hybrid-source images whenever ``n_train + k + n`` fits in the class (the card's ``positions``
    say which permutation slots each side used; the follow-up's 2000 + 4000 cars use all 6000, leaving none).
    """
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    image_size = check_int("image_size", image_size, 4)
    base = base[len(SPLIT):] if base.startswith(SPLIT) else base  # both sides of a split share their held-out set
    parts, source = _base_pools(base, 0, {cifar.EVAL_POOL: n}, seed, image_size, cifar_root, folder,
                                cifar_download)
    images, labels = parts[cifar.EVAL_POOL], np.zeros(n, dtype=np.int64)
    return images, labels, _card(images, labels, base=base, n=n, seed=seed, pool=cifar.EVAL_POOL,
                                 num_classes=1, class_names={"0": base}, counts={"0": n}, source=source)


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
