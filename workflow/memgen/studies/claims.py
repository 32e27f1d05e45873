"""Claim specs with their kind and the paper's sentence, for a study's ``comparisons`` hook.

A claim is a `memgen.analysis.claims.Comparison` spec (name, a, b, measure, expected, paired, table) plus ``claim``
(its kind, `memgen.analysis.verdicts.CLAIM_KINDS`: which parts decide it) and ``quote`` (the sentence of the paper
it tests), both fixed with the claim before any run. `claim` adds them.
"""

from __future__ import annotations

from memgen.errors import MemgenError


def claim(spec: dict, kind: str, quote: str) -> dict:
    """``spec`` with its kind and ``quote`` (the paper's sentence, non-empty). The kind is checked where the spec
    becomes a `memgen.analysis.claims.Comparison` (this package does not import the analysis package, which imports
    it)."""
    if not isinstance(quote, str) or not quote.strip():
        raise MemgenError(f"claim {spec.get('name')!r}: quote must be the paper's sentence")
    return {**spec, "claim": kind, "quote": quote}
