"""Analysis of score tables: ``aggregate`` (pure summaries with confidence intervals) and ``figures`` (plots).

Submodules are imported explicitly (``from memgen.analysis import aggregate``) so that aggregation does not pay
for importing matplotlib and seaborn.
"""
