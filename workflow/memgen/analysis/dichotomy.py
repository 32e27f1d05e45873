"""The dichotomy of Yoon et al. drawn from the tables: every scored cell as a point, memorized fraction against
generalizing fraction, and the disjoint-split agreement beside the replicate fraction.

The paper's claim: a model memorizes OR generalizes, and "training can entirely fail and achieve neither". x =
replicates + partial copies, and y in two versions: ``y_valid``, the novel-and-valid samples (where the kind has a
validity rule), and ``y_agreement``, the pairs of samples that are the same novel image (and valid, where the kind
has a rule) as the sample of the cell's disjoint-split partner from the same noise (where the cell has one;
Kadkhodaie et al.: ``frac_same_novel``, the measure of their claim).

What each version can and cannot show. Every sample has one outcome, so x + y_valid = 1 - invalid <= 1: no cell
can fall above the line x + y = 1 ("both"), and its count of 0 is no evidence. The same holds, up to pairs where a
generalizing partner happens to draw a copy of this model's training image, for y_agreement: a sample that
copies its own training set is not the same image as a partner that never saw it. What the figure can show is
where the cells lie along and below the line: near its ends (memorizing, generalizing), in its middle (a model
that copies and generalizes in comparable shares: "transition", the claim's real test), below it (invalid
samples: "between", or "neither" near the origin); and, between the versions, valid novel samples that a
partner trained on other images does not draw (y_valid high, y_agreement low: generalization in the weak sense).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from memgen.analysis.plotting import as_frame, log_size_axis, require, save_png_atomic

MODEL_KEYS = ["width", "size", "dummy", "ndummy", "steps", "conditional", "seed", "label"]  # a model's class
NEAR_LINE, NEAR_ORIGIN, ABOVE = 0.25, 0.25, 1.25  # |x + y - 1| <= 0.25: on the line; x + y < 0.25; x + y > 1.25
REGIONS = ("memorizing", "generalizing", "transition", "neither", "both (contradicts the dichotomy)", "between")


def region(x: float, y: float) -> str:
    """Where a point falls (module docstring): memorizing / generalizing (on the line, more than half copied /
    generalizing), transition (on the line, neither half), neither (near the origin), both (far above the line),
    between (the rest: below the line but not near the origin)."""
    total = x + y
    if total > ABOVE:
        return REGIONS[4]
    if abs(total - 1.0) <= NEAR_LINE:
        return REGIONS[0] if x >= 0.5 else REGIONS[1] if y >= 0.5 else REGIONS[2]
    return REGIONS[3] if total < NEAR_ORIGIN else REGIONS[5]


def _regions(x: pd.Series, y: pd.Series) -> list[str]:
    return [region(a, b) if not np.isnan(b) else "undefined" for a, b in zip(x, y)]


def dichotomy_table(replicates, agreement: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per scored cell x label of the replicate tables (one DataFrame or a list: ``memorized_fraction``,
    ``generalizing_fraction`` from `memgen.evaluation.assess`): study, cell columns, n_train, x; y_valid (NaN without
    a validity rule) and its region; y_agreement (NaN without a disjoint-split partner) and its region.
    ``same_as``: the study of an earlier row with the same samples (`same_samples`), "" for the first.
    ``agreement``: the disjoint-split summary (`memgen.evaluation.agreement.agreement_summary`: model columns,
    side A's ``dataset``, label, ``frac_same_novel``); it gives y_agreement to both sides of each pair (none
    without ``frac_same_novel``)."""
    rows = as_frame(replicates)
    require(rows, ["study", "width", "size", "seed", "label", "memorized_fraction"], "replicate tables")
    keep = [c for c in ("study", "dataset", "width", "size", "dummy", "ndummy", "steps", "conditional", "exposure",
                        "seed", "label", "n_train", "n_samples") if c in rows.columns]
    out = rows[keep].copy().reset_index(drop=True)
    out["x"] = rows["memorized_fraction"].astype(float).to_numpy()
    out["y_valid"] = rows.get("generalizing_fraction", pd.Series(np.nan, index=rows.index)).astype(float).to_numpy()
    out["region_valid"] = _regions(out["x"], out["y_valid"])
    out["y_agreement"] = np.nan
    if agreement is not None and not agreement.empty and "frac_same_novel" in agreement:
        # frac_same alone counts pairs that copy one image too: no y without both samples' outcomes
        col = "frac_same_novel"
        keys = [k for k in MODEL_KEYS if k in agreement.columns and k in out.columns]
        side_a = out.assign(dataset=out["dataset"].astype(str).str.removeprefix("split-"))
        joined = side_a[keys + ["dataset"]].merge(agreement[keys + ["dataset", col]], on=keys + ["dataset"],
                                                  how="left")
        out["y_agreement"] = joined[col].to_numpy(dtype=float)
    out["region_agreement"] = _regions(out["x"], out["y_agreement"])
    out["same_as"] = same_samples(out)
    return out


