"""The dynamics study's tables (`memgen.studies.catalog.dynamics`), built from its snapshot table: onsets per run and
across seeds, the stopping points and Bonnaire et al.'s claims (the functions: `memgen.analysis.dynamics`,
`memgen.analysis.exponent`), with their Markdown. Pure functions, no file I/O.

The snapshot table: one row per (run, snapshot step, weights) with the outcome fractions of the base class (label
0), the EMA weights' rows from the study's replicates table and the raw weights' from their own summaries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen.analysis.dynamics import (ONSETS, RUN_COLUMNS, cell_keys, onset_across_seeds, onset_times,
                                      stopping_points)
from memgen.analysis.exponent import exponent_claims, fit_exponent
from memgen.analysis.tables import aggregate_summaries
from memgen.errors import MemgenError

SNAPSHOT_COLUMNS = ["steps", "n_samples", "replicate_fraction", "ci_low", "ci_high", "frac_novel_valid",
                    "frac_novel", "frac_invalid", "frac_partial_copy"]


def snapshot_table(ema: pd.DataFrame, raw: list[pd.DataFrame]) -> pd.DataFrame:
    """The EMA rows (the replicates table) and the raw rows (each snapshot's summary of its raw weights), label 0,
    sorted by run and step."""
    both = pd.concat([ema, aggregate_summaries(raw, source="raw summaries")], ignore_index=True)
    if "weights" not in both.columns or both["weights"].isna().any():
        raise MemgenError("snapshot table: every row needs its weights (ema or raw) column")
    if "label" in both.columns:
        both = both[both["label"] == 0]
    keys = [c for c in RUN_COLUMNS if c in both.columns]
    cols = keys + [c for c in SNAPSHOT_COLUMNS if c in both.columns]
    return both[cols].sort_values(keys + ["steps"], kind="stable").reset_index(drop=True)


def onset_table(table: pd.DataFrame, gen_level: float, mem_level: float) -> pd.DataFrame:
    """Per run (width, size, seed, weights): tau_gen, tau_novel and tau_mem with their bracketing snapshots and
    censoring (`memgen.analysis.dynamics.onset_times`)."""
    return onset_times(table, gen_level, mem_level)


def onset_seeds_table(table: pd.DataFrame, gen_level: float, mem_level: float,
                      confidence: float = 0.95) -> pd.DataFrame:
    """Per cell (width, size, weights): each onset's geometric mean over seeds with its t-interval on log steps,
    the censored median and the censoring counts (`memgen.analysis.dynamics.onset_across_seeds`)."""
    return onset_across_seeds(onset_times(table, gen_level, mem_level), confidence)


def stopping_table(table: pd.DataFrame, level: float, confidence: float = 0.95) -> pd.DataFrame:
    """Per cell: stop before step X (`memgen.analysis.dynamics.stopping_points`)."""
    return stopping_points(table, level, confidence)


def exponent_table(table: pd.DataFrame, gen_level: float, mem_level: float, equivalence_margin: float,
                   quote: str, confidence: float = 0.95, max_invalid: float = 0.25) -> pd.DataFrame:
    """Bonnaire et al.'s two exponents per width and weights with their seed intervals, whether tau_mem's holds
    the paper's beta = 1, and the censored runs (`memgen.analysis.exponent.exponent_claims`); ``sizes``: the
    sizes fitted; ``untrained``: those whose runs draw more than ``max_invalid`` invalid samples at the step
    budget, which make the verdict ``untestable at this budget`` as in the comparisons table, on
    `per_seed_exponents`, whose verdicts the study reports."""
    rows = exponent_claims(onset_times(table, gen_level, mem_level), equivalence_margin, confidence, quote)
    rows.insert(2, "sizes", rows.apply(lambda r: _sizes(table, r), axis=1))
    final = final_invalid(table)
    guard = [_untrained(final, {c: r[c] for c in ("width", "weights") if c in rows.columns}, max_invalid)
             for _, r in rows.iterrows()]
    rows["untrained"] = [u for _, u in guard]
    rows["verdict"] = [f"untestable at this budget (sizes {u} at the step budget, the worst: {100 * w:.1f}% "
                       f"invalid)" if u else v for (w, u), v in zip(guard, rows["verdict"])]
    return rows


def final_invalid(table: pd.DataFrame) -> pd.DataFrame:
    """Per width, weights and size: the seed mean of the invalid fraction at the run's last snapshot (its step
    budget), ``frac_invalid`` (NaN for a kind without a validity rule)."""
    keys = [c for c in ("width", "weights", "size") if c in table.columns]
    if "frac_invalid" not in table.columns:
        return table[keys].drop_duplicates().assign(frac_invalid=np.nan)
    last = table[table["steps"] == table.groupby(keys)["steps"].transform("max")]
    return last.groupby(keys, as_index=False)["frac_invalid"].mean()


def _untrained(final: pd.DataFrame, pinned: dict, max_invalid: float) -> tuple[float, str]:
    """The worst size's invalid fraction at the budget and the sizes above ``max_invalid`` ("64, 256")."""
    sub = final
    for k, v in pinned.items():
        sub = sub[sub[k] == v] if k in sub.columns else sub
    if sub["frac_invalid"].isna().all():
        return float("nan"), ""
    over = sub[sub["frac_invalid"] > max_invalid].sort_values("size")
    return float(sub["frac_invalid"].max()), ", ".join(str(int(n)) for n in over["size"])


