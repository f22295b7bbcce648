"""The report's figures: each answers one question, with units and ranges fitted to the data.

Every function draws one PNG and returns a :class:`Figure` with the axis labels and limits it
actually used (read back from matplotlib), so tests check ranges on the data, not on pixels.
Accuracy axes never leave [0, 100]: values outside (an extrapolating predictor) are drawn at the
edge and counted in ``Figure.clipped`` so the caption can say so.

Why a module of its own: :mod:`supernet.report` decides what to say; this module only draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from predictor.io import atomic_path

ACC_RANGE = (0.0, 100.0)
PICK_MARKERS = "oDsP^v"


@dataclass
class Figure:
    """One drawn plot: its file name and the axes as drawn (for captions and tests)."""

    file: str
    xlabel: str
    ylabel: str
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    clipped: int = 0  # accuracy values outside [0, 100] drawn at the edge
    hidden: int = 0  # population points below the zoomed accuracy axis
    extra: dict[str, Any] = field(default_factory=dict)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _finish(fig: Any, ax: Any, path: Path, **kw: Any) -> Figure:
    """Save atomically and return the axes as drawn."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    info = Figure(
        file=path.name,
        xlabel=ax.get_xlabel(),
        ylabel=ax.get_ylabel(),
        xlim=tuple(float(v) for v in ax.get_xlim()),
        ylim=tuple(float(v) for v in ax.get_ylim()),
        **kw,
    )
    _plt().close(fig)
    return info


def cost_label(column: str) -> str:
    """Axis label with units for a cost column (``flops_m`` -> ``FLOPs (M MACs)``)."""
    from predictor.hardware import infer_unit

    named = {"flops_m": "FLOPs (M MACs)", "params_m": "parameters (M)"}
    if column in named:
        return named[column]
    unit = infer_unit(column)
    pretty = column.replace("_", " ")
    return f"{pretty} ({unit})" if unit else pretty


def cost_unit(column: str) -> str:
    """The unit of a cost column for running text (``flops_m`` -> ``M MACs``); the name when unitless."""
    from predictor.hardware import infer_unit

    return infer_unit(column) or column


def accuracy_limits(*values: Any, pad: float = 0.08, min_span: float = 1.0) -> tuple[float, float]:
    """Data range of accuracies (%) with a margin, inside [0, 100], at least ``min_span`` wide."""
    v = np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in values]) if values else np.array([])
    v = np.clip(v[np.isfinite(v)], *ACC_RANGE)
    if not len(v):
        return ACC_RANGE
    lo, hi = float(v.min()), float(v.max())
    span = max(hi - lo, min_span)
    mid = (lo + hi) / 2
    lo, hi = min(lo, mid - span / 2) - pad * span, max(hi, mid + span / 2) + pad * span
    if lo < ACC_RANGE[0]:
        lo, hi = ACC_RANGE[0], min(ACC_RANGE[1], hi - lo)
    if hi > ACC_RANGE[1]:
        lo, hi = max(ACC_RANGE[0], lo - (hi - ACC_RANGE[1])), ACC_RANGE[1]
    return lo, hi


def _clip(v: Any) -> tuple[np.ndarray, int]:
    a = np.asarray(v, dtype=np.float64)
    out = np.clip(a, *ACC_RANGE)
    return out, int((np.isfinite(a) & (out != a)).sum())


