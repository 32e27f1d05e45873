"""Tests of the experiment figures in memgen.analysis.figures: each draws a valid PNG from its tidy table and
refuses a table that lacks a required column."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

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
