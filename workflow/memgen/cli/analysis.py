"""Subcommands that build tables and figures: derive (a table a study derives), figure, gallery, and answers (the
report's first page: every study's comparisons and the front figures).

``derive`` and ``figure`` are generic: the table or figure kind names the function (`memgen.studies.table_kinds`,
`memgen.studies.figure_kinds`, from the study records), and the inputs are named files read by their extension.
Imports of pandas and of the drawing modules sit inside the commands: ``python -m memgen --help`` stays light.
"""

from __future__ import annotations

import json
from pathlib import Path

from memgen.cli.common import LOG
from memgen.errors import MemgenError
from memgen.studies import figure_kinds, resolve


def _named(pairs: list[str] | None, flag: str) -> list[tuple[str, str]]:
    out = []
    for pair in pairs or []:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise MemgenError(f"{flag} {pair!r}: expected NAME=PATH")
        out.append((name, path))
    return out


def _read(path: str):
    """A file's content by its extension: .parquet a DataFrame, .npz (images, labels), .json a dict, else the path."""
    from memgen import io

    suffix = Path(path).suffix
    if suffix == ".parquet":
        return io.read_parquet(path)
    if suffix == ".npz":
        return io.load_images_npz(path, require_labels=False)
    if suffix == ".json":
        return io.read_json(path)
    return Path(path)


def read_inputs(args, read: bool = True) -> dict:
    """--input NAME=PATH (one file each) and --inputs NAME=PATH (a list per name, in order), read (``read``; else
    their paths); --params JSON."""
    load = _read if read else str
    inputs: dict = {}
    for name, path in _named(args.input, "--input"):
        if name in inputs:
            raise MemgenError(f"--input {name}: given twice (use --inputs for a list)")
        inputs[name] = load(path)
    for name, path in _named(args.inputs, "--inputs"):
        if name in inputs and not isinstance(inputs[name], list):
            raise MemgenError(f"--inputs {name}: also given as --input")
        inputs.setdefault(name, []).append(load(path))
    try:
        params = json.loads(args.params) if args.params else {}
    except json.JSONDecodeError as err:
        raise MemgenError(f"--params: not JSON: {err}") from None
    clash = sorted(set(params) & set(inputs))
    if clash:
        raise MemgenError(f"--params {clash[0]}: also an input")
    return inputs | params


def _kind(kinds: dict, kind: str, what: str):
    if kind not in kinds:
        raise MemgenError(f"{what} {kind!r}: unknown (known: {', '.join(sorted(kinds))})")
    return resolve(kinds[kind])


def _markdown(table) -> str:
    return table.to_markdown(index=False) + "\n"


def cmd_derive(args) -> None:
    from memgen import io
    from memgen.studies import get

    study = get(args.study)
    spec = study.table(args.table)
    table = resolve(spec.build)(**read_inputs(args))
    io.write_parquet(args.out, table)
    if args.markdown:
        io.write_text(args.markdown, (resolve(spec.markdown) if spec.markdown else _markdown)(table))
    LOG.info(f"wrote {args.out}: {len(table)} rows ({args.study} {args.table})")


def cmd_figure(args) -> None:
    from memgen import io

    draw = _kind(figure_kinds(), args.kind, "figure")
    inputs = read_inputs(args)
    drawn = draw(out_path=args.out, **inputs)
    if args.table:
        table = drawn if drawn is not None else inputs.get("table")
        if table is None:
            raise MemgenError(f"figure {args.kind}: drew no table and has no 'table' input for --table")
        io.write_parquet(args.table, table)
    LOG.info(f"wrote {args.out}")


def cmd_job(args) -> None:
    from memgen.cli.common import prepare
    from memgen.studies import job_kinds

    kinds = job_kinds()
    if args.kind not in kinds:
        raise MemgenError(f"job {args.kind!r}: unknown (known: {', '.join(sorted(kinds))})")
    job = kinds[args.kind]
    keywords = read_inputs(args, read=job.read_inputs)
    outputs = dict(_named(args.output, "--output"))
    missing = sorted(set(job.patterns) - set(outputs))
    clash = sorted(set(outputs) & set(keywords))
    if missing or clash:
        raise MemgenError(f"job {job.name}: --output {(missing or clash)[0]}: "
                          + ("missing" if missing else "also an input or parameter"))
    compute = {"device": args.device, "prepare": lambda: prepare(args)} if job.computes else {}
    resolve(job.run)(**keywords, **outputs, **compute)
    LOG.info(f"job {job.name}: wrote {', '.join(outputs.values())}")


