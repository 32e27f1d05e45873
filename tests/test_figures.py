"""Tests of the experiment figures in memgen.analysis.figures: each draws a valid PNG from its tidy table and
refuses a table that lacks a required column."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from memgen import io
from memgen.analysis import figures, study_figures
from memgen.stats import wilson_interval
from memgen.errors import MemgenError


def assert_png(path, min_bytes=5000):
    assert path.stat().st_size > min_bytes
    with Image.open(path) as img:
        img.verify()
        assert img.format == "PNG"


def with_rates(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    table["replicate_fraction"] = table["n_replicates"] / table["n_samples"]
    table["ci_low"], table["ci_high"] = wilson_interval(table["n_replicates"].to_numpy(),
                                                        table["n_samples"].to_numpy())
    return table


def capacity_table():
    return with_rates([{"width": w, "size": s, "seed": 0, "n_samples": 100, "n_replicates": k}
                       for w, ks in ((16, (100, 90, 0)), (32, (100, 100, 20))) for s, k in zip((8, 32, 128), ks)])


def dummies_table(exposures=("equal_steps", "matched")):
    rows = []
    for e, exposure in enumerate(exposures):
        for count in (0, 2000, 6000):
            total = 2000 + count
            for label, n_train in ((0, 2000), (1, count)):
                if label == 1 and count == 0:
                    continue
                rows.append({"exposure": exposure, "size": 2000, "ndummy": count, "dummy": "gm" if count else "none",
                             "label": label, "width": 128, "n_samples": 200,
                             "n_replicates": 180 - count * (2 - e) // 80,
                             "n_train": n_train, "n_train_replicated": 600 - count // 20, "n_train_total": total,
                             "epochs_per_image": 3200 * 64 / total})
    return with_rates(rows)


def classes_table():
    rows = [{"label": lab, "size": total - 100, "ndummy": 100, "seed": seed, "n_samples": 100,
             "n_replicates": 90 if lab else 3, "n_train": 100 if lab else total - 100,
             "n_train_replicated": 80 if lab else 5} for total in (5000, 8000) for lab in (0, 1) for seed in (0, 1)]
    return with_rates(rows)


def kinds_table():
    rows = [{"dummy": "none", "ndummy": 0, "label": 0, "n_samples": 100, "n_replicates": 92}]
    rows += [{"dummy": kind, "ndummy": c, "label": 0, "n_samples": 100, "n_replicates": int(92 * np.exp(-s * c / 2000))}
             for kind, s in (("gm", 1.0), ("hybrid", 1.3), ("heldout", 0.5), ("shapes", 0.1)) for c in (1000, 2000)]
    return with_rates(rows)


def loss_table():
    t = np.linspace(10, 3990, 12)
    alpha_bar = np.cos((t / 4000 + 0.008) / 1.008 * np.pi / 2) ** 2
    rows = []
    for step in (1000, 5000):
        for ti, ab in zip(t, alpha_bar):
            base = 0.02 + 0.3 * (1 - ab)
            rows += [{"step": step, "t": ti, "alpha_bar": ab, "split": "train", "loss": base},
                     {"step": step, "t": ti, "alpha_bar": ab, "split": "heldout",
                      "loss": base + step * 1e-6 * np.exp(-np.log(ab / (1 - ab)) ** 2)}]
    return pd.DataFrame(rows)


def onset_table():
    return with_rates([{"steps": s, "width": w, "size": 32, "n_samples": 64, "n_replicates": k}
                       for w, ks in ((16, (0, 10, 50)), (32, (5, 40, 64))) for s, k in zip((400, 800, 1600), ks)])


REPLICATES = pd.DataFrame({"steps": [1000, 5000], "replicate_fraction": [0.1, 0.8], "ci_low": [0.05, 0.7],
                           "ci_high": [0.2, 0.9]})
OPTIMAL = pd.DataFrame({"size": [8, 32, 128, 512], "replicate_fraction": 1.0, "ci_low": 0.96, "ci_high": 1.0})

CASES = {
    "capacity": (figures.capacity_figure, capacity_table, "replicate_fraction"),
    "dummies": (study_figures.dummies_figure, dummies_table, "n_train_replicated"),
    "classes": (study_figures.classes_figure, classes_table, "n_train"),
    "dummy_kinds": (study_figures.dummy_kinds_figure, kinds_table, "dummy"),
    "loss_gap": (study_figures.loss_gap_figure, loss_table, "alpha_bar"),
    "onset": (study_figures.onset_figure, onset_table, "steps"),
}


@pytest.mark.parametrize("name", CASES)
def test_figure_writes_a_png(name, tmp_path):
    draw, make, _ = CASES[name]
    draw(make(), tmp_path / f"{name}.png")
    assert_png(tmp_path / f"{name}.png")


@pytest.mark.parametrize("name", CASES)
def test_figure_rejects_a_missing_column(name, tmp_path):
    draw, make, column = CASES[name]
    with pytest.raises(MemgenError, match="lacks column"):
        draw(make().drop(columns=column), tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_capacity_figure_with_optimal_denoiser_reference(tmp_path):
    figures.capacity_figure(capacity_table(), tmp_path / "c.png", optimal=OPTIMAL)
    assert_png(tmp_path / "c.png")
    with pytest.raises(MemgenError, match="optimal-denoiser table lacks"):
        figures.capacity_figure(capacity_table(), tmp_path / "x.png", optimal=OPTIMAL.drop(columns="ci_high"))


def test_dummies_figure_without_exposure_column(tmp_path):
    study_figures.dummies_figure(dummies_table(("equal_steps",)).drop(columns="exposure"), tmp_path / "d.png")
    assert_png(tmp_path / "d.png")


def test_loss_gap_figure_with_replicates_and_bad_tables(tmp_path):
    study_figures.loss_gap_figure(loss_table(), tmp_path / "l.png", replicates=REPLICATES)
    assert_png(tmp_path / "l.png")
    with_x0 = loss_table().assign(loss_x0=lambda t: t["loss"] * (1 - t["alpha_bar"]) / t["alpha_bar"])
    study_figures.loss_gap_figure(with_x0, tmp_path / "x0.png", replicates=REPLICATES)  # adds the x0-space gap panel
    assert_png(tmp_path / "x0.png")
    from PIL import Image

    assert Image.open(tmp_path / "x0.png").width > Image.open(tmp_path / "l.png").width  # 4 panels vs 3
    with pytest.raises(MemgenError, match="split"):
        study_figures.loss_gap_figure(loss_table().replace({"split": {"heldout": "test"}}), tmp_path / "x.png")
    with pytest.raises(MemgenError, match="alpha_bar"):
        study_figures.loss_gap_figure(loss_table().assign(alpha_bar=1.0), tmp_path / "x.png")
    with pytest.raises(MemgenError, match="replicates-by-step table lacks"):
        study_figures.loss_gap_figure(loss_table(), tmp_path / "x.png", replicates=REPLICATES.drop(columns="steps"))


def test_dummy_kinds_figure_needs_rows_with_dummies(tmp_path):
    with pytest.raises(MemgenError, match="no rows"):
        study_figures.dummy_kinds_figure(kinds_table().query("dummy == 'none'"), tmp_path / "x.png")


# -- every outcome per cell, the seed band, the verdict marks and the strips, checked in the figures' tables -----

OUTCOMES4 = ("replicate", "partial_copy", "novel_valid", "invalid")
N = 100


def four_way(rows: list[dict]) -> pd.DataFrame:
    """A replicates table from per-seed counts (rep, part, valid, inv) of N samples, with every outcome's
    fraction and Wilson interval, as `memgen score --card` writes them."""
    out = []
    for row in rows:
        counts = dict(zip(OUTCOMES4, row.pop("counts")))
        row |= {"n_samples": N, "n_replicates": counts["replicate"]}
        for o, k in counts.items():
            lo, hi = wilson_interval(np.array([k]), np.array([N]))
            row |= {f"frac_{o}": k / N, f"ci_low_{o}": float(lo[0]), f"ci_high_{o}": float(hi[0])}
        row |= {"replicate_fraction": row["frac_replicate"], "ci_low": row["ci_low_replicate"],
                "ci_high": row["ci_high_replicate"], "frac_novel": np.nan}
        out.append(row)
    return pd.DataFrame(out)


def seeded_capacity(seeds=(0, 1, 2)) -> pd.DataFrame:
    """Width 16 and 32 at N = 4, 16, 64: copying at small N; at N = 64 no replicates, and most samples invalid."""
    counts = {4: (95, 2, 1, 2), 16: (80, 8, 8, 4), 64: (0, 1, 39, 60)}
    return four_way([{"study": "capacity", "width": w, "size": n, "dummy": "none", "ndummy": 0, "label": 0,
                      "seed": s, "counts": (counts[n][0] - s * (n < 64), counts[n][1], counts[n][2] + s * (n < 64) + s,
                                            counts[n][3] - s)}
                     for w in (16, 32) for n in (4, 16, 64) for s in seeds])


def capacity_claims() -> pd.DataFrame:
    """A comparisons table holding every verdict class, a claim on cells the figure lacks, one on a measure it does
    not draw, one on the invalid outcome, and columns the verdicts work may add (ignored)."""
    rows = [("replicates fall as N grows", "label=0, size=16, width=16", "label=0, size=64, width=16",
             "replicate_fraction", "supported"),
            ("replicates rise with width", "label=0, size=4, width=16", "label=0, size=4, width=32",
             "replicate_fraction", "reversed"),
            ("replicates fall as N grows", "label=0, size=4, width=16", "label=0, size=16, width=16",
             "replicate_fraction", "unresolved at 3 seeds"),
            ("replicates fall as N grows", "label=0, size=16, width=32", "label=0, size=64, width=32",
             "replicate_fraction", "untestable at this budget (size=64: 60% invalid)"),
            ("replicates fall as N grows", "label=0, size=64, width=16", "label=0, size=256, width=16",
             "replicate_fraction", "not run"),
            ("agreement rises with N", "size=4, width=16", "size=16, width=16", "median_similarity", "supported"),
            ("more invalid at large N", "size=64, width=16", "0", "frac_invalid", "supported")]
    table = pd.DataFrame(rows, columns=["name", "a", "b", "measure", "verdict"])
    return table.assign(copying_verdict="x", generalization_diff=0.1, trained_guard=True, note="", source="replicates")


def test_capacity_table_carries_every_outcome_with_its_seed_band(tmp_path):
    table = seeded_capacity()
    drawn = figures.capacity_figure(table, tmp_path / "c.png", comparisons=capacity_claims())
    assert_png(tmp_path / "c.png")
    cells = drawn[drawn["part"] == "cell"]
    assert len(cells) == 6 and (cells["interval"] == "95% interval across seeds").all()
    for _, cell in cells.iterrows():
        rows = table[(table["width"] == cell["width"]) & (table["size"] == cell["size"])].sort_values("seed")
        for o in OUTCOMES4:
            values = rows[f"frac_{o}"].to_numpy()
            assert cell[f"mean_{o}"] == pytest.approx(values.mean()), o
            assert cell[f"ci_low_{o}"] <= cell[f"mean_{o}"] <= cell[f"ci_high_{o}"], o
            assert (cell[f"min_{o}"], cell[f"max_{o}"]) == (values.min(), values.max())
            assert cell[f"per_seed_{o}"] == "/".join(f"{100 * v:.1f}" for v in values)
        assert np.isnan(cell["mean_novel"])  # Mondrians have a validity rule: no "novel" outcome
    big = cells[cells["size"] == 64]  # the figure says where the copies went: invalid, not generalizing
    assert (big["mean_replicate"] == 0).all() and (big["mean_invalid"] > 0.55).all()
    assert (cells["x"] == cells["size"]).all() and set(cells["series"]) == {"width 16", "width 32"}


def test_figure_marks_every_verdict_class_and_says_which_claims_it_cannot_draw(tmp_path):
    from memgen.analysis.seeds import VERDICT_CLASSES

    claims = capacity_claims()
    drawn = figures.capacity_figure(seeded_capacity(), tmp_path / "c.png", comparisons=claims)
    marks = drawn[drawn["part"] == "claim"].reset_index(drop=True)
    assert marks["mark"].tolist() == [str(i) for i in range(1, len(claims) + 1)]
    assert marks["verdict"].tolist() == claims["verdict"].tolist()
    assert set(marks["verdict_class"]) == set(VERDICT_CLASSES)
    assert marks["drawn"].tolist() == [True, True, True, True, False, False, True]
    assert "not in this figure" in marks.loc[4, "note"] and "median_similarity" in marks.loc[5, "note"]
    assert marks.loc[6, "panel"] == "invalid" and marks.loc[0, "panel"] == "replicate"
    assert "copying_verdict" not in drawn.columns  # extra columns of the comparisons table are not needed


def test_figure_draws_the_across_seeds_table_it_is_given(tmp_path):
    from memgen.analysis.seeds import across_seeds

    table = seeded_capacity()
    across = across_seeds(table)
    across.loc[0, "ci_high_invalid"] = 0.5  # a value only the given table has
    drawn = figures.capacity_figure(table, tmp_path / "c.png", across=across)
    cells = drawn[drawn["part"] == "cell"]
    first = cells[(cells["width"] == across.loc[0, "width"]) & (cells["size"] == across.loc[0, "size"])]
    assert first["ci_high_invalid"].iloc[0] == 0.5
    with pytest.raises(MemgenError, match="across_seeds table has no row"):
        figures.capacity_figure(table, tmp_path / "x.png", across=across.iloc[1:])


def test_one_seed_draws_that_model_s_wilson_interval(tmp_path):
    table = seeded_capacity(seeds=(0,))
    cells = figures.capacity_figure(table, tmp_path / "c.png").query("part == 'cell'")
    assert (cells["interval"] == "95% Wilson interval of one model's samples").all()
    merged = cells.merge(table, on=["width", "size"])
    for o in OUTCOMES4:
        np.testing.assert_allclose(merged[f"ci_low_{o}_x"], merged[f"ci_low_{o}_y"])
        np.testing.assert_allclose(merged[f"ci_high_{o}_x"], merged[f"ci_high_{o}_y"])


def seeded(kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A three-seed four-way table and a claim on two of its cells, for the dummies, dummy kinds and classes."""
    if kind == "dummies":
        cells = [dict(ndummy=0, dummy="none", exposure="equal_steps", steps=800),
                 dict(ndummy=16, dummy="gm", exposure="equal_steps", steps=800),
                 dict(ndummy=16, dummy="gm", exposure="matched", steps=1600)]
        claim = ("dummies lower replicates", "label=0, ndummy=0, width=16",
                 "exposure=equal_steps, label=0, ndummy=16, width=16")
    elif kind == "dummy_kinds":
        cells = [dict(ndummy=0, dummy="none"), dict(ndummy=16, dummy="gm"), dict(ndummy=16, dummy="shapes")]
        claim = ("shapes dummies lower replicates", "dummy=none, label=0, width=16",
                 "dummy=shapes, label=0, ndummy=16, width=16")
    else:
        cells = [dict(ndummy=8, dummy="random_ink", label=lab) for lab in (0, 1)]
        claim = ("the minority class is copied more", "label=0, size=56, width=16", "label=1, size=56, width=16")
    counts = [(78, 7, 13, 2), (20, 15, 15, 50), (0, 10, 4, 86)]
    rows = [{"width": 16, "size": 56 if kind == "classes" else 16, "label": 0, "seed": s, **c,
             "n_train": 16, "n_train_replicated": 10 - 3 * i, "counts": counts[i]}
            for i, c in enumerate(cells) for s in (0, 1, 2)]
    return four_way(rows), pd.DataFrame([(*claim, "replicate_fraction", "supported")],
                                         columns=["name", "a", "b", "measure", "verdict"])


