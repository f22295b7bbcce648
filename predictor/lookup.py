"""The full-space lookup table: every architecture with predicted accuracy and costs.

Built in one vectorized pass from a prediction vector in the space's index order
(:meth:`SearchSpace.all_ids`). Keyed by ``arch_str``; joins and queries use it.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from .costs import MacroConfig
from .errors import NasgcnError
from .table import Frame, read_csv, space_frame, write_csv

REQUIRED_COLUMNS = ("arch_str", "iso_class", "pred", "pred_std", "params_m", "flops_m")


class LookupTable:
    """Columns (numpy arrays of equal length) plus metadata.

    Standard columns: ``arch_str``, ``index``, ``iso_class``, ``dead``, ``params_m``,
    ``flops_m``, ``pred``, ``pred_std``; hardware joins add more (e.g. ``pixel3_latency``).
    """

    def __init__(self, columns: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> None:
        cols = {k: np.asarray(v) for k, v in columns.items()}
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            raise NasgcnError(f"lookup table columns differ in length: { {k: len(v) for k, v in cols.items()} }")
        if "arch_str" not in cols:
            raise NasgcnError("a lookup table needs an 'arch_str' column")
        self.columns: Frame = cols
        self.meta: dict[str, Any] = dict(meta or {})

    # ----- construction ------------------------------------------------------------
    @classmethod
    def build(
        cls,
        pred: np.ndarray,
        pred_std: np.ndarray | None = None,
        space: str = "nb201",
        cfg: MacroConfig | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> "LookupTable":
        """Table of the whole space from predictions in index order."""
        frame = space_frame(space, cfg)
        n = len(frame["arch_str"])
        pred = np.asarray(pred, dtype=np.float64).reshape(-1)
        if pred.shape[0] != n:
            raise NasgcnError(f"expected {n} predictions (one per architecture, index order), got {pred.shape[0]}")
        std = np.zeros(n) if pred_std is None else np.asarray(pred_std, dtype=np.float64).reshape(-1)
        if std.shape[0] != n:
            raise NasgcnError(f"pred_std has {std.shape[0]} values, expected {n}")
        frame["pred"] = pred
        frame["pred_std"] = std
        info = {"space": space, "macro": (cfg or MacroConfig()).__dict__, "flops": "MACs (millions)"}
        info.update(meta or {})
        return cls(frame, info)

    # ----- I/O ---------------------------------------------------------------------
    def to_csv(self, path: str | os.PathLike) -> None:
        """Write atomically as CSV, metadata in ``<path>.meta.json``."""
        write_csv(path, self.columns, self.meta)

    @classmethod
    def read_csv(cls, path: str | os.PathLike) -> "LookupTable":
        frame, meta = read_csv(path)
        missing = [c for c in ("arch_str",) if c not in frame]
        if missing:
            raise NasgcnError(f"{path}: not a lookup table, missing column(s) {missing}")
        return cls(frame, meta)

    # ----- access --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.columns["arch_str"])

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            raise NasgcnError(f"no column {name!r}; columns: {', '.join(self.columns)}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def __repr__(self) -> str:
        return f"LookupTable({len(self)} rows, columns={list(self.columns)})"
