"""The experiment grid: the paper preset plans exactly the seeds' grids; shared models are trained once."""

import math

import pytest

from memgen.config import load_config
from memgen.studies import Grid, dataset_token, get, presentations
from memgen.errors import MemgenError


@pytest.fixture(scope="module")
def paper(repo_root_module):
    return load_config(repo_root_module / "workflow" / "presets" / "paper.yaml")


@pytest.fixture(scope="module")
def repo_root_module():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


def test_paper_preset_plans_the_seeds_grids(paper):
    grid = Grid(paper)
    assert paper.seeds == (0, 1, 2)  # every cell trained three times; the counts below are per seed
    for s in paper.studies:
        if get(s).expand is not None:
            per_seed = [sum(c.seed == seed for c in grid.cells(s)) for seed in paper.seeds]
            assert per_seed == [per_seed[0]] * 3, s
    counts = {s: sum(c.seed == 0 for c in grid.cells(s)) for s in paper.studies if get(s).expand is not None}
    assert counts == {
        "capacity": 3 * 7,  # UNet-64/128/256 x {0.5,1,2,4,8,16,32}k (Figure 1)
        "dummies_mondrian": 2,  # 2k MO alone; 2k MO + 6k GM (Figures 3-4)
        "dummies_cifar": 4,  # 2k cars alone; + GM to 4k, 8k, 16k (Figure 5)
        "unconditional_dummies": 1,  # Appendix C.1
        "classes": 2,  # 5k and 8k in total, 100 Random Ink (Figure 7)
        "dummy_kinds": 1 + 4 * 3,  # baseline + {gm, hybrid, heldout, shapes} x {1,2,4}k (the report)
        "loss_gap": 5,  # one run evaluated at 5 snapshots (the last is its full budget)
        "disjoint_split": 2 * 6,  # UNet-64/128 x {0.5..16}k, each on a set disjoint from its capacity twin's
        "dynamics": 5 * 12,  # UNet-128 x {0.5..8}k, each run sampled at 12 snapshots
    }
    cap = [c for c in grid.cells("capacity") if c.seed == 0]
    assert {(c.steps, c.batch_size, c.num_samples, c.conditional) for c in cap} == {(500000, 128, 10000, False)}
    assert sorted({c.width for c in cap}) == [64, 128, 256]
    cars = [c for c in grid.cells("dummies_cifar") if c.seed == 0]
    assert [(c.ndummy, c.conditional, c.sample_classes) for c in cars] == [
        (0, False, None), (2000, True, (0,)), (6000, True, (0,)), (14000, True, (0,))]
    assert {(c.steps, c.batch_size) for c in cars} == {(100000, 256)}
    kinds = grid.cells("dummy_kinds")
    heldout = [c for c in kinds if c.dummy == "heldout"]
    assert heldout and not any(c.conditional for c in heldout)  # real cars as dummies: trained unconditionally
    gap = [c for c in grid.cells("loss_gap") if c.seed == 0]
    assert [c.steps for c in gap] == [25000, 50000, 100000, 200000, 500000] and {c.train_steps for c in gap} == {500000}
    # its run is capacity's UNet-128 on 1000 images: trained once for both studies
    assert gap[-1].name in {c.name for c in cap}
    # the dynamics runs are capacity's UNet-128 runs (no training of their own), their last snapshot the final model
    dyn = [c for c in grid.cells("dynamics") if c.seed == 0]
    finals = [c for c in dyn if c.steps == c.train_steps]
    assert {c.train_steps for c in dyn} == {500000} and len(finals) == 5
    assert {c.name for c in finals} <= {c.name for c in cap if c.width == 128}
    classes = [c for c in grid.cells("classes") if c.seed == 0]
    assert [(c.size, c.ndummy, c.num_samples, c.conditional) for c in classes] == [
        (4900, 100, 5000, True), (7900, 100, 5000, True)]


def test_exposure_matched_twin_sees_base_images_as_often(repo_root_module):
    cfg = load_config({"dummies_mondrian": {"size": 32, "ndummy": [0, 96], "exposure_matched": True}})
    cells = Grid(cfg).cells("dummies_mondrian")
    alone = next(c for c in cells if c.ndummy == 0)
    equal = next(c for c in cells if c.ndummy and c.exposure == "equal_steps")
    twin = next(c for c in cells if c.exposure == "matched")
    assert twin.steps == math.ceil(alone.steps * 128 / 32)
    base = lambda c: presentations(c.epochs_per_image, c.size)  # noqa: E731  (draws of base images in the run)
    assert base(twin) == pytest.approx(base(alone), rel=1e-3)
    assert base(equal) == pytest.approx(base(alone) / 4)
    assert base(alone) == alone.steps * alone.batch_size  # every image is a base image
    # passes over each base image: the twin's equal the dummy-free cell's; equal steps give a quarter
    assert twin.epochs_per_image == pytest.approx(alone.epochs_per_image, rel=1e-3)
    assert equal.epochs_per_image == pytest.approx(alone.epochs_per_image / 4)
    assert twin.name != equal.name and twin.name.endswith("-cond-s0")