@pytest.mark.parametrize("kind, draw", [("dummies", study_figures.dummies_figure),
                                        ("dummy_kinds", study_figures.dummy_kinds_figure),
                                        ("classes", study_figures.classes_figure)])
def test_study_figure_tables_carry_every_outcome_and_the_claim(kind, draw, tmp_path):
    table, claims = seeded(kind)
    drawn = draw(table, tmp_path / f"{kind}.png", comparisons=claims)
    assert_png(tmp_path / f"{kind}.png")
    cells = drawn[drawn["part"] == "cell"]
    assert len(cells) == 3 if kind != "classes" else len(cells) == 2
    for o in OUTCOMES4:
        assert cells[f"mean_{o}"].notna().all() and (cells[f"ci_low_{o}"] <= cells[f"ci_high_{o}"]).all(), o
    assert sorted(cells["mean_invalid"].round(2)) == sorted({0.02, 0.5, 0.86} if kind != "classes" else {0.02, 0.5})
    claim = drawn[drawn["part"] == "claim"].iloc[0]
    assert claim["drawn"] and claim["verdict_class"] == "supported", claim["note"]
    if kind != "dummy_kinds":  # Figures 5b and 7b: training images replicated at least once, per seed
        expected = sorted((10 - 3 * i) / 16 for i in range(len(cells)))  # n_train_replicated / n_train per cell
        np.testing.assert_allclose(sorted(cells["mean_frac_train_replicated"]), expected)


