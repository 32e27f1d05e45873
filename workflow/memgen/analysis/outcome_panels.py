"""Drawing the outcome figures: one panel per outcome (replicate, partial copy, novel and valid, invalid, and any
further measure) over one x axis, each cell's seed mean with its interval and every seed's own point, the claims
of the comparisons table marked on the difference they judge, and a key of those claims.

"Fewer copies" and "more failed samples" are two panels side by side on one scale, so they cannot look alike.
Each interval says what it is (`memgen.analysis.figure_tables.INTERVAL_SEEDS` or ``INTERVAL_WILSON``). Built
without pyplot on a Figure or SubFigure handed in; the tables come from `memgen.analysis.figure_tables`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from memgen.analysis.figure_tables import INTERVAL_WILSON, parse_filters, value_column
from memgen.analysis.galleries import OUTCOME_COLORS
from memgen.analysis.plotting import log_size_axis

VERDICT_STYLE = {"supported": ("\u2713", "#1b7837"), "reversed": ("\u2717", "#b2182b"),
                 "unresolved": ("?", "#6e6e6e"), "untestable": ("\u2298", "#6a3d9a"), "not run": ("\u2013", "#b0b0b0")}
OUTCOME_TITLES = {"replicate": "replicates", "partial_copy": "partial copies", "novel_valid": "novel and valid",
                  "invalid": "invalid (failed samples)"}
NOVEL_LABEL = "novel (kind without a validity rule)"
SEED_SPREAD = 0.06  # categorical axes: seeds' points spread this far apart (in category widths)


@dataclass(frozen=True)
class Panel:
    """One panel: ``measure`` an outcome of `memgen.analysis.seeds.OUTCOMES` or a measure column; its title."""

    measure: str
    title: str
    ylabel: str = ""

    @property
    def color(self) -> str:
        return OUTCOME_COLORS.get(self.measure, "0.15")


@dataclass(frozen=True)
class Axis:
    """The x axis: numeric on a log scale (``log``; ticks at the cells' x) or categories at 0, 1, ... (``ticks``:
    (position, label) pairs); ``dodge``: offset per series on a categorical axis."""

    label: str
    log: bool = False
    ticks: tuple = ()
    dodge: float = 0.0


def outcome_panels(outcomes: tuple[str, ...] = ("replicate", "partial_copy", "novel_valid", "invalid")) -> list:
    """The four outcome panels, titled (a), (b), ...; ``novel`` shares the novel-and-valid panel."""
    return [Panel(o, f"({'abcdefgh'[i]}) {OUTCOME_TITLES[o]}") for i, o in enumerate(outcomes)]


def _x(cells: pd.DataFrame, axis: Axis) -> np.ndarray:
    """Each cell's drawn x: its ``x``, moved by ``axis.dodge`` per series among the series drawn at that x."""
    x = cells["x"].to_numpy(dtype=float)
    if axis.log or not axis.dodge:
        return x
    order = list(dict.fromkeys(cells["series"]))
    out = x.copy()
    for value in np.unique(x):
        here = x == value
        present = [s for s in order if s in set(cells["series"][here])]
        rank = {s: i - (len(present) - 1) / 2 for i, s in enumerate(present)}
        out[here] += np.array([rank[s] for s in cells["series"][here]]) * axis.dodge
    return out


def _jitter(x: np.ndarray, k: int, n: int, axis: Axis) -> np.ndarray:
    offset = k - (n - 1) / 2
    return x * np.exp(0.05 * offset) if axis.log else x + SEED_SPREAD * offset


def draw_series(ax, cells, seeds, measure, axis, color, x, hollow: bool) -> None:
    """One series on one panel: band or Wilson bar, mean line/tick, each seed's point."""
    col = f"mean_{measure}"
    ok = cells[col].notna().to_numpy()
    if not ok.any():
        return
    c, xs = cells[ok], x[ok]
    lo, hi, mean = (100 * c[f"{s}_{measure}"].to_numpy(dtype=float) for s in ("ci_low", "ci_high", "mean"))
    wilson = (c["interval"] == INTERVAL_WILSON).to_numpy()
    face = "white" if hollow else color
    if axis.log:
        order = np.argsort(xs)
        band = ~wilson[order]
        if band.any():
            ax.fill_between(xs[order][band], lo[order][band], hi[order][band], color=color, alpha=0.16, lw=0)
        ax.plot(xs[order], mean[order], color=color, lw=2, ls="--" if hollow else "-", zorder=3)
    else:
        for xi, l, h, w in zip(xs, lo, hi, wilson):
            if not w and np.isfinite(l):
                ax.bar(xi, h - l, bottom=l, width=0.22, color=color, alpha=0.22, lw=0, zorder=2)
        ax.hlines(mean, xs - 0.13, xs + 0.13, color=color, lw=2.5, zorder=3)
    if wilson.any():
        err = np.clip(np.vstack([mean - lo, hi - mean])[:, wilson], 0, None)
        ax.errorbar(xs[wilson], mean[wilson], yerr=err, fmt="none", ecolor=color, capsize=3, lw=1.2, zorder=3)
    for (_, cell), xi in zip(c.iterrows(), xs):
        pts = seeds[seeds["_cell"] == cell["_cell"]].sort_values("seed")
        values = 100 * pts[value_column(measure)].to_numpy(dtype=float)
        xj = _jitter(np.full(len(values), xi), np.arange(len(values)), len(values), axis)
        ax.scatter(xj, values, s=22, facecolor=face, edgecolor=color, lw=1.1, alpha=0.85, zorder=4)


