"""Whether two cells of a paired claim share each seed's base images, read from the training-set cards.

A paired test (`memgen.analysis.claims.Comparison.paired`) cancels what two cells of one seed have in common; it is
valid only when they do share it: the same base images (a cell and its + dummies twin, two widths on one set, the
classes of one model). Every training set's card (`memgen.data.materialize`, ``results/data/{dataset}/n{size}-
{dummy}{ndummy}-s{seed}/card.json``) carries ``base_sha256``, the digest of its base images (the first ``n``), so a
row of a table with the columns of ``CARD_KEYS`` finds its set's digest, and two cells pair at a seed only when
their digests are equal. `identity` names the models and samples a side of a claim read, so that a tally of
claims across studies counts the claims that test the same samples once. Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from memgen.exposure import dataset_token

BASE_DIGEST = "base_sha256"  # per row: the SHA-256 of its training set's base images, from the set's card
CARD_KEYS = ("dataset", "size", "dummy", "ndummy", "seed")  # the columns that name a row's training set


def base_digests(cards) -> dict[tuple, str | None]:
    """Training set (``CARD_KEYS`` values) -> the SHA-256 of its base images, from its card (`memgen.data`):
    ``base_sha256``, or for a set without a second component (all base) the digest of all its images; None for an
    older card of a set with dummies, which says nothing about its base images alone."""
    out = {}
    for card in cards:
        key = (dataset_token(str(card["base"])), int(card["n"]), str(card.get("dummy", "none")),
               int(card.get("ndummy") or 0), int(card["seed"]))
        whole = (card.get("sha256") or {}).get("images") if not card.get("ndummy") else None
        out[key] = card.get(BASE_DIGEST) or whole
    return out


def with_base_digests(table: pd.DataFrame, digests: Mapping) -> pd.DataFrame:
    """The table with ``base_sha256`` per row from its training set (None where no card matches); unchanged when
    it lacks a column of ``CARD_KEYS``."""
    if not all(k in table.columns for k in CARD_KEYS):
        return table
    return table.assign(**{BASE_DIGEST: [digests.get(_key(values)) for values in
                                         zip(*(table[k].tolist() for k in CARD_KEYS))]})


def _key(values: tuple) -> tuple | None:
    """A row's training-set key, typed as `base_digests` keys it (None when a value is missing)."""
    try:
        dataset, size, dummy, ndummy, seed = values
        return str(dataset), int(size), str(dummy), int(ndummy), int(seed)
    except (TypeError, ValueError):
        return None


def paired_rows(rows_a: pd.DataFrame, rows_b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, bool, str]:
    """Both sides cut to their common seeds for a paired test, once the cards say that each common seed's two
    training sets hold the same base images; else the rows as they are, Welch (paired False), and why."""
    common = np.intersect1d(rows_a["seed"], rows_b["seed"])
    if len(common) < 2:
        return rows_a, rows_b, False, f"paired asked, {len(common)} common seed(s): Welch"
    a, b = rows_a[rows_a["seed"].isin(common)], rows_b[rows_b["seed"].isin(common)]
    if BASE_DIGEST in a.columns and BASE_DIGEST in b.columns:
        da, db = (r.set_index("seed")[BASE_DIGEST] for r in (a, b))
        for seed in common:
            if pd.isna(da[seed]) or pd.isna(db[seed]):
                return rows_a, rows_b, False, f"paired asked, seed {seed}: no training-set card to check: Welch"
            if da[seed] != db[seed]:
                return rows_a, rows_b, False, f"paired asked, seed {seed}: base images differ (cards): Welch"
        note = ""
    else:
        note = "paired as declared (no training-set cards to check)"
    if len(common) < max(len(rows_a), len(rows_b)):
        note = "; ".join(filter(None, [note, f"paired on the {len(common)} common seeds"]))
    return a, b, True, note


IDENTITY = ("dataset", "width", "size", "dummy", "ndummy", "steps", "step", "batch_size", "conditional", "label",
            "n_samples", "weights")  # weights: the EMA's samples or the raw weights' (dynamics), two sets


def identity(rows: pd.DataFrame) -> str:
    """The models and samples a side's test read: each column of ``IDENTITY`` that has one value across the rows,
    and the seeds (``dataset=mondrian, width=16, ..., seeds=0,1,2``). Two claims of two studies with equal
    identities on both sides test the same samples (a tally counts them once)."""
    fixed = [f"{k}={rows[k].iloc[0]}" for k in IDENTITY if k in rows.columns and rows[k].nunique(dropna=False) == 1]
    return ", ".join([*fixed, "seeds=" + ",".join(str(s) for s in rows["seed"])])