def strip_inputs(table: pd.DataFrame, k_outcomes=("replicate", "invalid", "novel_valid")):
    """Samples, scores (with grid columns and outcomes) and training sets for the seed-0 cells of ``table``."""
    rng = np.random.default_rng(3)
    samples, scores, train = [], [], []
    for _, cell in table[table["seed"] == 0].iterrows():
        images = rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
        outcome = [k_outcomes[i % len(k_outcomes)] for i in range(10)]
        scores.append(pd.DataFrame({"sample_index": np.arange(10)[::-1], "label": 0, "nn1_index": np.arange(10) % 4,
                                    "ratio": 0.5, "is_replicate": [o == "replicate" for o in outcome][::-1],
                                    "outcome": outcome[::-1], "width": cell["width"], "size": cell["size"],
                                    "seed": 0}))
        samples.append((images, np.zeros(10, dtype=np.int64)))
        train.append((rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8), np.zeros(4, dtype=np.int64)))
    return samples, scores, train


def test_strips_show_each_cell_s_first_samples_by_outcome(tmp_path):
    from memgen.analysis.strips import STRIP_SAMPLES

    table = seeded_capacity()
    samples, scores, train = strip_inputs(table)
    drawn = figures.capacity_figure(table, tmp_path / "c.png", comparisons=capacity_claims(), samples=samples,
                                    scores=scores, train=train)
    io.write_parquet(tmp_path / "c.parquet", drawn)  # what the figure rule writes beside the PNG
    assert io.read_parquet(tmp_path / "c.parquet")["part"].value_counts().to_dict() == {"sample": 36, "claim": 7,
                                                                                       "cell": 6}
    shown = drawn[drawn["part"] == "sample"]
    assert len(shown) == 6 * STRIP_SAMPLES
    for (w, n), sub in shown.groupby(["width", "size"]):
        assert sub["sample_index"].tolist() == list(range(STRIP_SAMPLES)), (w, n)  # the first k, i.i.d.
        own = scores[[(s["width"].iloc[0], s["size"].iloc[0]) for s in scores].index((w, n))]
        expected = own.set_index("sample_index").loc[sub["sample_index"], "outcome"].tolist()
        assert sub["outcome"].tolist() == expected and (sub["x"] == n).all()


