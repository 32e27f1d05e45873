"""Claim specs with their kind and the paper's sentence, for a study's ``comparisons`` hook.

A claim is a `memgen.analysis.seeds.Comparison` spec (name, a, b, measure, expected, paired, table) plus ``kind``
(what the claim is about: ``KINDS``) and ``quote`` (the sentence of the paper it tests), both fixed with the claim
before any run. `claim` adds and checks them.

TEMPORARY: `Comparison` takes ``kind`` and ``quote`` only once the verdicts work lands (issue 23.1); until then
`for_comparison` drops them from the specs a hook hands to the comparisons table, and the full specs are what a
study's ``claims`` function returns. Remove `for_comparison` (return the claims as they are) when it does.
"""

from __future__ import annotations

from memgen.errors import MemgenError

# generalization: the claim says a model generalizes (novel, valid, shared between models); replication: it says
# a model copies (more or less); loss gap: a statement about train vs held-out denoising losses.
KINDS = ("generalization", "replication", "loss gap")
PENDING = ("kind", "quote")  # the claim fields `Comparison` does not take yet (module docstring)


def claim(spec: dict, kind: str, quote: str) -> dict:
    """``spec`` with its ``kind`` (one of ``KINDS``) and ``quote`` (the paper's sentence, non-empty)."""
    if kind not in KINDS:
        raise MemgenError(f"claim {spec.get('name')!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(quote, str) or not quote.strip():
        raise MemgenError(f"claim {spec.get('name')!r}: quote must be the paper's sentence")
    return {**spec, "kind": kind, "quote": quote}


def for_comparison(specs: list[dict]) -> list[dict]:
    """The specs as `memgen.analysis.seeds.comparisons_table` takes them today: without ``PENDING`` keys."""
    return [{k: v for k, v in spec.items() if k not in PENDING} for spec in specs]
