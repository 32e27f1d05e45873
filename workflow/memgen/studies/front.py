"""What the report's first page shows (``results/answers.html``, made by ``memgen answers``): the comparisons
table of every selected study that has one, in the config's order, and every figure of a selected study whose
record marks it ``front`` (Yoon et al.'s dichotomy). The records decide; the rule files only ask."""

from __future__ import annotations

from memgen.studies.paths import path
from memgen.studies.record import COMPARISONS, get


def front_tables(grid) -> list[tuple[str, str]]:
    """(study, its comparisons Markdown) per selected study with claims, relative to the results directory."""
    return [(s, path("table_md", study=s, table=COMPARISONS.name)) for s in grid.cfg.studies
            if COMPARISONS in get(s).tables]


def front_figures(grid) -> list[tuple[str, str]]:
    """(study, figure PNG) per ``front`` figure of a selected study, relative to the results directory."""
    return [(s, path("figure", study=s, figure=f.name)) for s in grid.cfg.studies for f in get(s).figures if f.front]