def test_strip_image_frames_each_sample_in_its_outcome_colour():
    from matplotlib.colors import to_rgb

    from memgen.analysis.galleries import OUTCOME_COLORS
    from memgen.analysis.strips import FRAME, strip_image

    samples = np.full((2, 8, 8, 3), 7, dtype=np.uint8)
    train = np.full((3, 8, 8, 3), 200, dtype=np.uint8)
    rows = pd.DataFrame({"sample_index": [0, 1], "nn1_index": [2, 0], "outcome": ["replicate", "invalid"]})
    image = strip_image(samples, train, rows)
    tile = 8 * 4 + 2 * FRAME  # 8 pixels upscaled to 32, in its frame
    assert image.shape[1] == 2 * (tile + 4)
    for i, outcome in enumerate(rows["outcome"]):
        corner = image[0, i * (tile + 4)]
        assert tuple(corner) == tuple(round(255 * c) for c in to_rgb(OUTCOME_COLORS[outcome]))
        assert (image[FRAME + 1, i * (tile + 4) + FRAME + 1] == 7).all()  # the sample inside the frame
    assert (image[tile + 4 + FRAME + 1, FRAME + 1] == 200).all()  # its nearest training image below


def test_parse_filters_reads_what_describe_writes():
    from memgen.analysis.figure_tables import matching, parse_filters
    from memgen.analysis.seeds import describe

    filters = {"width": 16, "dummy": "gm", "exposure": ["matched", "equal_steps"]}
    parsed = parse_filters(describe(filters))
    assert parsed == {"width": "16", "dummy": "gm", "exposure": ["matched", "equal_steps"]}
    assert parse_filters(describe(None)) == 0.0 and parse_filters("0.5") == 0.5
    cells = pd.DataFrame({"width": [16, 16, 32], "dummy": ["gm", "gm", "gm"], "exposure": ["matched", "x", "matched"]})
    assert matching(cells, parsed) == [0]
    with pytest.raises(MemgenError, match="neither"):
        parse_filters("wide")


