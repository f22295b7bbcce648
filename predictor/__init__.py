"""nasgcn's predictor package: search spaces, graphs, exact costs, logs, the GCN
predictor, lookup and hardware tables, queries, metrics and the CLI.

Importing this package is cheap: heavy submodules (torch, PyG) load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> submodule that defines it (loaded lazily on first attribute access).
_LAZY = {
    "SearchSpace": "predictor.spaces",
    "NB201Space": "predictor.spaces",
    "get_space": "predictor.spaces",
    "list_spaces": "predictor.spaces",
    "MacroConfig": "predictor.costs",
    "nb201_costs": "predictor.costs",
    "to_networkx": "predictor.graphs",
    "to_pyg": "predictor.graphs",
    "dense_encoding": "predictor.graphs",
    "NasgcnError": "predictor.errors",
    "read_log": "predictor.logs",
    "write_log": "predictor.logs",
    "EvaluationLog": "predictor.logs",
    "GCNPredictor": "predictor.gcn",
    "LookupTable": "predictor.lookup",
    "HardwareTable": "predictor.hardware",
    "CostModel": "predictor.cost_model",
    "query": "predictor.query",
    "pareto_front": "predictor.query",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'predictor' has no attribute {name!r}")
