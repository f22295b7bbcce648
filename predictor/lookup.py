"""The full-space lookup table: every architecture with predicted accuracy and costs.

Built in one vectorized pass from a prediction vector in the space's index order
(:meth:`SearchSpace.all_ids`). Keyed by ``arch_str``; joins and queries use it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import NasgcnError
from .table import ColumnTable, Frame, read_keyed, space_frame, write_csv, write_table
from .targets import clip, parse_range, range_to_json

if TYPE_CHECKING:  # pragma: no cover
    from .hardware import HardwareTable

REQUIRED_COLUMNS = ("arch_str", "iso_class", "pred", "pred_std", "params_m", "flops_m")


class LookupTable(ColumnTable):
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
        cfg: Mapping[str, Any] | Any = None,
        meta: Mapping[str, Any] | None = None,
        macro: Mapping[str, Any] | None = None,
        target_range: Sequence[float | None] | str | None = None,
    ) -> "LookupTable":
        """Table of the whole space from predictions in index order (:meth:`SearchSpace.all_ids`).

        Non-finite predictions are refused (a broken model must not become a table). ``target_range``
        (``(low, high)``, ``None`` for an open side; see :mod:`predictor.targets`) clips ``pred`` to what
        the target can be and is recorded in ``meta["target_range"]``; ``pred_std`` stays the spread
        the model gave, so an interval ``pred +- k * pred_std`` should be clipped to the range too.

        Cost columns come from ``space.costs``; ``macro`` (or, as before, ``cfg``: a dict or a
        dataclass such as NB201's ``MacroConfig``) overrides the space's macro-network options.
        Spaces too large to enumerate have no table: search them (``nasgcn search``).
        """
        from .spaces import get_space

        sp = get_space(space)
        sp.require_enumerable("a lookup table")
        opts = macro if macro is not None else cfg
        if opts is not None and not isinstance(opts, Mapping):
            opts = dict(vars(opts))
        frame = space_frame(sp.name, opts)
        n = len(frame["arch_str"])
        pred = np.asarray(pred, dtype=np.float64).reshape(-1)
        if pred.shape[0] != n:
            raise NasgcnError(f"expected {n} predictions (one per architecture, index order), got {pred.shape[0]}")
        std = np.zeros(n) if pred_std is None else np.asarray(pred_std, dtype=np.float64).reshape(-1)
        if std.shape[0] != n:
            raise NasgcnError(f"pred_std has {std.shape[0]} values, expected {n}")
        bad = ~np.isfinite(pred) | ~np.isfinite(std)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise NasgcnError(
                f"{int(bad.sum()):,} of {n:,} predictions (or their std) are not finite, e.g. row {first} "
                f"({frame['arch_str'][first]}: {pred[first]} +- {std[first]}); refusing to write them as a table"
            )
        bounds = parse_range(target_range, "target_range")
        if bounds is not None:
            pred = clip(pred, bounds)
        frame["pred"] = pred
        frame["pred_std"] = std
        info = {"space": sp.name, "macro": {**sp.macro_defaults(), **dict(opts or {})}, "flops": "MACs (millions)"}
        if bounds is not None:
            info["target_range"] = range_to_json(bounds)
        info.update(meta or {})
        return cls(frame, info)

    @property
    def space(self) -> str:
        """The space the table was made for (``meta["space"]``; tables without one are NB201's)."""
        return str(self.meta.get("space", "nb201"))

    def check_space(self, space: str, what: str = "the lookup table") -> None:
        """Refuse a table made for another space than ``space`` (clear error naming ``what``)."""
        from .spaces import get_space

        get_space(space).check_compatible(self.meta.get("space"), what)

    # ----- I/O ---------------------------------------------------------------------
    def to_csv(self, path: str | os.PathLike) -> None:
        """Write atomically as CSV, metadata in ``<path>.meta.json``."""
        write_csv(path, self.columns, self.meta)

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically as CSV or Parquet (by suffix ``.parquet``); Parquet keeps the metadata inside."""
        write_table(path, self.columns, self.meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LookupTable":
        """Read a table written by :meth:`save` or :meth:`to_csv` (CSV or Parquet by suffix)."""
        frame, meta = read_keyed(path)  # rows, valid distinct arch strings, finite values (predictor.readers)
        return cls(frame, meta)

    @classmethod
    def read_csv(cls, path: str | os.PathLike, allow_empty: bool = False) -> "LookupTable":
        """Read a table (valid, distinct ``arch_str``; finite values); ``allow_empty`` accepts a header-only file."""
        frame, meta = read_keyed(path, allow_empty=allow_empty)
        return cls(frame, meta)

    # ----- access --------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"LookupTable({len(self)} rows, columns={list(self.columns)})"

    def take(self, rows: np.ndarray) -> "LookupTable":
        """A new table with the given rows, in the given order (metadata copied)."""
        rows = np.asarray(rows, dtype=np.int64)
        return LookupTable({k: v[rows] for k, v in self.columns.items()}, dict(self.meta))

    def records(self, columns: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts of plain Python values (NaN becomes None), e.g. for JSON."""
        names = list(columns) if columns is not None else list(self.columns)
        cols = [self[c].tolist() for c in names]
        out = []
        for values in zip(*cols, strict=False):
            out.append(
                {n: (None if isinstance(v, float) and v != v else v) for n, v in zip(names, values, strict=False)}
            )
        return out

    # ----- joins and queries ----------------------------------------------------------
    def join(
        self, hardware: "HardwareTable", columns: Iterable[str] | None = None, overwrite: bool = False
    ) -> "LookupTable":
        """This table plus the hardware table's cost columns, matched by ``arch_str``."""
        return hardware.join(self, columns=columns, overwrite=overwrite)

    def query(
        self,
        maximize: str = "pred",
        constraints: Mapping[str, float] | None = None,
        top_k: int | None = 10,
        unique: bool = False,
        z: float = 0.0,
        minimums: Mapping[str, float] | None = None,
        exclude_dead: bool = False,
        minimize: bool = False,
        min_distance: int = 0,
        clusters: np.ndarray | None = None,
        prior: Callable[[np.ndarray], np.ndarray] | None = None,
        prior_weight: float = 0.0,
    ) -> "LookupTable":
        """The best ``top_k`` rows under upper-bound ``constraints``, best first.

        Example: ``table.query(constraints={"pixel3_latency": 5.0, "flops_m": 100}, unique=True)``.
        ``z`` is the safety margin: a column ``c`` with a ``c_std`` column must satisfy
        ``c + z * c_std <= budget``. NaN costs (target cannot run it) never qualify.
        A diverse short list to retrain: ``min_distance=D`` keeps rows that differ from every
        better kept row in at least ``D`` slots; ``clusters`` (one label per architecture of the
        space, e.g. :func:`predictor.proposals.read_clusters`) takes each cluster's best first.
        A topology prior (``prior``: op ids -> standardized reward, e.g. :func:`predictor.prior.fit_prior`)
        ranks by ``maximize + prior_weight * reward`` instead; the picks carry ``prior`` (the reward)
        and ``prior_score`` columns.
        """
        from .query import query

        ops = groups = None
        table = self
        use_prior = prior is not None and prior_weight != 0
        if use_prior and (minimize or prior_weight < 0):
            raise NasgcnError("a prior adds a reward to a maximized column: use it without minimize, with a weight > 0")
        if min_distance > 0 or clusters is not None or use_prior:
            from .spaces import get_space

            sp = get_space(self.space)
            ops = sp.encode(self.columns["arch_str"].tolist())
            if use_prior:
                reward = np.asarray(prior(ops), dtype=np.float64).reshape(-1)
                if reward.shape[0] != len(self) or not np.isfinite(reward).all():
                    raise NasgcnError(
                        f"the prior must give one finite reward per row ({len(self)}); got {reward.shape[0]} values"
                    )
                base = np.asarray(self.columns[maximize], dtype=np.float64)
                table = LookupTable(
                    {**self.columns, "prior": reward, "prior_score": base + prior_weight * reward}, self.meta
                )
                maximize = "prior_score"
            if clusters is not None:
                labels = np.asarray(clusters, dtype=np.int64).reshape(-1)
                if labels.shape[0] != sp.size:
                    raise NasgcnError(
                        f"clusters has {labels.shape[0]} labels, expected one per architecture ({sp.size})"
                    )
                groups = labels[sp.index_of(ops)]
        rows = query(
            table.columns,
            maximize=maximize,
            constraints=constraints,
            minimums=minimums,
            top_k=top_k,
            unique=unique,
            z=z,
            exclude_dead=exclude_dead,
            minimize=minimize,
            min_distance=min_distance,
            ops=ops,
            groups=groups,
        )
        out = table.take(rows)
        out.meta["query"] = {
            "maximize": maximize,
            "minimize": minimize,
            "constraints": dict(constraints or {}),
            "minimums": dict(minimums or {}),
            "top_k": top_k,
            "unique": unique,
            "z": z,
            "min_distance": min_distance,
            "clusters": clusters is not None,
            "prior_weight": prior_weight if use_prior else 0.0,
        }
        return out

    def pareto(
        self,
        objective: str = "pred",
        costs: Sequence[str] | str = ("flops_m",),
        constraints: Mapping[str, float] | None = None,
        z: float = 0.0,
        unique: bool = False,
        minimums: Mapping[str, float] | None = None,
        exclude_dead: bool = False,
    ) -> "LookupTable":
        """Pareto front of ``objective`` (maximized) against one or two ``costs`` (minimized).

        ``constraints`` restrict the candidates first; ``unique`` keeps one member per
        isomorphism class. Sorted by the first cost.
        """
        from .query import feasible_mask, pareto_front

        cost_list = [costs] if isinstance(costs, str) else list(costs)
        mask = feasible_mask(self.columns, constraints, minimums, z=z, exclude_dead=exclude_dead)
        rows = pareto_front(self.columns, objective, cost_list, mask=mask, z=z)
        if unique and "iso_class" in self.columns and rows.size:
            _, first = np.unique(self.columns["iso_class"][rows], return_index=True)
            rows = rows[np.sort(first)]
        return self.take(rows)
