"""What a target metric can be: its declared range and the value of a cut-off cell, from its name.

Why: a regression network extrapolates freely (a predicted 100.74 % accuracy, a negative loss), and
cut-off cells, whose output does not depend on the input, score at chance whatever the network
thinks. Both facts belong to the *metric*, not to the model, so they are inferred from the target's
name here (one place) and can be overridden (``nasgcn fit --target-range LO,HI``,
``GCNPredictor(target_range=..., dead_value=...)``).

The name patterns are :data:`predictor.readers.METRIC_RANGES` (declared once, shared with the
readers that refuse out-of-range labels): accuracy [0, 100]; losses and costs (latency, energy,
params, FLOPs...) >= 0; anything else unbounded. A leading ``-`` (``nasgcn fit --lower-is-better``
fits ``-COL``) negates the range. The readers' finite cap on "open" sides (``MAX_ABS``) is an
input-sanity limit, not a bound of the metric, so it is read here as an open side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .errors import NasgcnError

__all__ = ["Range", "infer_range", "parse_range", "resolve_range", "chance_value", "metric_kind", "clip"]

Range = tuple[float, float]
UNBOUNDED: Range = (-math.inf, math.inf)


def _split(name: str) -> tuple[bool, str]:
    name = str(name).strip()
    return name.startswith("-"), name.lstrip("-")


def metric_kind(name: str | None) -> str:
    """``"accuracy"``, ``"loss"``, ``"cost"`` or ``"other"`` for a target name (ignoring a leading ``-``)."""
    from .readers import ACCURACY, LOSS, NON_NEGATIVE, metric_range

    if not name:
        return "other"
    found = metric_range(_split(name)[1])
    return {id(ACCURACY): "accuracy", id(LOSS): "loss", id(NON_NEGATIVE): "cost"}.get(id(found), "other")


def infer_range(name: str | None) -> Range:
    """The declared range of a target from its name (see module docstring); unbounded when unknown."""
    from .readers import MAX_ABS, metric_range

    if not name:
        return UNBOUNDED
    neg, base = _split(name)
    found = metric_range(base)
    lo = -math.inf if found.low <= -MAX_ABS else float(found.low)
    hi = math.inf if found.high >= MAX_ABS else float(found.high)
    return (-hi, -lo) if neg else (lo, hi)


def parse_range(text: str | Sequence[float | None] | None, where: str = "--target-range") -> Range | None:
    """``"LO,HI"`` (either side may be empty, ``inf`` or ``-inf``) or a pair (``None`` = unbounded) -> range."""
    if text is None:
        return None
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 2:
            raise NasgcnError(f"{where}: expected LO,HI (e.g. 0,100 or 0, for >= 0), got {text!r}")
        try:
            pair = [float(p) if p else None for p in parts]
        except ValueError:
            raise NasgcnError(f"{where}: expected two numbers LO,HI, got {text!r}") from None
    else:
        pair = list(text)
        if len(pair) != 2:
            raise NasgcnError(f"{where}: expected a (low, high) pair, got {text!r}")
    lo = -math.inf if pair[0] is None else float(pair[0])
    hi = math.inf if pair[1] is None else float(pair[1])
    if math.isnan(lo) or math.isnan(hi) or lo >= hi:
        raise NasgcnError(f"{where}: need LO < HI, got {text!r}")
    return (lo, hi)


def resolve_range(declared: str | Sequence[float | None] | None, name: str | None) -> Range:
    """An explicit range if given, else the one inferred from the target's name."""
    parsed = parse_range(declared, "target_range")
    return parsed if parsed is not None else infer_range(name)


def range_to_json(bounds: Range) -> list[float | None]:
    """JSON cannot hold infinities: unbounded sides become ``None``."""
    return [None if math.isinf(v) else float(v) for v in bounds]


def chance_value(name: str | None, num_classes: int | None, percent: bool = True) -> float | None:
    """What a cell whose output ignores its input scores on a balanced ``num_classes``-way task.

    Accuracy: ``100 / num_classes`` (``1 / num_classes`` when the labels are fractions); cross-entropy
    loss: ``log(num_classes)``; negated for ``-COL``. ``None`` when unknown (other metrics, no class count):
    a cost such as latency is not determined by the cut-off.
    """
    if not num_classes or num_classes < 2:
        return None
    kind = metric_kind(name)
    if kind == "accuracy":
        value = (100.0 if percent else 1.0) / num_classes
    elif kind == "loss":  # the readers' loss names: cross-entropy (loss, nll, ce)
        value = math.log(num_classes)
    else:
        return None
    return -value if _split(str(name))[0] else value


def clip(values: np.ndarray, bounds: Range) -> np.ndarray:
    """``values`` clipped to ``bounds`` (NaN stays NaN: a broken prediction must stay visible)."""
    lo, hi = bounds
    if math.isinf(lo) and math.isinf(hi):
        return values
    return np.clip(values, lo, hi)


def clip_costs(values: np.ndarray, what: str) -> np.ndarray:
    """Costs cannot be negative: a linear model fitted on few noisy timings can extrapolate below 0.

    Clips the mean at 0 (NaN, "cannot run", stays NaN; the spread is left as the model's) and says
    in one log line how many predictions it clipped, so a poor fit is visible rather than silent.
    """
    low = values < 0
    n = int(np.count_nonzero(low))
    if n:
        import logging

        logging.getLogger(__name__).info(
            f"{what}: {n:,} of {values.size:,} predicted costs were below 0 and are clipped to 0 "
            "(a fit on few or noisy measurements; measure more architectures to fix)"
        )
        values = np.where(low, 0.0, values)
    return values