SAMPLE_KEYS = ["dataset", "width", "size", "dummy", "ndummy", "steps", "conditional", "exposure", "seed", "label",
               "n_samples", "x", "y_valid"]


def same_samples(table: pd.DataFrame) -> list[str]:
    """Per row, the study of an earlier row that holds the same samples, "" for the first: one model (its data set,
    width, size, dummies, steps, conditioning, seed) sampled for one label as often, scored alike, appears in every
    study that uses it (capacity's width-16 N = 16 models in both dummy studies too, its N = 64 models as the loss
    gap's last snapshot). A tally of cells counts each sample set once (`summary_line`)."""
    keys = [k for k in SAMPLE_KEYS if k in table.columns]
    first = pd.Series(["|".join(map(_token, row)) for row in table[keys].itertuples(index=False)], index=table.index)
    studies = table["study"].astype(str) if "study" in table.columns else pd.Series("", index=table.index)
    owner = dict(zip(first[~first.duplicated()], studies[~first.duplicated()]))
    return [owner[k] if dup else "" for k, dup in zip(first, first.duplicated())]


def _token(value) -> str:
    """A value as a key: numbers by their float value (16 and 16.0 alike, NaN as nan), the rest as text."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return repr(float(value))
    return str(value)


def summary_line(table: pd.DataFrame, column: str = "region_valid") -> str:
    """The regions counted over distinct sample sets (rows whose ``same_as`` is empty)."""
    distinct = table[table["same_as"] == ""] if "same_as" in table.columns else table
    counts = distinct[column].value_counts()
    drawn = int((distinct[column] != "undefined").sum())
    parts = [f"{counts[r]} {r}" for r in REGIONS if r in counts]
    repeats = f" ({len(table) - len(distinct)} more repeat another study's samples)" if len(distinct) < len(table) else ""
    return f"{drawn} of {len(distinct)} distinct cells{repeats}: " + ", ".join(parts)


VERSIONS = (("y_valid", "region_valid", "(a) y = novel and valid samples (kinds with a validity rule)"),
            ("y_agreement", "region_agreement", "(b) y = same novel image as a disjoint-split partner (cells with one)"))


def dichotomy_figure(table: pd.DataFrame, out_path: str | os.PathLike) -> None:
    """Memorized fraction (x) vs generalizing fraction (y) in the two versions of the module docstring, one panel
    each: one point per cell x label, coloured by study, sized by the training-set size; the line x + y = 1 and the
    bands of `region`; each panel's region counts in its title."""
    require(table, ["study", "x", "y_valid", "y_agreement", "region_valid", "region_agreement"], "dichotomy table")
    size_col = "n_train" if "n_train" in table.columns else "size"
    studies = sorted(table["study"].unique())
    palette = dict(zip(studies, sns.color_palette("colorblind", len(studies))))
    biggest = np.log10(max(float(table[size_col].max()), 10.0))
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = Figure(figsize=(13.5, 6.0), layout="constrained")
        for ax, (ycol, rcol, title) in zip(fig.subplots(1, 2), VERSIONS):
            line = np.linspace(0, 1, 201)
            ax.plot(line, 1 - line, color="0.3", linestyle="--", linewidth=1.2, label="x + y = 1")
            ax.fill_between(line, np.clip(1 - NEAR_LINE - line, 0, None), np.clip(1 + NEAR_LINE - line, 0, 1.05),
                            color="0.85", alpha=0.5, linewidth=0, label=f"on the line (|x + y - 1| <= {NEAR_LINE})")
            ax.fill_between(line, 0, np.clip(NEAR_ORIGIN - line, 0, None), color="#f4cccc", alpha=0.6, linewidth=0,
                            label="neither (failed training)")
            data = table[table[ycol].notna()]
            for study, sub in data.groupby("study", sort=True):
                area = 30 + 170 * np.log10(sub[size_col].astype(float).clip(lower=1)) / biggest
                ax.scatter(sub["x"], sub[ycol], s=area, color=palette[study], alpha=0.8, edgecolor="0.2",
                           linewidth=0.5, label=study)
            ax.set_xlim(-0.03, 1.03)
            ax.set_ylim(-0.03, 1.03)
            ax.set_xlabel("memorized: replicates + partial copies (fraction of samples)")
            ax.set_ylabel("generalizing (fraction)")
            ax.set_title(f"{title}\n{summary_line(table, rcol)}", fontsize=9)
            ax.legend(fontsize="x-small", loc="upper right")
        fig.suptitle("Memorize or generalize: one point per cell and class (size ~ training images)")
        save_png_atomic(fig, out_path)


