"""Distil the result files of benchmarks/gpu.sh runs into workflow/memgen/rates.json, the table of measured GPU speeds
that `memgen.precision` chooses paths from and `memgen.cost` plans with (see memgen/rates.py for its rows).

Usage (from the repository root; every run's folder, oldest first, each time: the table is rebuilt, not edited):
    PYTHONPATH=workflow python benchmarks/rates.py benchmarks/results/h100-2026-11-26 [MORE_DIRS ...] \
        [--plan-chip H100] [--out workflow/memgen/rates.json]

Read per folder (files in name order; a later row of the same kind, chip, width, image size, batch and path replaces
an earlier one, and a later folder's an earlier folder's):
- bench_train*.json: a row per (batch, variant): s_per_step; compile_s for a compiled variant. A variant whose
  compilation fell back to eager (``compiled`` false) is left out: it did not measure its path.
- bench_sample*.json: a row per loop variant: seconds per reverse step of the batch = loop seconds / steps (legacy
  files without the loop's path: the network's p_mean_variance plus the noise draw of that path). The plain
  variant draws its noise with PerSampleNoise (the reference), memgen's fp32 sampling with CounterNoise, which
  costs less on a GPU: the fp32 row is a bound.
- bench_budget.json: its children's bench_train / bench_sample results (``runs``), as above.
- bench_widths.json (the 2026-11-26 format: rows tagged train/sample with their width): as above, image size
  and device from the folder's other files.
- bench_pack.json: a row per (mode, k): gain in cells per GPU-hour over one at a time.
- warm/*.json (gpu.sh's background compiles, several at once, with a cold cache): their first calls only, as the
  compile_s of the same rows where larger (a job on a fresh machine compiles cold); their step times are not read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from memgen import io  # noqa: E402
from memgen.rates import TABLE_PATH, chip_of  # noqa: E402


def _rel(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def train_rows(result: dict, chip: str, source: str, width: int | None = None, size: int | None = None) -> list:
    rows = []
    for r in result["rows"]:
        if "compile" in r["path"] and not r.get("compiled", True):
            continue
        rows.append({"chip": chip, "width": width or result["width"], "image_size": size or result["image_size"],
                     "batch": r["batch"], "path": r["path"], "s_per_call": r["s_per_step"],
                     "compile_s": r.get("compile_s") if "compile" in r["path"] else None, "source": source})
    return rows


def _legacy_sample_path(variant: str, result: dict) -> str:
    return "fp32" if variant == "plain" else result.get("fast_path") or "bf16"


def sample_rows(result: dict, chip: str, source: str, width: int | None = None, size: int | None = None) -> list:
    """Seconds per reverse step of each loop variant (new files carry variant, path, batch, steps per row)."""
    rows, found = [], result["rows"]
    for r in found:
        if r["part"] != "loop":
            continue
        variant = r.get("variant") or r["what"].split(" ", 1)[0]
        batch = r.get("batch") or int(r["what"].rsplit(" ", 1)[1])
        path = r.get("path") or _legacy_sample_path(variant, result)
        if "compile" in path and not r.get("compiled", True):
            continue
        steps = r.get("steps") or result.get("steps")
        if steps:
            s = r["s"] / steps
        else:  # legacy: network + noise of that path at that batch
            noise = "PerSampleNoise" if variant == "plain" else "CounterNoise"
            net = [x["s"] for x in found if x["part"] == "network" and x["what"].startswith(variant)
                   and x["what"].endswith(f"batch {batch}")]
            draw = [x["s"] for x in found if x["part"] == "noise" and x["what"].startswith(noise)
                    and x["what"].endswith(f"batch {batch}")]
            if not (net and draw):
                continue
            s = net[0] + draw[0]
        rows.append({"chip": chip, "width": width or result["width"], "image_size": size or result["image_size"],
                     "batch": batch, "path": path, "s_per_call": s, "compile_s": r.get("compile_s"),
                     "source": source})
    return rows


def pack_rows(result: dict, chip: str, source: str) -> list:
    return [{"chip": chip, "width": result["width"], "image_size": result["image_size"], "batch": result["batch"],
             "path": r["path"], "k": r["k"], "mode": r["mode"], "gain": r["gain"], "source": source}
            for r in result["rows"] if r.get("gain") is not None and r["mode"] != "sequential"]


def folder_rows(folder: Path) -> dict[str, list]:
    """Every row of one gpu.sh run's folder."""
    files = sorted(folder.glob("*.json"))
    loaded = {f: io.read_json(f) for f in files}
    names = [d.get("device_name") for d in loaded.values() if d.get("device_name")]
    sizes = [d.get("image_size") for d in loaded.values() if d.get("image_size")]
    if not names:
        raise SystemExit(f"rates.py: {folder}: no result file names its device")
    chip, size = chip_of(names[0]), (sizes[0] if sizes else None)
    out: dict[str, list] = {"train": [], "sample": [], "pack": []}
    for path, data in loaded.items():
        source = _rel(path)
        kind = data.get("benchmark")
        if kind == "train":
            out["train"] += train_rows(data, chip, source)
        elif kind == "sample":
            out["sample"] += sample_rows(data, chip, source)
        elif kind == "budget":
            for name, child in sorted(data["runs"].items()):
                add = train_rows if name.startswith("train") else sample_rows
                out["train" if name.startswith("train") else "sample"] += add(child, chip, source)
        elif kind == "widths":
            for width in sorted({r["width"] for r in data["rows"]}):
                mine = [r for r in data["rows"] if r["width"] == width]
                part = {"rows": [r for r in mine if r["benchmark"] == "train"]}
                out["train"] += train_rows(part, chip, source, width, size)
                part = {"rows": [r for r in mine if r["benchmark"] == "sample"]}
                out["sample"] += sample_rows(part, chip, source, width, size)
        elif kind == "pack":
            out["pack"] += pack_rows(data, chip, source)
    for path in sorted(folder.glob("warm/*.json")):  # cold compile times raise compile_s
        data = io.read_json(path)
        kind = data.get("benchmark")
        if kind not in ("train", "sample"):
            continue
        cold = (train_rows if kind == "train" else sample_rows)(data, chip, _rel(path))
        for warm in cold:
            cold_s = warm.get("compile_s")
            for row in out[kind]:
                same = all(row[k] == warm[k] for k in ("width", "image_size", "batch", "path"))
                if same and cold_s is not None and cold_s > (row.get("compile_s") or 0.0):
                    row["compile_s"], row["compile_source"] = cold_s, warm["source"]
    return out


