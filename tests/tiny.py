"""Test configs that run only the studies they name.

The shipped config.yaml enables every study, and Snakemake merges a ``--configfile`` over it, so a test config
must switch off what it does not name; `load_config` on a dict fills the same schema defaults.
"""

from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
EXPERIMENTS = tuple(yaml.safe_load(SCHEMA.read_text())["properties"]["experiments"]["properties"])


def only_named(config: dict) -> dict:
    """A copy of ``config`` whose ``experiments`` runs exactly the studies it names (others: enabled false)."""
    named = config.get("experiments", {})
    experiments = {name: {"enabled": False} for name in EXPERIMENTS}
    for name, exp in named.items():
        experiments[name] = {"enabled": True, **exp}
    return {**config, "experiments": experiments}