def test_shared_models_have_one_name():
    grid = Grid(load_config({"studies": ["capacity", "dummy_kinds", "dummies_mondrian", "loss_gap"]}))
    base_cap = {c.name for c in grid.cells("capacity") if c.width == 16 and c.size == 16}
    base_kinds = {c.name for c in grid.cells("dummy_kinds") if c.ndummy == 0}
    base_dummies = {c.name for c in grid.cells("dummies_mondrian") if c.ndummy == 0}
    assert base_cap == base_kinds == base_dummies == {"w16-n16-none0-it800-b32-uncond-s0"}
    gm_kinds = {c.name for c in grid.cells("dummy_kinds") if c.dummy == "gm"}
    gm_dummies = {c.name for c in grid.cells("dummies_mondrian") if c.ndummy and c.exposure == "equal_steps"}
    assert gm_kinds == gm_dummies == {"w16-n16-gm16-it800-b32-cond-s0"}
    # the loss-gap run is capacity's w16/N=64 cell, with snapshots
    gap = grid.cells("loss_gap")
    assert {c.train_steps for c in gap} == {800} and grid.cells("loss_gap")[-1].name in {
        c.name for c in grid.cells("capacity")}


def test_find_cell_round_trips_and_refuses_strangers():
    grid = Grid(load_config(None))
    for cell in grid.cells("capacity"):
        assert grid.find(cell.wildcards()) == cell
    bad = {**grid.cells("capacity")[0].wildcards(), "width": 999}
    with pytest.raises(MemgenError, match="no cell capacity/w999"):
        grid.find(bad)


def test_dataset_tokens_are_path_safe():
    assert dataset_token("cifar:automobile") == "cifar-automobile"
    assert dataset_token("mondrian") == "mondrian"
    tok = dataset_token("folder:/data/my images")
    assert tok.startswith("folder-") and "/" not in tok and " " not in tok


def test_heldout_images_never_reach_the_training_slots(tmp_path):
    """C_T's held-out images are cut from the far end of the base's pool: a cell gets them only when its training
    set (both sides of a split) and they fit in the pool together; an image folder is counted at plan time."""
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(40):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(folder / f"{i:02d}.png")
    cfg = load_config({"studies": ["capacity", "disjoint_split"], "image_size": 8,
                       "model": {"channel_mult": [1, 2], "num_res_blocks": 1, "norm_groups": 8},
                       "capacity": {"dataset": f"folder:{folder}", "widths": [16], "sizes": [4, 16]},
                       "score": {"copying_heldout": 10}})
    grid = Grid(cfg)
    cap = {c.size: grid.heldout_of(c) for c in grid.cells("capacity")}
    split = {c.size: grid.heldout_of(c) for c in grid.cells("disjoint_split")}
    assert cap[4] and cap[16] and split[4]  # 16 + 10 <= 40; a split of 4: 8 + 10
    assert split[16] == []  # 2 x 16 + 10 = 42 > 40 images: no C_T rather than held-out training images
    assert cap[4] == split[4]  # both sides of a split share their held-out set
    cars = load_config({"studies": ["dummy_kinds"], "dummy_kinds": {"dataset": "cifar:automobile", "size": 2000,
                                                                   "kinds": ["heldout"], "ndummy": [4000]}})
    g = Grid(cars)
    assert {c.ndummy: bool(g.heldout_of(c)) for c in g.cells("dummy_kinds")} == {0: True, 4000: False}


