"""The report opens on the answers: `snakemake --report` of a finished tiny run, opened in a real headless browser
(Chromium, installed by tests/browser.py), shows on its first page every study's comparisons with their verdicts,
coloured by class, and the dichotomy figure, in the DOM the report's JavaScript rendered.

The run is conftest.py's shared `finished_run` (the capacity study), copied, with the dichotomy study added: only
the dichotomy's table and figure and the answers page are made here, nothing is trained again."""

import base64
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from browser import elements, rendered_dom
from tiny import TINY, snakemake

from memgen.analysis.answers import css_class
from memgen.analysis.seeds import verdict_class

STUDIES = ["capacity", "dichotomy"]


@pytest.fixture(scope="module")
def report(finished_run, tmp_path_factory):
    """(workdir, the report's HTML file, the rendered DOM's elements, the run's log)."""
    repo_root, finished, _ = finished_run
    workdir = tmp_path_factory.mktemp("report")
    shutil.copytree(finished, workdir, symlinks=True, dirs_exist_ok=True)  # mtimes and .snakemake kept
    (workdir / "report.yaml").write_text(yaml.safe_dump({**TINY, "studies": STUDIES}))
    run = snakemake(repo_root, workdir, configfile="report.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
    page = workdir / "report.html"
    made = snakemake(repo_root, workdir, "--report", str(page), configfile="report.yaml")
    assert made.returncode == 0, made.stderr[-3000:]
    return workdir, page, elements(rendered_dom(page)), run.stdout + run.stderr


def _verdict_cells(found):
    return [e for e in found if e.tag == "td" and "verdict" in e.classes]


def test_only_the_new_outputs_were_made(report):
    *_, log = report
    ran = {line.split("Rule: ")[1].rstrip(")") for line in log.splitlines() if "Rule: " in line}
    assert ran == {"derive", "figure", "answers", "all"}, ran


def test_the_first_page_shows_every_verdict_coloured_by_class(report):
    workdir, _, found, _ = report
    cells = _verdict_cells(found)
    assert cells and all(c.inside(id="app") and c.inside(cls="memgen-answers") for c in cells)
    expected = []
    for study in STUDIES:
        path = workdir / "results" / study / "comparisons.parquet"
        if path.exists():
            claims = pd.read_parquet(path)
            assert not claims.empty, study
            assert any(e.attrs.get("id") == f"answers-{study}" and e.inside(id="app") for e in found), study
            expected += claims["verdict"].tolist()
    assert len(cells) == len(expected)
    for cell, verdict in zip(cells, expected):
        assert cell.text.startswith(verdict) and css_class(verdict_class(verdict)) in cell.classes, (cell, verdict)


def test_the_first_page_shows_the_dichotomy_figure(report):
    workdir, _, found, _ = report
    png = (workdir / "results" / "dichotomy" / "figures" / "dichotomy.png").read_bytes()
    shown = [e.attrs["src"] for e in found if e.tag == "img" and e.inside(cls="memgen-answers") and e.inside(id="app")]
    assert len(shown) == 1 and shown[0].startswith("data:image/png;base64,")
    assert base64.b64decode(shown[0].split(",", 1)[1]) == png


def test_the_answers_are_script_data_until_the_browser_runs_it(report):
    """The checks above can fail: in the report's HTML source the verdicts are only text inside a script."""
    workdir, page, _, _ = report
    text = page.read_text(encoding="utf-8")
    source = elements(text)
    assert not _verdict_cells(source) and not [e for e in source if e.inside(cls="memgen-answers")]
    verdicts = pd.read_parquet(workdir / "results" / "capacity" / "comparisons.parquet")["verdict"]
    assert all(v in text for v in verdicts)


def test_the_answers_page_is_a_result_of_its_own(report):
    _, _, found, _ = report
    menu = [e for e in found if e.inside(id="app") and e.tag == "nav"]
    assert menu and "Answers" in menu[0].text


def _front_page(categories) -> str:
    """workflow/report/workflow.rst as Snakemake 9 renders the landing page's description (snakemake/report:
    Jinja with trim_blocks and lstrip_blocks, then docutils' HTML body)."""
    from types import SimpleNamespace

    from docutils.core import publish_parts
    from jinja2 import Environment

    text = (Path(__file__).resolve().parents[1] / "workflow" / "report" / "workflow.rst").read_text()
    rst = Environment(trim_blocks=True, lstrip_blocks=True).from_string(text).render(
        snakemake=SimpleNamespace(config={}), categories=categories, files=[])
    return publish_parts(rst, writer="html")["html_body"]


def test_the_front_page_embeds_the_answers_page_or_says_there_is_none(tmp_path):
    from types import SimpleNamespace

    page = tmp_path / "results dir" / "answers.html"
    page.parent.mkdir()
    page.write_text('<div class="memgen-answers"><td class="verdict verdict-supported">supported</td></div>')
    figure = SimpleNamespace(name="dichotomy.png", path=tmp_path / "dichotomy.png")
    answers = SimpleNamespace(name="answers.html", path=page)
    shown = _front_page({"Answers": {"Other": [answers]}, "dichotomy": {"Other": [figure]}})
    assert page.read_text() in shown and "has no answers page" not in shown
    missing = _front_page({"dichotomy": {"Other": [figure]}})
    assert "memgen-answers" not in missing and "This report has no answers page" in missing