def agreement_figure(table: pd.DataFrame, out_path: str | os.PathLike, replicates=None) -> None:
    """Two panels on one x axis (training images, log): (a) the disjoint-split agreement (the same-image-and-both-
    novel fraction, the claim's measure; the same-image fraction; the median similarity with its interval, an
    exploratory description that untrained models share, `memgen.evaluation.agreement`) per width; (b) the replicate
    fraction of side A and side B per width. Drawn: the pairs of models without dummies (the size sweep); pairs
    with dummies or a minority class are in the table and the dichotomy. ``replicates``: the replicate tables of
    both sides (one DataFrame or a list; ``dataset``, ``width``, ``size``, ``replicate_fraction``)."""
    replicates = as_frame(replicates)
    require(table, ["width", "size", "median_similarity", "median_ci_low", "median_ci_high", "frac_same"],
             "agreement table")
    if "dummy" in table.columns:
        table = table[table["dummy"] == "none"]
        replicates = replicates[replicates["dummy"] == "none"] if replicates is not None else None
    require(table, ["width"], "agreement table (pairs without dummies)")
    widths = sorted(table["width"].unique())
    palette = dict(zip(widths, sns.color_palette("colorblind", len(widths))))
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = Figure(figsize=(11.5, 4.4), layout="constrained")
        left, right = fig.subplots(1, 2, sharex=True)
        for w, sub in table.groupby("width"):
            sub = sub.groupby("size", as_index=False).mean(numeric_only=True)
            err = np.abs(sub[["median_ci_low", "median_ci_high"]].to_numpy().T - sub["median_similarity"].to_numpy())
            left.errorbar(sub["size"], sub["median_similarity"], yerr=err, color=palette[w], marker="o", capsize=3,
                          label=f"width {w}: median similarity (exploratory)")
            left.plot(sub["size"], sub["frac_same"], color=palette[w], marker="s", linestyle=":",
                      label=f"width {w}: same-image pairs")
            if "frac_same_novel" in sub:
                left.plot(sub["size"], sub["frac_same_novel"], color=palette[w], marker="^", linestyle="-.",
                          label=f"width {w}: same image, both novel & valid (the claim)")
        if replicates is not None and not replicates.empty:
            side = np.where(replicates["dataset"].astype(str).str.startswith("split-"), "B", "A")
            for (s, w), sub in replicates.assign(side=side).groupby(["side", "width"]):
                if w not in palette:
                    continue
                sub = sub.groupby("size", as_index=False)["replicate_fraction"].mean()
                right.plot(sub["size"], sub["replicate_fraction"], color=palette[w], marker="o",
                           linestyle="-" if s == "A" else "--", label=f"width {w}, side {s}")
        for ax, title in ((left, "(a) agreement of two models trained on disjoint sets"),
                          (right, "(b) replicates among each model's samples")):
            log_size_axis(ax, table["size"], "training images per model (log scale)")
            ax.set_ylim(-0.05, 1.05)
            ax.set_title(title, fontsize=10)
            ax.legend(fontsize="small")
        left.set_ylabel("similarity / fraction of pairs")
        right.set_ylabel("replicate fraction")
        save_png_atomic(fig, out_path)