def test_a_sample_set_is_drawn_once_for_every_cell_that_scores_it(repo_root_module):
    """The default run: capacity's, the dummies' and the dummy kinds' base-alone cells score one sample set per
    seed, capacity's N = 64 cell and the loss gap's last snapshot (its full run) one, the GM dummy cells of both
    dummies studies one; a cell that samples another checkpoint, class or count gets a set of its own."""
    from memgen.studies.sample_set import SampleSet

    grid = Grid(load_config(repo_root_module / "config.yaml"))
    cells = [c for s in grid.cfg.studies if get(s).trains and not get(s).reads for c in grid.cells(s)]
    sets = {}
    for c in cells:
        sets.setdefault(grid.samples_of(c), []).append(c)
    assert (len(cells), len(sets)) == (66, 54)
    shared = {p: sorted(c.study for c in cs) for p, cs in sets.items() if len(cs) > 1}
    base = "samples/mondrian/w16-n16-none0-it800-b32-uncond-s0/final-ema-all-x128-t100-s0/samples.npz"
    assert shared[base] == ["capacity", "dummies_mondrian", "dummy_kinds"]
    gm = "samples/mondrian/w16-n16-gm16-it800-b32-cond-s1/final-ema-y0-x128-t100-s1/samples.npz"
    assert shared[gm] == ["dummies_mondrian", "dummy_kinds"]
    assert shared["samples/mondrian/w16-n64-none0-it800-b32-uncond-s2/final-ema-all-x128-t100-s2/samples.npz"] == [
        "capacity", "loss_gap"]
    assert len(shared) == 9 and sum(len(v) - 1 for v in shared.values()) == 12
    # not shared: a snapshot of the same run, the classes study's two classes, the unconditional dummies' 256
    snapshot = next(c for c in grid.cells("loss_gap") if c.steps == 200 and c.seed == 0)
    assert grid.samples_of(snapshot).endswith("w16-n64-none0-it800-b32-uncond-s0/step200-ema-all-x128-t100-s0/"
                                              "samples.npz")
    classes = grid.cells("classes")[0]
    assert grid.samples_of(classes).endswith("/final-ema-all-x128-t100-s0/samples.npz") and classes.conditional
    uncond_dummies = grid.cells("unconditional_dummies")[0]
    assert grid.sample_set(classes).n_sampled == 256 == grid.sample_set(uncond_dummies).n_sampled
    for c in cells:  # the path names the set: it parses back to the same identity, its checkpoint is the cell's
        sset = grid.sample_set(c)
        parsed = SampleSet.from_wildcards(path_wildcards(grid.samples_of(c)))
        assert parsed == sset and sset.n_sampled == c.n_sampled
        checkpoint, waits_for = grid.sample_checkpoint(sset.wildcards())
        assert checkpoint == grid.model_of(c) and waits_for == grid.model_dependency(c)
    with pytest.raises(MemgenError, match="snapshot at step 300"):
        grid.sample_checkpoint({**grid.sample_set(snapshot).wildcards(), "ckpt": "step300"})


def path_wildcards(sample_path: str) -> dict:
    """The wildcards of a sample set's path, parsed with the grammar's pattern under the constraints of
    workflow/rules/common.smk (as Snakemake parses it)."""
    import re

    from memgen.studies.paths import PATHS

    constraints = {"dataset": r"[a-z][a-z0-9_-]*", "dummy": r"[a-z][a-z_]*", "cond": "cond|uncond",
                   "ckpt": r"final|imported|step\d+", "weights": "ema|raw", "labels": r"all|y\d+(?:-\d+)*"}
    pattern = re.escape(PATHS["samples"])
    for name in re.findall(r"\\\{(\w+)\\\}", pattern):
        pattern = pattern.replace(rf"\{{{name}\}}", f"(?P<{name}>{constraints.get(name, r'[0-9]+')})", 1)
    return re.fullmatch(pattern, sample_path).groupdict()


def test_sample_set_tokens_refuse_what_they_cannot_mean():
    from memgen.studies.sample_set import SampleSet, labels_token, parse_labels

    grid = Grid(load_config({"studies": ["dummies_mondrian"]}))
    cond = next(c for c in grid.cells("dummies_mondrian") if c.conditional)
    wc = grid.sample_set(cond).wildcards()
    assert wc["labels"] == "y0" and "--classes 0" in SampleSet(**wc).sample_args()
    assert parse_labels(labels_token((0, 1))) == (0, 1) and labels_token(None) == "all"
    assert "--classes" not in SampleSet(**{**wc, "labels": "all"}).sample_args()
    assert "--weights model" in SampleSet(**{**wc, "weights": "raw"}).sample_args()
    for bad, match in ((dict(weights="fp16"), "weights"), (dict(ckpt="last"), "checkpoint"),
                       (dict(cond="uncond"), "unconditional"), (dict(labels="yx"), "labels")):
        with pytest.raises(MemgenError, match=match):
            SampleSet(**{**wc, **bad})
