"""``nasgcn run CONFIG.toml``: the whole method as cached, resumable stages.

This module is the public face; the parts live in their own modules:

* :mod:`supernet.config_schema`: the TOML schema and the validation of a whole file at load;
* :mod:`supernet.stage_engine`: the ``@stage`` registry, input hashing, caching and resume;
* :mod:`supernet.stages`: the stage bodies, each declared once with its inputs and section.

The tables below (``STAGES``, ``DEPENDS``, ``SECTIONS``, ``DEFAULTS``, ``STAGE_FUNCTIONS``) are
derived from the declarations, for code that reads them.
"""

from __future__ import annotations

from typing import Any

from .config_schema import (
    DATASETS,
    MACRO_KEYS,
    MODEL_KEYS,
    SEARCH_METHODS,
    TARGET_KEYS,
    Config,
    Opt,
    builtin_config,
    check_data,
    defaults,
    load_config,
    parse_config,
    schema,
)
from .stage_engine import (
    STAGE_VERSION,
    Pipeline,
    Stage,
    StageContext,
    StageFn,
    stage,
    stage_hashes,
    stage_names,
    stage_registry,
    stage_sections,
)
from .stages import (
    label_archs,
    search_predictor,
    space_table,
    stage_fit,
    stage_label,
    stage_query,
    stage_report,
    stage_retrain,
    stage_shift,
    stage_supernet,
    stage_table,
    table_columns,
    train_config,
)

_REG = stage_registry()
STAGES: tuple[str, ...] = tuple(_REG)
DEPENDS: dict[str, tuple[str, ...]] = {n: s.depends for n, s in _REG.items()}
SECTIONS: dict[str, tuple[str, ...]] = {n: s.sections for n, s in _REG.items()}
LARGE_SPACE_SECTIONS: dict[str, tuple[str, ...]] = {
    n: s.large_space_reads for n, s in _REG.items() if s.large_space_reads
}
STAGE_FUNCTIONS: dict[str, StageFn] = {n: s.fn for n, s in _REG.items()}
DEFAULTS: dict[str, dict[str, Any]] = defaults()

__all__ = [
    "DATASETS",
    "DEFAULTS",
    "DEPENDS",
    "LARGE_SPACE_SECTIONS",
    "MACRO_KEYS",
    "MODEL_KEYS",
    "SEARCH_METHODS",
    "SECTIONS",
    "STAGES",
    "STAGE_FUNCTIONS",
    "STAGE_VERSION",
    "TARGET_KEYS",
    "Config",
    "Opt",
    "Pipeline",
    "Stage",
    "StageContext",
    "StageFn",
    "builtin_config",
    "check_data",
    "defaults",
    "label_archs",
    "load_config",
    "parse_config",
    "schema",
    "search_predictor",
    "space_table",
    "stage",
    "stage_fit",
    "stage_hashes",
    "stage_label",
    "stage_names",
    "stage_query",
    "stage_registry",
    "stage_report",
    "stage_retrain",
    "stage_sections",
    "stage_shift",
    "stage_supernet",
    "stage_table",
    "table_columns",
    "train_config",
]
