"""Analysis of score tables: ``aggregate`` (pure summaries with confidence intervals), ``tables`` (tidy experiment
tables), ``capacity`` (memorization capacity with bootstrap intervals), ``table1`` (the paper's Table 1),
``figures`` (plots from tidy tables) and ``galleries`` (sample / nearest-training-image pairs, threshold sweep).

Submodules are imported explicitly (``from memgen.analysis import aggregate``) so that aggregation does not pay
for importing matplotlib and seaborn (``capacity`` and ``table1`` are pure too).
"""