def plot_holdout(y: np.ndarray, pred: np.ndarray, path: Path, target: str = "supernet accuracy") -> Figure:
    """Does the GCN rank unseen architectures like the supernet does? (held-out scatter, y = x line)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    yc, c1 = _clip(y)
    pc, c2 = _clip(pred)
    lim = accuracy_limits(yc, pc)
    ax.plot(lim, lim, color="grey", lw=0.8, ls="--", label="prediction = measurement")
    ax.scatter(yc, pc, s=16, alpha=0.75, color="tab:blue", label="held-out architecture")
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_aspect("equal")
    ax.set_xlabel(f"measured {target} (%)")
    ax.set_ylabel(f"GCN prediction of {target} (%)")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    return _finish(fig, ax, path, clipped=c1 + c2)


def plot_pareto(
    population: Mapping[str, np.ndarray] | None,
    front: Mapping[str, np.ndarray],
    cost: str,
    path: Path,
    budget: float | None = None,
    picks: Mapping[str, tuple[float, float]] | None = None,
    measured: tuple[np.ndarray, np.ndarray] | None = None,
    population_label: str = "all architectures",
) -> Figure:
    """What accuracy does each cost buy? Population, the front (best predicted at each cost), the picks.

    The accuracy axis is zoomed on the front, the picks and the better half of the population, so
    the region a user chooses from is readable; how many points fall below it is returned.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    fx, (fy, clipped) = np.asarray(front[cost], dtype=np.float64), _clip(front["pred"])
    order = np.argsort(fx, kind="stable")
    fx, fy = fx[order], fy[order]
    pick_y = [v for _, v in (picks or {}).values()]
    pop_x = pop_y = None
    if population is not None and cost in population:
        pop_x = np.asarray(population[cost], dtype=np.float64)
        pop_y, c = _clip(population["pred"])
        clipped += c
    floor_src = [fy, pick_y]
    if pop_y is not None and len(pop_y):
        floor_src.append([np.nanquantile(pop_y, 0.5)])
    if measured is not None and len(measured[1]):
        floor_src.append([np.nanquantile(_clip(measured[1])[0], 0.5)])
    lo = accuracy_limits(*floor_src)[0]
    hi = accuracy_limits(fy, pick_y, pop_y if pop_y is not None else [], measured[1] if measured else [])[1]
    hidden = 0
    if pop_y is not None:
        ax.scatter(pop_x, pop_y, s=3, color="0.78", label=population_label, rasterized=True, zorder=1)
        hidden = int((pop_y < lo).sum())
    if measured is not None and len(measured[0]):
        my, _ = _clip(measured[1])
        ax.scatter(
            measured[0],
            my,
            s=10,
            color="0.25",
            marker="x",
            lw=0.8,
            zorder=2,
            label="labelled (measured on the supernet)",
        )
    if budget is not None:
        ax.axvspan(
            budget,
            max(float(np.nanmax(pop_x)) if pop_x is not None else budget, budget) * 1.05 + 1e-9,
            color="tab:red",
            alpha=0.06,
            lw=0,
            zorder=0,
        )
        ax.axvline(budget, color="tab:red", ls=":", lw=1.2, label=f"budget: {cost_label(cost)} <= {budget:g}")
    for (name, (x, yv)), mk in zip((picks or {}).items(), PICK_MARKERS, strict=False):
        yv = float(np.clip(yv, *ACC_RANGE))
        ax.scatter(
            [x],
            [yv],
            marker=mk,
            s=150,
            facecolor="none",
            edgecolor="tab:red" if "shift" in name else "black",
            lw=1.6,
            zorder=4,
            label=name,
            clip_on=False,
        )
    # the front on top of everything (a pick on the front must not hide it), as a staircase
    ax.step(fx, fy, where="post", color="tab:blue", lw=1.4, zorder=5, clip_on=False)
    ax.plot(
        fx, fy, "o", color="tab:blue", ms=4, zorder=6, label=f"Pareto front ({len(fx)} architectures)", clip_on=False
    )
    ax.set_ylim(lo, hi)
    ax.set_xlabel(cost_label(cost))
    ax.set_ylabel("predicted accuracy (%)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.grid(alpha=0.3)
    return _finish(fig, ax, path, clipped=clipped, hidden=hidden)


def plot_trajectory(traj: Sequence[Mapping[str, Any]], path: Path, steps: int | None = None) -> Figure:
    """Does shifting keep finding better architectures? Each candidate, each generation's best, the best so far.

    A generation's best may fall: each generation scores *new* candidates (mutations, crossovers,
    random ones) while the best found so far are kept as parents; the best-so-far line never falls.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    gens = np.array([int(r["generation"]) for r in traj])
    rng = np.random.default_rng(0)
    allsc: list[float] = []
    colors = {"seed": "tab:purple", "mutation": "tab:orange", "crossover": "tab:green", "random": "0.6"}
    seen: set[str] = set()
    for r in traj:
        for c in r["candidates"]:
            origin = str(c.get("origin", "candidate"))
            lab = f"candidate ({origin})" if origin not in seen else None
            seen.add(origin)
            x = r["generation"] + rng.uniform(-0.12, 0.12)
            ax.scatter(
                [x],
                [float(np.clip(c["score"], *ACC_RANGE))],
                s=9,
                color=colors.get(origin, "0.6"),
                alpha=0.7,
                label=lab,
                zorder=2,
            )
            allsc.append(float(c["score"]))
    best = np.array([float(r["best_score"]) for r in traj])
    so_far = np.maximum.accumulate(best)
    ax.plot(gens, so_far, "-", color="black", lw=1.6, label="best so far (kept as parent)", zorder=4)
    ax.plot(gens, best, "o--", color="tab:blue", ms=4, lw=1, label="best new candidate of the generation", zorder=3)
    ax.plot(gens, [r["mean_score"] for r in traj], "s:", color="tab:cyan", ms=3, lw=1, label="mean of the generation")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(accuracy_limits(allsc, best))
    ax.set_xlabel("generation")
    ylab = "supernet validation accuracy (%)"
    ax.set_ylabel(ylab + (f"\nafter {steps} fine-tuning steps per candidate" if steps else ""))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.grid(alpha=0.3)
    return _finish(fig, ax, path, extra={"best_so_far": so_far.tolist()})


def plot_shift_ranking(rank: Mapping[str, np.ndarray], path: Path) -> Figure:
    """Did shifting change how the supernet scores the predictor's top candidates? (before -> after per rank)"""
    plt = _plt()
    n = len(rank["pred"])
    order = np.argsort(-np.asarray(rank["pred"], dtype=np.float64), kind="stable")
    x = np.arange(1, n + 1)
    before, c1 = _clip(np.asarray(rank["supernet_before"], dtype=np.float64)[order])
    after, c2 = _clip(np.asarray(rank["supernet_after"], dtype=np.float64)[order])
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    has_before = np.isfinite(before)
    for xi, b, a in zip(x[has_before], before[has_before], after[has_before], strict=True):
        ax.plot([xi, xi], [b, a], color="0.7", lw=0.8, zorder=1)
    if has_before.any():
        ax.scatter(x, before, s=22, facecolor="none", edgecolor="tab:blue", label="before shifting", zorder=2)
    ax.scatter(x, after, s=22, marker="^", color="tab:orange", label="after shifting", zorder=3)
    ax.set_xlim(0.3, n + 0.7)
    ax.set_ylim(accuracy_limits(before, after))
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("rank by GCN prediction (1 = predicted best)")
    ax.set_ylabel("supernet validation accuracy (%)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.grid(alpha=0.3)
    return _finish(fig, ax, path, clipped=c1 + c2)


def binomial_std(acc: np.ndarray, n: int | None) -> np.ndarray:
    """Standard error (percentage points) of an accuracy measured on ``n`` images."""
    p = np.clip(np.asarray(acc, dtype=np.float64) / 100.0, 0.0, 1.0)
    if not n:
        return np.full(p.shape, np.nan)
    return 100.0 * np.sqrt(np.maximum(p * (1 - p), 0.25 / n**2) / n)  # never zero at 100 %


def plot_retrained(
    labels: Sequence[str],
    acc: np.ndarray,
    err: np.ndarray,
    origins: Sequence[str],
    path: Path,
    xlabel: str,
    ties: Sequence[Sequence[int]] | None = None,
) -> Figure:
    """Which pick trains best stand-alone, and are the differences larger than the measurement error?

    A dot plot on an axis zoomed to the values (the range is stated in the caption) with +-1 standard
    error bars, best at the top.
    """
    plt = _plt()
    acc = np.asarray(acc, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    k = len(acc)
    fig, ax = plt.subplots(figsize=(6.0, 1.1 + 0.45 * k))
    y = np.arange(k)[::-1]
    e = np.where(np.isfinite(err), err, 0.0)
    for yi, a, ei, o in zip(y, acc, e, origins, strict=True):
        col = "tab:green" if o == "shifting" else "tab:orange"
        xerr = [[min(ei, a - ACC_RANGE[0])], [min(ei, ACC_RANGE[1] - a)]] if ei > 0 else None
        ax.errorbar([a], [yi], xerr=xerr, fmt="o", color=col, ms=6, capsize=3, lw=1.2)
    for group in ties or ():
        for i in group:
            ax.annotate("tie", (acc[i], y[i]), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=7)
    for o, col in (("shifting", "tab:green"), ("lookup", "tab:orange")):
        if o in origins:
            ax.plot([], [], "o", color=col, label=f"{o} pick")
    lim = accuracy_limits(acc - e, acc + e, min_span=0.5, pad=0.12)
    ax.set_xlim(lim)
    ax.set_ylim(-0.6, k - 0.4)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.grid(alpha=0.3, axis="x")
    return _finish(fig, ax, path)
