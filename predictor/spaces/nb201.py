"""NAS-Bench-201's cell space: 5 ops on the 6 edges of a 4-node DAG (15,625 cells).

Conventions (shared by every module of the package):

* **Ops** ``OPS`` in NAS-Bench-201's order; an op id is a position in that tuple.
* **Slots** ``EDGES`` are the 6 edges ``(src, dst)`` in the order they appear in the
  canonical string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``: 1←0, 2←0, 2←1, 3←0, 3←1, 3←2.
* **Index** of an architecture is the base-5 number of its op ids, edge 1←0 most
  significant: index 0 is all ``none``, index 15,624 all ``avg_pool_3x3``. This is
  *not* the NAS-Bench-201 file index; tables are joined by ``arch_str``.
* **Isomorphism**: a node computes the sum of its incoming edges, ``skip_connect`` is
  the identity and ``none`` the zero map, so two cells are equivalent when their
  output is the same formal sum of op-paths, following NAS-Bench-201's convention
  for zeros (see ``_iso_keys``); this reproduces its 6,466 classes exactly. A cell
  is **dead** when its output is identically zero (341 cells).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import ArchitectureError
from .base import SearchSpace, number_classes, register_space

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NUM_NODES = 4

# Ops-on-nodes graph view (the GCN's input): node 0 = cell input, nodes 1..6 = the
# six edges' ops in slot order, node 7 = cell output. Node-type ids: 0 input,
# 1..5 op id + 1, 6 output.
OPS_VIEW_NODES = 8
NODE_TYPES: tuple[str, ...] = ("input",) + OPS + ("output",)

_OP_INDEX = {op: i for i, op in enumerate(OPS)}
_NODE_RE = re.compile(r"^\|(.*)\|$")

# 64-bit mixing constants (splitmix64 finaliser); any odd constants would do.
_SEED_INPUT = np.uint64(0x9E3779B97F4A7C15)
_OP_SALT = np.array([0, 0, 0x632BE59BD9B4E019, 0x85EBCA77C2B2AE63, 0xC2B2AE3D27D4EB4F], dtype=np.uint64)


def _ops_view_adjacency() -> np.ndarray:
    """Fixed 8×8 adjacency (row = source) of the ops-on-nodes view."""
    adj = np.zeros((OPS_VIEW_NODES, OPS_VIEW_NODES), dtype=np.float32)
    for k, (src, dst) in enumerate(EDGES):
        node = k + 1
        if src == 0:
            adj[0, node] = 1.0
        if dst == NUM_NODES - 1:
            adj[node, OPS_VIEW_NODES - 1] = 1.0
        for k2, (src2, _dst2) in enumerate(EDGES):
            if src2 == dst:
                adj[node, k2 + 1] = 1.0
    return adj


OPS_VIEW_ADJACENCY = _ops_view_adjacency()


def _mix(h: np.ndarray, salt: np.ndarray) -> np.ndarray:
    """A strong 64-bit hash of ``h`` keyed by ``salt`` (wrap-around uint64 arithmetic)."""
    z = h + salt
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _iso_keys(op_ids: np.ndarray) -> np.ndarray:
    """NAS-Bench-201's isomorphism key of each row, as a string.

    A node's key is the sorted, ``+``-joined list of its input terms: ``#`` for a
    ``none`` edge or a source whose key is exactly ``#``; the source's key for
    ``skip_connect``; ``(source)@op`` otherwise; the input node's key is ``0``.
    As in NAS-Bench-201, a node summing several zero terms (``#+#``) is not
    treated as zero downstream, and skip terms are sorted before being joined, so
    the exact characters matter: this spelling yields the published 6,466 classes.

    Keys of nodes 1 and 2 depend on 1 and 3 edges only, so they are built once per
    distinct prefix (5 and 125 strings); only node 3 is built per row.
    """

    def term(op: int, src: str) -> str:
        if op == 0 or src == "#":
            return "#"
        if op == 1:
            return src
        return f"({src})@{OPS[op]}"

    def node(terms: list[str]) -> str:
        return "+".join(sorted(terms))

    n1 = [node([term(a, "0")]) for a in range(5)]
    n2 = [node([term(b, "0"), term(c, n1[a])]) for a in range(5) for b in range(5) for c in range(5)]
    ids = np.asarray(op_ids)
    i1 = ids[:, 0]
    i2 = ids[:, 0] * 25 + ids[:, 1] * 5 + ids[:, 2]
    keys = [
        node([term(d, "0"), term(e, n1[a]), term(f, n2[b])])
        for a, b, d, e, f in zip(
            i1.tolist(), i2.tolist(), ids[:, 3].tolist(), ids[:, 4].tolist(), ids[:, 5].tolist(), strict=True
        )
    ]
    return np.asarray(keys, dtype=object)


class NB201Space(SearchSpace):
    """The NAS-Bench-201 cell space. Stateless apart from cached whole-space arrays."""

    name = "nb201"
    ops = OPS
    num_slots = len(EDGES)
    edges = EDGES
    num_nodes = NUM_NODES
    slot_names = tuple(f"edge {d}<-{s}" for s, d in EDGES)
    macro_description = "NAS-Bench-201 TinyNetwork: stem, 3 stages of N cells at C/2C/4C, 2 residual reductions"

    # ----- strings ---------------------------------------------------------------
    def parse(self, arch_str: str) -> tuple[int, ...]:
        if not isinstance(arch_str, str):
            raise ArchitectureError(f"architecture must be a string, got {type(arch_str).__name__}")
        s = arch_str.strip()
        groups = s.split("+")
        example = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
        if len(groups) != NUM_NODES - 1:
            raise ArchitectureError(
                f"malformed NB201 architecture {arch_str!r}: expected 3 node groups joined by '+', "
                f"got {len(groups)}; example: {example}"
            )
        ids: list[int] = []
        for node, group in enumerate(groups, start=1):
            m = _NODE_RE.match(group)
            if not m:
                raise ArchitectureError(
                    f"malformed NB201 architecture {arch_str!r}: node group {group!r} must look like |op~j|...|"
                )
            edges = m.group(1).split("|")
            if len(edges) != node:
                raise ArchitectureError(
                    f"malformed NB201 architecture {arch_str!r}: node {node} needs {node} input edge(s), "
                    f"got {len(edges)}"
                )
            for j, token in enumerate(edges):
                op, sep, src = token.partition("~")
                if not sep or src != str(j):
                    raise ArchitectureError(
                        f"malformed NB201 architecture {arch_str!r}: edge {token!r} of node {node} "
                        f"must be written 'op~{j}'"
                    )
                if op not in _OP_INDEX:
                    raise ArchitectureError(f"unknown op {op!r} in {arch_str!r}; NB201 ops are: {', '.join(OPS)}")
                ids.append(_OP_INDEX[op])
        return tuple(ids)

    def format(self, op_ids: Sequence[int]) -> str:
        ids = [int(i) for i in op_ids]
        if len(ids) != self.num_slots or min(ids) < 0 or max(ids) >= len(OPS):
            raise ArchitectureError(f"an NB201 encoding is 6 op ids in 0..4, got {list(op_ids)!r}")
        names = [OPS[i] for i in ids]
        return f"|{names[0]}~0|+|{names[1]}~0|{names[2]}~1|+|{names[3]}~0|{names[4]}~1|{names[5]}~2|"

    def decode(self, op_ids: np.ndarray) -> list[str]:
        # Vectorized over the op names: ~15x faster than formatting row by row.
        ids = self.validate_ids(np.atleast_2d(op_ids))
        names = np.asarray(OPS, dtype=object)[ids]
        return [f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|" for a, b, c, d, e, f in names.tolist()]

    # ----- structure -------------------------------------------------------------
    def node_hashes(self, op_ids: np.ndarray) -> np.ndarray:
        """Per-node uint64 hash of the formal sum each node computes; 0 means zero.

        Additive hashing makes the sum order-free (a multiset), ``skip_connect``
        passes its source's hash through, and other ops wrap it in a keyed mix.
        """
        ids = self.validate_ids(np.atleast_2d(op_ids))
        n = ids.shape[0]
        h = np.zeros((n, NUM_NODES), dtype=np.uint64)
        h[:, 0] = _SEED_INPUT
        with np.errstate(over="ignore"):
            for k, (src, dst) in enumerate(EDGES):
                op = ids[:, k]
                hs = h[:, src]
                term = np.where(op == 1, hs, _mix(hs, _OP_SALT[op]))
                term = np.where((op == 0) | (hs == 0), np.uint64(0), term)
                h[:, dst] += term
        return h

    def is_dead(self, op_ids: np.ndarray) -> np.ndarray:
        """True where the cell output is identically zero (every path hits ``none``)."""
        return self.node_hashes(op_ids)[:, NUM_NODES - 1] == 0

    @cached_property
    def _iso_tables(self) -> tuple[np.ndarray, np.ndarray]:
        return number_classes(_iso_keys(self.all_ids()))

    def _class_tables(self) -> tuple[np.ndarray, np.ndarray]:
        return self._iso_tables

    @cached_property
    def _all_ids_frozen(self) -> np.ndarray:
        ids = self.all_ids()
        ids.setflags(write=False)
        return ids

    def canonical_ids(self, op_ids: np.ndarray) -> np.ndarray:
        """Op ids of each row's class representative (its smallest-index member)."""
        return self._all_ids_frozen[self.iso_representative(op_ids)]

    # ----- graphs ----------------------------------------------------------------
    node_type_names = NODE_TYPES
    zero_node_types = (1,)  # the ``none`` op sends nothing

    @property
    def adjacency(self) -> np.ndarray:
        return OPS_VIEW_ADJACENCY

    def node_types(self, op_ids: np.ndarray) -> np.ndarray:
        """Node-type ids ``(n, 8)`` of the ops-on-nodes view (see ``NODE_TYPES``)."""
        ids = self.validate_ids(np.atleast_2d(op_ids))
        n = ids.shape[0]
        out = np.empty((n, OPS_VIEW_NODES), dtype=np.int64)
        out[:, 0] = 0
        out[:, 1:-1] = ids + 1
        out[:, -1] = len(NODE_TYPES) - 1
        return out

    # ----- exact costs -----------------------------------------------------------
    def macro_defaults(self) -> dict[str, Any]:
        from .nb201_costs import MacroConfig

        return dict(MacroConfig().__dict__)

    def costs(self, op_ids: np.ndarray, macro: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        from .nb201_costs import MacroConfig, nb201_costs

        return nb201_costs(op_ids, MacroConfig(**(macro or {})))

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["edges"] = [list(e) for e in EDGES]
        return info


register_space("nb201")(NB201Space)
