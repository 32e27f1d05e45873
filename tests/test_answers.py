"""The answers page (the report's first page) on hand-built comparisons Markdown: every verdict cell coloured by
its class, bad input refused naming the culprit, and the studies and figures it shows chosen by the records."""

import html
from pathlib import Path

import pytest
import yaml

from memgen.analysis.answers import (FrontFigure, StudyAnswers, answers_page, css_class, parse_pipe_table,
                                     study_html, tally)
from memgen.analysis.seeds import VERDICT_CLASSES
from memgen.cli import main
from memgen.config import load_config
from memgen.errors import MemgenError
from memgen.studies import Grid, get
from memgen.studies.front import front_figures, front_tables

ROOT = Path(__file__).resolve().parents[1]
HEAD = "| comparison | a | b | b - a, 95% CI | verdict |\n|---|---|---|---|---|\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _md(*rows: tuple[str, str]) -> str:
    return HEAD + "".join(f"| {name} | n=2 | n=6 | -3.0 pp (-9.0 to +3.0) | {verdict} |\n" for name, verdict in rows)


def test_every_verdict_cell_carries_its_class():
    verdicts = ["supported", "reversed (copies rose)", "unresolved at 3 seeds", "untestable at this budget (w16 "
                "n64: 61% invalid)", "not run"]
    page = study_html(StudyAnswers("capacity", "Capacity", _md(*[(f"claim {i}", v) for i, v in enumerate(verdicts)])))
    for cls, text in zip(VERDICT_CLASSES, verdicts):
        assert f'<td class="verdict {css_class(cls)}">{html.escape(text)}</td>' in page, cls
    assert page.count('class="verdict ') == 5 and css_class("not run") == "verdict-not-run"
    assert "1 supported, 1 reversed, 1 unresolved, 1 untestable, 1 not run" in page
    assert '<td class="verdict' not in page.split("<tbody>")[0]  # the header is not a verdict


def test_only_verdict_columns_are_coloured():
    md = "| comparison | verdict |\n|---|---|\n| supported by whom? | reversed |\n"
    page = study_html(StudyAnswers("capacity", "Capacity", md))
    assert "<td>supported by whom?</td>" in page and '<td class="verdict verdict-reversed">reversed</td>' in page
    parts = study_html(StudyAnswers("capacity", "Capacity", "| part | b - a |\n|---|---|\n| copying | -3 pp |\n"))
    assert "<td>copying</td>" in parts and "No claim" not in parts and "verdict" not in parts


def test_tally_counts_in_class_order():
    from collections import Counter

    assert tally(Counter({"unresolved": 2, "supported": 1})) == "1 supported, 2 unresolved" and tally(Counter()) == ""


def test_a_study_without_claims_says_so_and_text_lines_are_kept():
    md = HEAD + "\n## Parts\ngeneralization **not measured**: `shapes` has no rule\n"
    page = study_html(StudyAnswers("disjoint_split", "Split", md))
    assert "No claim was compared" in page and "<table" not in page and "<h4>Parts</h4>" in page
    assert "<p>generalization <strong>not measured</strong>: <code>shapes</code> has no rule</p>" in page


def test_text_is_escaped_and_the_page_is_ascii():
    page = answers_page([StudyAnswers("capacity", "Capacity <b>", _md(("N ≥ 16 <script>", "supported")))],
                        [FrontFigure("the dichotomy", PNG)])
    assert page.isascii() and "&#8805;" in page and "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("data:image/png;base64,") == 1 and 'id="answers-capacity"' in page


def test_no_study_gives_a_line_not_an_empty_page():
    assert "No selected study compares cells in this run" in answers_page([], [])


@pytest.mark.parametrize("markdown, match", [
    (_md(("claim", "probably true")), r"capacity comparisons: verdict 'probably true' starts with none of"),
    (HEAD + "| only | three | cells |\n", "capacity comparisons: table row 1 has 3 cells, its header 5"),
    ("| comparison | verdict |\n| claim | supported |\n", "needs a header line and its '---' rule"),
])
def test_bad_markdown_is_refused_naming_the_study(markdown, match):
    with pytest.raises(MemgenError, match=match):
        study_html(StudyAnswers("capacity", "Capacity", markdown))


def test_a_figure_that_is_not_a_png_is_refused():
    with pytest.raises(MemgenError, match=r"figure 1 \(dichotomy\): not a PNG file"):
        answers_page([], [FrontFigure("dichotomy", b"GIF89a")])


def test_escaped_pipes_stay_in_their_cell():
    header, rows = parse_pipe_table(["| a | verdict |", "|:---|---:|", r"| x \| y | supported |"], "t")
    assert header == ["a", "verdict"] and rows == [["x | y", "supported"]]


def test_cli_writes_the_page_and_refuses_a_missing_table(tmp_path, capsys):
    md, fig, out = tmp_path / "comparisons.md", tmp_path / "d.png", tmp_path / "answers.html"
    md.write_text(_md(("replicates fall as N grows", "unresolved at 3 seeds")))
    fig.write_bytes(PNG)
    assert main(["answers", "--comparisons", f"capacity={md}", "--figure", f"dichotomy={fig}", "--out", str(out)]) == 0
    page = out.read_text()
    assert html.escape(get("capacity").title) in page and html.escape(f"{get('dichotomy').title} (d.png)") in page
    out.unlink()
    assert main(["answers", "--comparisons", f"capacity={tmp_path / 'nope.md'}", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("memgen: error: --comparisons") and "nope.md" in err[0]
    assert not out.exists()
    assert main(["answers", "--comparisons", f"nostudy={md}", "--out", str(out)]) == 2 and not out.exists()


def test_the_default_run_shows_every_study_with_claims_and_the_dichotomy():
    cfg = load_config(yaml.safe_load((ROOT / "config.yaml").read_text()))
    grid = Grid(cfg)
    tables = front_tables(grid)
    with_claims = [s for s in cfg.studies if get(s).comparisons is not None]
    assert [s for s, _ in tables] == with_claims and len(with_claims) >= 5
    assert all(p == f"{s}/comparisons.md" and p in grid.targets(s) for s, p in tables)
    assert front_figures(grid) == [("dichotomy", "dichotomy/figures/dichotomy.png")]
    only = Grid(load_config({"studies": ["capacity"]}))  # an unselected study shows nothing
    assert front_tables(only) == [("capacity", "capacity/comparisons.md")] and front_figures(only) == []