def per_seed_exponents(table: pd.DataFrame, gen_level: float, mem_level: float,
                       max_invalid: float = 0.25) -> pd.DataFrame:
    """One row per width, weights, onset (tau_mem, tau_gen) and seed: ``beta``, that seed's slope of log tau on
    log N from the censored fit (`memgen.analysis.exponent.fit_exponent`; a seed it leaves out has no row), the
    table the study's claims are tested on across seeds (a one-sample test of the slopes, as ``exponent`` reads
    them). The trained guard of the verdicts (`memgen.analysis.verdicts.compose`): ``frac_invalid``, the worst
    fitted size's seed-mean invalid fraction at the step budget, and ``untrained``, the sizes above
    ``max_invalid`` (schema ``verdicts.max_invalid``): a run that never learned to draw has not "not copied yet",
    so a slope resting on it is untestable at this budget."""
    onsets = onset_times(table, gen_level, mem_level)
    keys = [c for c in ("width", "weights") if c in onsets.columns]
    final = final_invalid(table)
    rows = []
    for key, sub in onsets.groupby(keys, sort=True):
        pinned = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        worst, untrained = _untrained(final, pinned, max_invalid)
        for onset in ("tau_mem", "tau_gen"):
            fit = fit_exponent(sub, onset)
            rows += [pinned | {"onset": onset, "seed": s, "beta": b, "n_censored": fit["n_censored"],
                               "n_runs": fit["n_runs"], "note": fit["note"], "frac_invalid": worst,
                               "untrained": untrained}
                     for s, b in zip(fit["seeds_used"], fit["per_seed"])]
    return pd.DataFrame(rows, columns=[*keys, "onset", "seed", "beta", "n_censored", "n_runs", "note",
                                       "frac_invalid", "untrained"])


def _sizes(table: pd.DataFrame, row) -> str:
    sub = table
    for c in ("width", "weights"):
        if c in table.columns:
            sub = sub[sub[c] == row[c]]
    return "/".join(str(s) for s in sorted(sub["size"].unique()))


def _steps(value) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.0f}"


def onset_markdown(table: pd.DataFrame) -> str:
    """One line per run: each onset as ``estimate [lo, hi]`` or its censoring."""
    keys = [c for c in RUN_COLUMNS if c in table.columns and c not in ("study", "dataset")]
    lines = ["| " + " | ".join(keys + list(ONSETS)) + " |", "|" + "---|" * (len(keys) + len(ONSETS))]
    for _, r in table.iterrows():
        onsets = []
        for o in ONSETS:
            cens = r[f"{o}_censoring"]
            onsets.append({"interval": f"{_steps(r[o])} [{_steps(r[f'{o}_lo'])}, {_steps(r[f'{o}_hi'])}]",
                           "left": f"<= {_steps(r[f'{o}_hi'])} (left-censored)",
                           "right": f"> {_steps(r[f'{o}_lo'])} (not reached)"}.get(cens, "undefined"))
        lines.append("| " + " | ".join([str(r[c]) for c in keys] + onsets) + " |")
    levels = table.iloc[0] if len(table) else {}
    note = (f"\ntau_gen: valid fraction >= {levels['gen_level']:g}; tau_novel: novel-and-valid fraction >= "
            f"{levels['gen_level']:g}; tau_mem: replicate fraction >= {levels['mem_level']:g} (training steps, "
            "interpolated on log steps between the bracketing snapshots)\n") if len(table) else ""
    return "\n".join(lines) + "\n" + note


