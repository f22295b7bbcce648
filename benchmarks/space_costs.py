"""Benchmark: the whole NB201 space (15,625 cells) through the vectorized path vs a naive per-cell loop.

Fast path: enumerate the op ids, isomorphism classes (cold: a fresh space object,
so the class table is built inside the timing), dead cells, exact costs, the
canonical strings, and the dense encoding as torch tensors (one-hot node types
``(n, 8, 7)`` plus the shared adjacency) - what a predictor consumes.

Naive baseline, measured in the same run: for every architecture, parse its
string, build a networkx graph and a PyG ``Data``, sum costs over the graph's
nodes, find dead cells with a path search and hash the pruned cell graph with
Weisfeiler-Lehman for isomorphism (an approximation of the exact
classes, there for its cost). It is timed on a sample (``--naive-sample``)
and extrapolated to the whole space unless ``--full`` is given; the table says so.

Run: ``python benchmarks/space_costs.py`` (target: fast path under 0.2 s in all).
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from predictor.costs import MacroConfig, nb201_costs
from predictor.graphs import dense_encoding, to_networkx, to_pyg
from predictor.spaces import NB201Space

TARGET_S = 0.2


def best_of(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def fast_steps(cfg: MacroConfig) -> dict[str, Callable[[], object]]:
    """Each step of the vectorized path; state is passed through a dict so steps time separately."""
    state: dict[str, object] = {}

    def enumerate_ids():
        state["space"] = NB201Space()  # fresh instance: no cached isomorphism table
        state["ids"] = state["space"].all_ids()

    def iso():
        state["iso"] = state["space"].iso_class(state["ids"])

    def dead():
        state["dead"] = state["space"].is_dead(state["ids"])

    def costs():
        state["costs"] = nb201_costs(state["ids"], cfg)

    def strings():
        state["strings"] = state["space"].decode(state["ids"])

    def canonical():
        # Each cell's isomorphism-class representative, as a string.
        rep = state["space"].iso_representative(state["ids"])
        state["canonical"] = np.asarray(state["strings"], dtype=object)[rep]

    def dense():
        types, adj = dense_encoding(state["ids"])
        x = torch.nn.functional.one_hot(torch.from_numpy(types), num_classes=7).float()
        state["dense"] = (x, torch.from_numpy(adj))

    return {
        "enumerate all_ids": enumerate_ids,
        "iso_class (cold)": iso,
        "is_dead": dead,
        "nb201_costs": costs,
        "decode strings": strings,
        "canonical strings": canonical,
        "dense_encoding -> torch": dense,
    }


_KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 9}


def naive_one(arch: str, cfg: MacroConfig) -> tuple[str, bool, int]:
    """Everything for one cell the slow way: graph objects, per-node sums, path search, WL hash."""
    import networkx as nx

    g = to_networkx(arch, view="ops")
    to_pyg(arch)
    cell_params = 0
    for c in cfg.stage_channels():
        for _node, op in g.nodes(data="op"):
            k = _KERNEL.get(op, 0)
            if k:
                cell_params += cfg.cells * (k * c * c + 2 * c)
    cell = to_networkx(arch, view="cell")
    cell.remove_edges_from([(u, v) for u, v, op in cell.edges(data="op") if op == "none"])
    dead = not nx.has_path(cell, 0, 3)
    live = cell.subgraph(n for n in cell if nx.has_path(cell, 0, n) and nx.has_path(cell, n, 3))
    iso_hash = nx.weisfeiler_lehman_graph_hash(live, edge_attr="op") if not dead else "dead"
    return iso_hash, dead, cell_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats (best is reported)")
    parser.add_argument("--naive-sample", type=int, default=1000, help="cells timed in the naive loop")
    parser.add_argument("--full", action="store_true", help="run the naive loop over all 15,625 cells")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message="The hashes produced for directed graphs")
    cfg = MacroConfig()

    # Warm up imports and lazy library state once, outside the timings.
    warm = NB201Space()
    naive_one(warm.format([3] * 6), cfg)
    for step in fast_steps(cfg).values():
        step()

    # Fast path: each repeat runs every step in order; per-step best over repeats.
    per_step: dict[str, list[float]] = {}
    totals = []
    for _ in range(args.repeats):
        total = 0.0
        for name, step in fast_steps(cfg).items():
            t = time.perf_counter()
            step()
            dt = time.perf_counter() - t
            per_step.setdefault(name, []).append(dt)
            total += dt
        totals.append(total)
    fast_total = min(totals)

    space = NB201Space()
    strings = space.decode(space.all_ids())
    n_naive = len(strings) if args.full else min(args.naive_sample, len(strings))
    sample = [strings[i] for i in np.random.default_rng(0).choice(len(strings), n_naive, replace=False)]
    t = time.perf_counter()
    for s in sample:
        naive_one(s, cfg)
    naive_measured = time.perf_counter() - t
    naive_total = naive_measured * len(strings) / n_naive

    print(
        f"NB201 whole space ({len(strings):,} cells) - python {platform.python_version()}, torch {torch.__version__}, "
        f"{args.threads} torch thread(s), best of {args.repeats}"
    )
    print(f"{'step':<28}{'time (ms)':>12}")
    for name, times in per_step.items():
        print(f"{name:<28}{1e3 * min(times):>12.2f}")
    print("-" * 40)
    print(
        f"{'fast path total':<28}{1e3 * fast_total:>12.2f}   (target < {1e3 * TARGET_S:.0f} ms: "
        f"{'PASS' if fast_total < TARGET_S else 'FAIL'})"
    )
    how = (
        "measured on all cells"
        if args.full
        else f"measured on {n_naive:,} cells, extrapolated x{len(strings) / n_naive:.2f}"
    )
    print(
        f"{'naive per-cell loop':<28}{1e3 * naive_total:>12.2f}   ({how}: {1e3 * naive_measured / n_naive:.3f} ms/cell)"
    )
    print(f"{'speedup':<28}{naive_total / fast_total:>11.0f}x")
    # Sanity: the naive loop agrees with the fast path on dead cells and costs for the sample.
    ids = space.encode(sample)
    dead_fast = space.is_dead(ids)
    params_fast = nb201_costs(ids, cfg)["params"] - nb201_costs(np.zeros((1, 6), dtype=np.int64), cfg)["params"]
    results = [naive_one(s, cfg) for s in sample[:200]]
    assert [r[1] for r in results] == dead_fast[:200].tolist(), "naive and fast dead-cell flags differ"
    assert [r[2] for r in results] == params_fast[:200].tolist(), "naive and fast parameter counts differ"


if __name__ == "__main__":
    main()