def test_onset_figure_table_has_every_outcome_per_snapshot(tmp_path):
    table = four_way([{"steps": s, "width": 16, "size": 64, "seed": seed, "counts": (0, 0, k, 100 - k)}
                      for s, k in ((200, 0), (400, 0), (800, 40)) for seed in (0, 1)])
    cells = study_figures.onset_figure(table, tmp_path / "o.png").query("part == 'cell'")
    assert cells["steps"].tolist() == [200, 400, 800] and cells["mean_invalid"].tolist() == [1.0, 1.0, 0.6]


@pytest.mark.parametrize("study", ["capacity", "dummies_mondrian", "classes", "dummy_kinds"])
def test_outcome_figures_read_the_seed_tables_claims_and_first_seed_strips(study):
    from memgen.config import load_config
    from memgen.studies import Grid, get, path
    from memgen.studies.figure_inputs import MAX_STRIPS

    grid = Grid(load_config(None))
    plot = get(study).figures[0]
    inputs = plot.inputs(grid, study)
    tables = {k: path("table", study=study, table=t) for k, t in
              (("table", "replicates"), ("across", "across_seeds"), ("comparisons", "comparisons"))}
    assert {k: inputs[k] for k in tables} == tables
    first = [c for c in grid.cells(study) if c.seed == grid.cfg.seeds[0]][:MAX_STRIPS]
    assert inputs["samples"] == [grid.samples_of(c) for c in first]  # the shared sample set of each cell
    assert inputs["scores"] == [path("scores", **c.wildcards()) for c in first]
    assert inputs["train"] == [path("data", **c.model_wildcards()) for c in first]
    outputs = set(grid.targets(study)) | {p for kind in ("samples", "scores") for p in grid.cell_paths(study, kind)}
    assert set(tables.values()) <= outputs and set(inputs["samples"]) <= outputs