def onset_seeds_markdown(table: pd.DataFrame) -> str:
    """One line per cell: each onset's geometric mean [95% seed interval], else its censored median."""
    keys = [c for c in cell_keys(table) if c not in ("study", "dataset")]
    lines = ["| " + " | ".join(keys + ["seeds"] + list(ONSETS)) + " |", "|" + "---|" * (len(keys) + 1 + len(ONSETS))]
    for _, r in table.iterrows():
        cells = []
        for o in ONSETS:
            if np.isfinite(r[f"{o}_mean"]):
                cells.append(f"{_steps(r[f'{o}_mean'])} [{_steps(r[f'{o}_ci_low'])}, {_steps(r[f'{o}_ci_high'])}]")
            else:
                cells.append(f"median {_steps(r[f'{o}_median'])} ({r[f'{o}_censored'] or 'censored'})")
        lines.append("| " + " | ".join([str(r[c]) for c in keys] + [str(r["n_seeds"])] + cells) + " |")
    return "\n".join(lines) + "\n"


def stopping_markdown(table: pd.DataFrame) -> str:
    """One line per cell: stop before step X, the first step where a seed copies, and the replicate bound."""
    keys = [c for c in cell_keys(table) if c not in ("study", "dataset")]
    head = keys + ["replicates below", "stop before step", "a seed reached it at", "replicates at stop (upper 95%)",
                   "interpolated passage [95%]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        passage = (f"{_steps(r['tau_stop_mean'])} [{_steps(r['tau_stop_ci_low'])}, {_steps(r['tau_stop_ci_high'])}]"
                   if np.isfinite(r["tau_stop_mean"]) else f"censored ({r['tau_stop_censored']})")
        upper = "-" if not np.isfinite(r["replicates_upper"]) else f"{100 * r['replicates_upper']:.1f}%"
        lines.append("| " + " | ".join([str(r[c]) for c in keys] + [
            f"{100 * r['level']:g}%", _steps(r["stop_before"]) if np.isfinite(r["stop_before"]) else "first snapshot",
            _steps(r["first_unsafe"]) if np.isfinite(r["first_unsafe"]) else "never (budget safe)", upper,
            passage]) + " |")
    return "\n".join(lines) + "\n"


def exponent_markdown(table: pd.DataFrame) -> str:
    """One line per claim: beta [95% seed interval] (and the 90% one of the equivalence test), its reading, and
    below the table each quoted sentence once."""
    head = ["claim", "width", "weights", "sizes", "beta", "95% interval", "90% interval", "contains 1", "seeds",
            "censored runs",
            "verdict", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        ci90 = f"[{r['ci90_low']:.2f}, {r['ci90_high']:.2f}] (margin +-{r['margin']:g})" \
            if pd.notna(r.get("margin")) and np.isfinite(r["ci90_low"]) else "-"
        lines.append("| " + " | ".join([
            r["name"], str(r.get("width", "")), str(r.get("weights", "")), r["sizes"],
            f"{r['beta']:.2f}" if np.isfinite(r["beta"]) else "-",
            f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]" if np.isfinite(r["ci_low"]) else "-", ci90,
            "-" if pd.isna(r["contains_1"]) else ("yes" if r["contains_1"] else "no"), str(r["n_seeds"]),
            f"{r['n_censored']}/{r['n_runs']}", r["verdict"], r["note"] or ""]) + " |")
    quotes = "\n".join(f"> {q}" for q in dict.fromkeys(table["quote"])) if len(table) else ""
    return "\n".join(lines) + "\n\n" + quotes + "\n"
