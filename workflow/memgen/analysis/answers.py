"""The answers page: every study's comparisons (claims, their parts and verdicts) and the front figures, as one
HTML fragment. The report's first page (`workflow/report/workflow.rst`) embeds it, and `snakemake --report` lists
it as its own result; a browser opens it as a page of its own too.

Pure functions on text (no file I/O): the tables are the comparisons Markdown that the ``derive`` rule writes
(`memgen.analysis.seeds.comparisons_markdown`), rendered as they are, whatever columns it has; a cell of a column
whose header says "verdict" gets the CSS class ``verdict-<class>`` of its verdict (`verdict_class`: supported,
reversed, unresolved, untestable, not run), which sets its colour. Figures are PNG bytes, embedded as data URIs.
"""

from __future__ import annotations

import base64
import html
import re
from collections import Counter
from dataclasses import dataclass

from memgen.analysis.seeds import VERDICT_CLASSES, verdict_class
from memgen.errors import MemgenError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# (text, background) per verdict class: green, red, amber, grey, pale grey
COLOURS = {"supported": ("#116329", "#dafbe1"), "reversed": ("#a40e26", "#ffebe9"),
           "unresolved": ("#7d4e00", "#fff8c5"), "untestable": ("#424a53", "#eaeef2"),
           "not run": ("#6e7781", "#f6f8fa")}
_CELL_SPLIT = re.compile(r"(?<!\\)\|")  # a pipe not escaped as \|
_RULE_CELL = re.compile(r"^:?-{3,}:?$")  # the header's underline in a pipe table
_CODE, _STRONG = re.compile(r"`([^`]+)`"), re.compile(r"\*\*(.+?)\*\*")


@dataclass(frozen=True)
class StudyAnswers:
    """One study's section: its name, its record's title and its comparisons Markdown (header only: no claim)."""

    study: str
    title: str
    markdown: str


@dataclass(frozen=True)
class FrontFigure:
    """A figure shown on the first page: its caption and its PNG file's bytes."""

    caption: str
    png: bytes


def css_class(verdict_cls: str) -> str:
    """``verdict-<class>`` with spaces as dashes ("not run" -> "verdict-not-run")."""
    return "verdict-" + verdict_cls.replace(" ", "-")


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip().replace("\\|", "|") for c in _CELL_SPLIT.split(inner)]


def parse_pipe_table(lines: list[str], where: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a Markdown pipe table: a header line, its ``---`` rule, then the rows, each with as many
    cells as the header; anything else raises `MemgenError` naming ``where``."""
    if len(lines) < 2 or not all(_RULE_CELL.match(c) for c in _cells(lines[1])):
        raise MemgenError(f"{where}: a Markdown table needs a header line and its '---' rule")
    header = _cells(lines[0])
    rows = [_cells(line) for line in lines[2:]]
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise MemgenError(f"{where}: table row {i + 1} has {len(row)} cells, its header {len(header)}")
    return header, rows


def _blocks(markdown: str) -> list[tuple[str, list[str]]]:
    """("table", lines) for each run of lines starting with '|', ("text", [line]) for other non-empty lines."""
    blocks: list[tuple[str, list[str]]] = []
    for line in markdown.splitlines():
        if line.lstrip().startswith("|"):
            if blocks and blocks[-1][0] == "table":
                blocks[-1][1].append(line)
            else:
                blocks.append(("table", [line]))
        elif line.strip():
            blocks.append(("text", [line.strip()]))
    return blocks


def inline_html(text: str) -> str:
    """Escaped text with Markdown's inline ```code``` and ``**strong**`` as HTML (nothing else is interpreted)."""
    out = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text, quote=False))
    return _STRONG.sub(lambda m: f"<strong>{m.group(1)}</strong>", out)


def text_html(line: str) -> str:
    """A line of text outside the tables: a Markdown heading (``#``...) as a small heading, else a paragraph."""
    heading = re.match(r"#+\s+(.*)", line)
    return f"<h4>{inline_html(heading.group(1))}</h4>" if heading else f"<p>{inline_html(line)}</p>"


def table_html(header: list[str], rows: list[list[str]], where: str) -> tuple[str, Counter]:
    """An HTML table; cells of a "verdict" column carry their class (`css_class`). Returns (html, verdict-class
    counts). A verdict cell whose text starts with no verdict class raises `MemgenError` naming ``where``."""
    verdict_cols = {i for i, h in enumerate(header) if "verdict" in h.lower()}
    counts: Counter = Counter()
    head = "".join(f"<th>{inline_html(h)}</th>" for h in header)
    body = []
    for row in rows:
        tds = []
        for i, text in enumerate(row):
            attr = ""
            if i in verdict_cols:
                try:
                    cls = verdict_class(text)
                except MemgenError as err:
                    raise MemgenError(f"{where}: {err}") from None
                counts[cls] += 1
                attr = f' class="verdict {css_class(cls)}"'
            tds.append(f"<td{attr}>{inline_html(text)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    table = (f'<table class="memgen-comparisons"><thead><tr>{head}</tr></thead>'
             f'<tbody>{"".join(body)}</tbody></table>')
    return table, counts


