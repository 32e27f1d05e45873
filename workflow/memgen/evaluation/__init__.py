"""Measures beyond the replicate fraction: validity of procedural samples, partial copies, the four-way outcome,
disjoint-split agreement (Kadkhodaie et al. 2024) and the data-copying test (Meehan et al. 2020)."""
