"""The studies, one module each: its record (`memgen.studies.record.Study`), its expander and the hooks that name
its inputs. Imported in the order of the config schema's study blocks, which is the registry's order."""

from memgen.studies.catalog import (  # noqa: F401  (each module registers its study on import)
    capacity,
    dummies,
    classes,
    dummy_kinds,
    loss_gap,
    dynamics,
    external,
    disjoint_split,
    dichotomy,
    optimal,
    criterion,
    table1,
)