def draw_panels(container, cells: pd.DataFrame, seeds: pd.DataFrame, panels: list, axis: Axis, palette: dict,
                marks=(), threshold: float | None = None) -> dict:
    """Draw ``panels`` side by side on ``container`` (a Figure or SubFigure); return {panel measure: axes} (the
    novel-and-valid panel also answers to ``novel``).

    cells: the ``cell`` rows of `memgen.analysis.figure_tables.cell_outcomes` with ``x`` and ``series``; seeds: the
    replicates rows with ``_cell`` (the cell's row position in ``cells``) and ``seed``; palette: {series: colour};
    marks: the placed claims of `figure_tables.claim_marks`; threshold: a dashed line on the replicate panel (%)."""
    cells = cells.reset_index(drop=True).assign(_cell=lambda d: np.arange(len(d)))
    order = list(dict.fromkeys(cells["series"]))
    x = _x(cells, axis)
    axes = container.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    by_measure = {}
    for ax, panel in zip(axes, panels):
        by_measure[panel.measure] = ax
        measures = [panel.measure] + (["novel"] if panel.measure == "novel_valid" else [])
        for m in measures:
            by_measure.setdefault(m, ax)
            for s in order:
                pick = (cells["series"] == s).to_numpy()
                draw_series(ax, cells[pick], seeds, m, axis, palette[s], x[pick], hollow=m == "novel")
        present = [m for m in measures if f"mean_{m}" in cells and cells[f"mean_{m}"].notna().any()]
        if not present:
            ax.text(0.5, 0.5, "not measured for this kind", transform=ax.transAxes, ha="center", color="0.4")
        if present == ["novel"]:  # no kind here has a validity rule
            panel = Panel(panel.measure, panel.title.replace(OUTCOME_TITLES["novel_valid"], NOVEL_LABEL))
        _style_axis(ax, panel, axis, cells["x"])
    if threshold is not None and "replicate" in by_measure:
        by_measure["replicate"].axhline(threshold, color="0.3", ls="--", lw=1.1, zorder=1)
    axes[0].set_ylabel("share of the cell's samples (%)")
    container.supxlabel(axis.label, fontsize=10)  # once for the row of panels
    for ax, panel in zip(axes, panels):
        ax.set_xlabel("")
        if panel.measure not in OUTCOME_TITLES:  # a measure of something other than the samples
            ax.set_ylabel(panel.ylabel, fontsize=8)
            ax.yaxis.set_tick_params(labelleft=True)
    _draw_marks(by_measure, cells, x, marks, axis)
    return by_measure


def _style_axis(ax, panel: Panel, axis: Axis, xs) -> None:
    ax.set_ylim(-4, 106)
    ax.set_title(panel.title, fontsize=9.5, color=panel.color if panel.color != "0.45" else "0.25", loc="left")
    ax.spines["right"].set_visible(False)
    ax.spines["top"].set_color(panel.color)  # the outcome's colour, as the frames of the strips below
    ax.spines["top"].set_linewidth(3)
    if axis.log:
        log_size_axis(ax, xs, axis.label)
        lo, hi = ax.get_xlim()
        ax.set_xlim(lo / 1.25, hi * 1.25)
    else:
        pos = [p for p, _ in axis.ticks]
        ax.set_xticks(pos, [t for _, t in axis.ticks], fontsize=7.5)
        ax.set_xlim(min(pos) - 0.6, max(pos) + 0.6)
        ax.grid(axis="x", visible=False)