def test_strips_are_capped_and_spread_over_a_large_grid(repo_root):
    from memgen.config import load_config
    from memgen.studies import Grid
    from memgen.studies.figure_inputs import MAX_STRIPS, strip_cells

    grid = Grid(load_config(repo_root / "workflow" / "presets" / "paper.yaml"))
    first = [c for c in grid.cells("capacity") if c.seed == 0]
    cells = strip_cells(grid, "capacity")
    assert len(first) > MAX_STRIPS == len(cells) and cells[0] == first[0] and cells[-1] == first[-1]


def test_a_kind_without_validity_rule_is_drawn_as_novel(tmp_path):
    table = seeded_capacity()
    table["frac_novel"] = table["frac_novel_valid"] + table["frac_invalid"]  # CIFAR-10: no rule, so no invalid
    for col in ("frac_novel_valid", "frac_invalid"):
        table[col] = np.nan
    claims = pd.DataFrame([("generalization rises", "size=4, width=16", "size=64, width=16", m, "supported")
                           for m in ("frac_novel_valid", "frac_novel")], columns=["name", "a", "b", "measure", "verdict"])
    drawn = figures.capacity_figure(table, tmp_path / "c.png", comparisons=claims)
    cells, marks = drawn.query("part == 'cell'"), drawn.query("part == 'claim'")
    assert marks["drawn"].tolist() == [False, True] and "no value of frac_novel_valid" in marks["note"].iloc[0]
    assert cells["mean_novel"].notna().all() and cells[["mean_novel_valid", "mean_invalid"]].isna().all().all()
    assert (cells["ci_low_novel"] <= cells["mean_novel"]).all() and (cells["per_seed_invalid"] == "").all()