def cmd_gallery(args) -> None:
    from memgen import io
    from memgen.analysis.galleries import pairs_gallery

    samples, _ = io.load_images_npz(args.samples, require_labels=False)
    train, _ = io.load_images_npz(args.train, require_labels=False)
    drawn = pairs_gallery(samples, train, io.read_parquet(args.scores), args.out, threshold=args.threshold, n=args.n,
                          title=args.title)
    io.write_parquet(args.table, drawn)
    LOG.info(f"wrote {args.out}: {len(drawn)} sample / nearest-training-image pairs")


def _file_bytes(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise MemgenError(f"{what} {path}: cannot read ({err.strerror})") from None


def cmd_answers(args) -> None:
    from memgen import io
    from memgen.analysis.answers import FrontFigure, StudyAnswers, answers_page
    from memgen.studies import get

    studies = []
    for study, path in _named(args.comparisons, "--comparisons"):
        try:
            text = _file_bytes(path, "--comparisons").decode("utf-8")
        except UnicodeDecodeError:
            raise MemgenError(f"--comparisons {path}: not UTF-8 text") from None
        studies.append(StudyAnswers(study, get(study).title, text))
    figures = [FrontFigure(f"{get(study).title} ({Path(path).name})", _file_bytes(path, "--figure"))
               for study, path in _named(args.figure, "--figure")]
    io.write_text(args.out, answers_page(studies, figures))
    LOG.info(f"wrote {args.out}: {len(studies)} studies' comparisons, {len(figures)} figures")


def _add_inputs(s) -> None:
    s.add_argument("--input", action="append", metavar="NAME=PATH", help="an input file (by extension: .parquet, "
                   ".npz, .json; else its path)")
    s.add_argument("--inputs", action="append", metavar="NAME=PATH", help="one file of a list input (repeat, in "
                   "order)")
    s.add_argument("--params", help="JSON object of further keyword arguments")


def register(sub) -> None:
    s = sub.add_parser("derive", help="build one table a study derives (its record's Table) from named files")
    s.add_argument("study", help="the study (its record names the table's function)")
    s.add_argument("table", help="the table's name, e.g. replicates, memorization_capacity, agreement")
    _add_inputs(s)
    s.add_argument("--out", required=True, help="Parquet table")
    s.add_argument("--markdown", help="also write the table as Markdown")
    s.set_defaults(func=cmd_derive)

    s = sub.add_parser("figure", help="draw a figure from its tables (kinds: the study records' figures)")
    s.add_argument("kind", help="a figure kind of memgen.studies.figure_kinds(), e.g. capacity, dummies, loss_gap")
    _add_inputs(s)
    s.add_argument("--out", required=True, help="PNG")
    s.add_argument("--table", help="also write the table drawn (Parquet)")
    s.set_defaults(func=cmd_figure)

    s = sub.add_parser("job", help="run one job of a study's own kind (its record's Job) on named files")
    s.add_argument("kind", help="the job's kind, e.g. import_model (memgen.studies.job_kinds())")
    _add_inputs(s)
    s.add_argument("--output", action="append", metavar="NAME=PATH", help="an output file of the job (each of its "
                   "record's outputs once)")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="for a job that runs a network")
    s.add_argument("--threads", type=int, default=None, help="torch CPU threads of such a job")
    s.set_defaults(func=cmd_job)

    s = sub.add_parser("gallery", help="samples beside their nearest training images (Figures 3, 4, 6, 8, 9)")
    for name in ("samples", "train", "scores", "out", "table"):
        s.add_argument(f"--{name}", required=True)
    s.add_argument("--threshold", type=float, required=True, help="the replicate threshold the scores used")
    s.add_argument("--n", type=int, default=32)
    s.add_argument("--title")
    s.set_defaults(func=cmd_gallery)

    s = sub.add_parser("answers", help="the report's first page: every study's comparisons and verdicts, and the "
                       "front figures, as one HTML fragment")
    s.add_argument("--comparisons", action="append", metavar="STUDY=PATH", help="a study's comparisons Markdown "
                   "(repeat, in the order shown)")
    s.add_argument("--figure", action="append", metavar="STUDY=PATH", help="a PNG figure of a study (repeat)")
    s.add_argument("--out", required=True, help="HTML")
    s.set_defaults(func=cmd_answers)
