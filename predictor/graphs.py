"""Architectures as graphs: networkx for inspection, PyG ``Data`` and dense tensors for models.

Representation (NB201, "ops-on-nodes" view, the standard input of GCN predictors):
node 0 is the cell input, nodes 1..6 are the six edge ops in slot order (attribute
``op``; ``none`` ops are kept so that every cell has the same 8 nodes), node 7 is
the cell output. A directed edge u→v means v consumes u's result: the input feeds
every op leaving cell node 0, an op on edge j→i feeds every op leaving node i, and
ops entering node 3 feed the output. The adjacency is the same for all cells; the
architecture lives in the node features. ``view="cell"`` instead gives the 4
feature-map nodes with the op on each edge.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from .errors import NasgcnError
from .spaces import EDGES, NODE_TYPES, OPS, OPS_VIEW_ADJACENCY, get_space

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx
    import torch
    from torch_geometric.data import Data


def _ids(arch: str | Iterable[int]) -> np.ndarray:
    space = get_space("nb201")
    if isinstance(arch, str):
        return np.asarray(space.parse(arch), dtype=np.int64)
    ids = np.asarray(list(arch), dtype=np.int64)
    return space.validate_ids(ids[None, :])[0]


def to_networkx(arch: str | Iterable[int], view: str = "ops") -> "nx.DiGraph":
    """A ``networkx.DiGraph`` of one NB201 architecture (see module docstring)."""
    import networkx as nx

    ids = _ids(arch)
    g = nx.DiGraph(arch_str=get_space("nb201").format(ids), view=view)
    if view == "cell":
        for node in range(4):
            g.add_node(node, role="input" if node == 0 else "output" if node == 3 else "hidden")
        for (src, dst), op in zip(EDGES, ids, strict=True):
            g.add_edge(src, dst, op=OPS[op])
        return g
    if view != "ops":
        raise NasgcnError(f"unknown graph view {view!r}; use 'ops' or 'cell'")
    types = get_space("nb201").node_types(ids[None, :])[0]
    for node, t in enumerate(types):
        g.add_node(node, op=NODE_TYPES[t], slot=node - 1 if 0 < node < 7 else None)
    src, dst = np.nonzero(OPS_VIEW_ADJACENCY)
    g.add_edges_from(zip(src.tolist(), dst.tolist(), strict=True))
    return g


def edge_index() -> "torch.Tensor":
    """The fixed ``edge_index`` (2, 10) of the ops-on-nodes view."""
    import torch

    src, dst = np.nonzero(OPS_VIEW_ADJACENCY)
    return torch.as_tensor(np.stack([src, dst]), dtype=torch.long)


def to_pyg(arch: str | Iterable[int], y: float | None = None) -> "Data":
    """``torch_geometric.data.Data`` with one-hot node types ``x`` (8×7) and ``edge_index``."""
    import torch
    from torch_geometric.data import Data

    ids = _ids(arch)
    types = torch.as_tensor(get_space("nb201").node_types(ids[None, :])[0])
    x = torch.nn.functional.one_hot(types, num_classes=len(NODE_TYPES)).float()
    data = Data(x=x, edge_index=edge_index(), node_type=types)
    if y is not None:
        data.y = torch.tensor([float(y)])
    return data


def dense_encoding(op_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched encoding of many architectures: node types ``(n, 8)`` and the shared ``(8, 8)`` adjacency.

    This is what the vectorized models consume; no graph objects are built.
    """
    types = get_space("nb201").node_types(op_ids)
    return types, OPS_VIEW_ADJACENCY.copy()
