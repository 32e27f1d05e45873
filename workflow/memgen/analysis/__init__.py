"""Tables and figures from the score tables: ``aggregate`` (per-cell summaries with intervals), ``tables`` (a
study's tidy tables), ``capacity`` (memorization capacity), ``table1`` (the paper's Table 1), ``figures``,
``study_figures``, ``dichotomy`` and ``galleries`` (pictures people look at, each beside the table it drew).

Submodules are imported explicitly (``from memgen.analysis import aggregate``) so that aggregation does not pay
for importing matplotlib and seaborn (``capacity`` and ``table1`` are pure too).
"""