def build(folders: list[Path], plan_chip: str | None) -> dict:
    keyed: dict[str, dict] = {"train": {}, "sample": {}, "pack": {}}
    for folder in folders:
        for kind, rows in folder_rows(folder).items():
            for r in rows:
                key = (r["chip"], r["width"], r["image_size"], r["batch"], r["path"], r.get("k"), r.get("mode"))
                keyed[kind][key] = r
    table = {kind: sorted(rows.values(), key=lambda r: (r["chip"], r["width"], r["image_size"], r["batch"],
                                                         r["path"], r.get("k") or 0, r.get("mode") or ""))
             for kind, rows in keyed.items()}
    chips = [r["chip"] for rows in table.values() for r in rows]
    if plan_chip is not None and plan_chip not in chips:
        raise SystemExit(f"rates.py: --plan-chip {plan_chip}: no rows for it (chips: {sorted(set(chips))})")
    return {"plan_chip": plan_chip or (chips[-1] if chips else None), "folders": [_rel(f) for f in folders], **table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="gpu.sh result folders, oldest first")
    parser.add_argument("--plan-chip", help="the chip memgen.cost plans with (default: the last folder's)")
    parser.add_argument("--out", type=Path, default=TABLE_PATH)
    args = parser.parse_args()
    table = build(args.folders, args.plan_chip)
    io.write_text(args.out, json.dumps(table, indent=1) + "\n")
    counts = ", ".join(f"{len(table[k])} {k}" for k in ("train", "sample", "pack"))
    print(f"wrote {args.out}: {counts} rows; plan chip {table['plan_chip']}")


if __name__ == "__main__":
    main()