def tally(counts: Counter) -> str:
    """"2 supported, 1 unresolved" in `VERDICT_CLASSES` order; "" when no verdict."""
    return ", ".join(f"{counts[c]} {c}" for c in VERDICT_CLASSES if counts[c])


def study_html(answers: StudyAnswers) -> str:
    """A study's section: heading, the tally of its verdicts, then its Markdown (tables and lines of text)."""
    where = f"{answers.study} comparisons"
    parts, counts, claims = [], Counter(), 0
    for kind, lines in _blocks(answers.markdown):
        if kind == "table":
            header, rows = parse_pipe_table(lines, where)
            if rows:
                table, found = table_html(header, rows, where)
                parts.append(f'<div class="memgen-scroll">{table}</div>')
                counts, claims = counts + found, claims + len(rows)
        else:
            parts.append(text_html(lines[0]))
    if not claims:
        parts.insert(0, '<p class="memgen-none">No claim was compared in this run (the grid has no pair of cells '
                        'that a claim of this study reads).</p>')
    summary = tally(counts)
    heading = f"{html.escape(answers.title)} <code>{html.escape(answers.study)}</code>"
    tally_html = f'<p class="memgen-tally">{html.escape(summary)}</p>' if summary else ""
    return (f'<section class="memgen-study" id="answers-{html.escape(answers.study)}"><h3>{heading}</h3>'
            f'{tally_html}{"".join(parts)}</section>')


def figure_html(figure: FrontFigure, where: str) -> str:
    """The figure as an embedded PNG with its caption; bytes that are not a PNG raise `MemgenError`."""
    if not figure.png.startswith(PNG_SIGNATURE):
        raise MemgenError(f"{where}: not a PNG file")
    data = base64.b64encode(figure.png).decode("ascii")
    caption = html.escape(figure.caption)
    return (f'<figure class="memgen-front-figure"><img alt="{caption}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption}</figcaption></figure>")


# On the report's first page (Snakemake 9: a centred flex row of the description, ``prose max-w-lg``, beside the
# rule graph) the description column holding the page may take the width the rule graph leaves, and its content
# starts at the top left: centred content taller or wider than the window would be cut off where no scrollbar
# reaches. The selectors match only the elements around `.memgen-answers`.
FRONT_PAGE_CSS = (".items-center.justify-center:has(.memgen-answers){align-items:flex-start;justify-content:flex-start}"
                  "div:has(> div > .prose .memgen-answers){min-width:0}"
                  "div:has(> .prose .memgen-answers){min-width:0;flex:1 1 0}"
                  ".prose:has(.memgen-answers){max-width:none}")


def _style() -> str:
    """The page's CSS, scoped to ``.memgen-answers``, and `FRONT_PAGE_CSS` for the report's first page."""
    verdicts = "".join(f".memgen-answers td.{css_class(c)}{{color:{fg};background:{bg};font-weight:600}}"
                       f".memgen-answers .memgen-legend .{css_class(c)}{{color:{fg};background:{bg}}}"
                       for c, (fg, bg) in COLOURS.items())
    return ("<style>" + FRONT_PAGE_CSS +
            ".memgen-answers{font-family:system-ui,sans-serif;font-size:13px;line-height:1.4;color:#1f2328}"
            ".memgen-answers h2{font-size:1.4em;margin:.4em 0}.memgen-answers h3{font-size:1.15em;margin:1em 0 .2em}"
            ".memgen-answers .memgen-scroll{overflow-x:auto;max-width:100%}"
            ".memgen-answers table{border-collapse:collapse;margin:.3em 0 .8em}"
            ".memgen-answers th,.memgen-answers td{border:1px solid #d0d7de;padding:2px 6px;vertical-align:top;"
            "text-align:left}"
            ".memgen-answers th{background:#f6f8fa}"
            ".memgen-answers .memgen-legend span{padding:1px 6px;margin-right:4px;border-radius:3px}"
            ".memgen-answers figure{margin:1em 0}.memgen-answers img{max-width:100%;height:auto}"
            ".memgen-answers figcaption{font-style:italic}"
            ".memgen-answers code::before,.memgen-answers code::after{content:none}"  # the report's prose adds `"
            f"{verdicts}</style>")


def answers_page(studies: list[StudyAnswers], figures: list[FrontFigure]) -> str:
    """The whole fragment (ASCII: other characters as HTML character references): a heading, the verdict legend,
    one section per study in the given order, then the figures."""
    legend = " ".join(f'<span class="{css_class(c)}">{html.escape(c)}</span>' for c in VERDICT_CLASSES)
    intro = ("<p>Each row is a claim of the papers, tested across training seeds: the difference of two cells' seed "
             "means with its 95% interval, the test and the verdict. Verdicts by class: "
             f'<span class="memgen-legend">{legend}</span></p>')
    sections = [study_html(s) for s in studies]
    if not sections:
        sections = ['<p class="memgen-none">No selected study compares cells in this run.</p>']
    shown = [figure_html(f, f"figure {i + 1} ({f.caption})") for i, f in enumerate(figures)]
    page = (f'{_style()}<div class="memgen-answers"><h2>Answers: the claims and their verdicts</h2>{intro}'
            f'{"".join(sections)}{"".join(shown)}</div>\n')
    return page.encode("ascii", "xmlcharrefreplace").decode("ascii")