def _draw_marks(by_measure: dict, cells: pd.DataFrame, x: np.ndarray, marks, axis: Axis) -> None:
    """Each claim: a dotted connector from cell a's mean to cell b's (or to the constant), and at its middle a box
    with the verdict's glyph and the claim's number, nudged off the boxes already placed."""
    placed: dict[int, list] = {}
    for mark, cls, panel, a, b in marks:
        ax = by_measure[panel]
        col = f"mean_{panel}"
        ya = 100 * float(cells.at[a, col])
        xa = x[a]
        xb, yb = (x[b], 100 * float(cells.at[b, col])) if isinstance(b, (int, np.integer)) else (xa, 100 * float(b))
        glyph, color = VERDICT_STYLE[cls]
        if not (axis.log and isinstance(b, (int, np.integer)) and cells.at[a, "series"] == cells.at[b, "series"]):
            ax.plot([xa, xb], [ya, yb], color=color, lw=1.3, ls=(0, (1.5, 1.5)), zorder=5)  # no line joins them
        xm = np.sqrt(xa * xb) if axis.log else (xa + xb) / 2
        frac = (ax.transData + ax.transAxes.inverted()).transform((xm, (ya + yb) / 2))
        frac = frac + (np.array([0.07, 0.0]) if abs(xa - xb) < 1e-9 else 0.0)
        for other in placed.setdefault(id(ax), []):  # nudge up while it would sit on another box
            if abs(other[0] - frac[0]) < 0.09 and abs(other[1] - frac[1]) < 0.06:
                frac = frac + np.array([0.0, 0.065])
        placed[id(ax)].append(frac)
        ax.text(*frac, f"{glyph}{mark}", transform=ax.transAxes, ha="center", va="center", fontsize=7.5,
                color="white" if cls != "not run" else "0.1", fontweight="bold", zorder=7, clip_on=False,
                bbox={"boxstyle": "round,pad=0.18", "fc": color, "ec": "white", "lw": 0.6})


def legend_handles(palette: dict, intervals: set, has_novel: bool, claims: bool) -> tuple[list, list]:
    """Legend entries: one per series, then what the marks and intervals are, then (with claims) the verdicts."""
    handles = [Line2D([], [], color=c, lw=2.5) for c in palette.values()]
    labels = [str(s) for s in palette]
    handles.append(Line2D([], [], ls="", marker="o", mfc="0.6", mec="0.3"))
    labels.append("one trained model (seed)")
    if intervals - {INTERVAL_WILSON}:
        handles.append(Patch(color="0.5", alpha=0.3))
        labels.append("band: mean of seeds, its 95% interval across seeds")
    if INTERVAL_WILSON in intervals:
        handles.append(Line2D([], [], color="0.3", marker="_", ms=10))
        labels.append("bar: 95% Wilson interval of one model's samples (1 seed)")
    if has_novel:
        handles.append(Line2D([], [], ls="--", color="0.3", marker="o", mfc="white", mec="0.3"))
        labels.append(NOVEL_LABEL)
    for cls, (glyph, color) in VERDICT_STYLE.items() if claims else ():
        handles.append(Line2D([], [], ls="", marker=f"${glyph}$" if glyph != "?" else "$?$", color=color, ms=9))
        labels.append(f"claim {cls}")
    return handles, labels


def _side(text) -> dict:
    side = parse_filters(text)
    return side if isinstance(side, dict) else {"": side}


def claim_text(row, constant: set) -> str:
    """A claim's cells in a few words, "size 4 -> 16 (width 16)": the columns that differ, then the shared ones;
    columns with one value in every claim of the figure (``constant``) are left out."""
    a, b = _side(row["a"]), _side(row["b"])
    fmt = lambda v: "|".join(v) if isinstance(v, list) else str(v)  # noqa: E731
    shared = [f"{k} {fmt(v)}" for k, v in a.items() if b.get(k) == v and k not in constant]
    tail = f" ({', '.join(shared)})" if shared else ""
    if "" in b:
        return f"{', '.join(f'{k} {fmt(v)}' for k, v in a.items() if k not in constant) or 'a'} vs {b['']:g}"
    only_a = [k for k in a if a[k] != b.get(k)]
    only_b = [k for k in b if b[k] != a.get(k)]
    if only_a == only_b:  # the same columns differ: "size 4 -> 16"
        return ", ".join(f"{k} {fmt(a[k])} \u2192 {fmt(b[k])}" for k in only_a) + tail
    side = lambda s, ks: ", ".join(f"{k} {fmt(s[k])}" for k in ks) or "-"  # noqa: E731
    return f"{side(a, only_a)} \u2192 {side(b, only_b)}{tail}"


def draw_key(container, claims: pd.DataFrame, ncols: int = 2) -> None:
    """The claims' key under the panels, one line per claim: its mark, name, cells and verdict (and why it is not
    drawn, when it is not), in the verdict's colour."""
    sides = [_side(t) for t in (*claims["a"], *claims["b"])]
    keys = set().union(*sides) - {""}
    constant = {k for k in keys if len({str(s.get(k)) for s in sides}) == 1}
    lines = []
    for _, r in claims.iterrows():
        glyph, color = VERDICT_STYLE[r["verdict_class"]]
        where = "" if r["drawn"] else f"  [not drawn: {r['note']}]"
        lines.append((f"{glyph}{r['mark']}  {r['name']}: {claim_text(r, constant)}: {r['verdict']}{where}", color))
    per_col = int(np.ceil(len(lines) / ncols))
    for i, (text, color) in enumerate(lines):
        col, line = divmod(i, per_col)
        container.text(0.01 + col / ncols, 1 - (line + 0.5) / max(per_col, 1), text, fontsize=7.5, color=color,
                       va="center", ha="left")
