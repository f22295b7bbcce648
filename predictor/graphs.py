"""Architectures as graphs: networkx for inspection, PyG ``Data`` and dense tensors for models.

Every space supplies its own graph view (:attr:`SearchSpace.adjacency`, :meth:`SearchSpace.node_types`);
this module only turns it into the formats users know. NB201 ("ops-on-nodes" view, the standard input
of GCN predictors): node 0 is the cell input, nodes 1..6 are the six edge ops in slot order (attribute
``op``; ``none`` ops are kept so that every cell has the same 8 nodes), node 7 is the cell output; a
directed edge u→v means v consumes u's result. Chain spaces: a path input → layer 1 → … → output whose
layer nodes are typed by (layer, block). The adjacency is the same for all architectures of a space;
the architecture lives in the node types. ``view="cell"`` (spaces with ``edges``, i.e. NB201) instead
gives the feature-map nodes with the op on each edge.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from .errors import NasgcnError
from .spaces import SearchSpace, get_space

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx
    import torch
    from torch_geometric.data import Data


def _ids(arch: str | Iterable[int], space: SearchSpace) -> np.ndarray:
    if isinstance(arch, str):
        return np.asarray(space.parse(arch), dtype=np.int64)
    ids = np.asarray(list(arch), dtype=np.int64)
    return space.validate_ids(ids[None, :])[0]


def to_networkx(arch: str | Iterable[int], view: str = "ops", space: str | SearchSpace = "nb201") -> "nx.DiGraph":
    """A ``networkx.DiGraph`` of one architecture (see module docstring)."""
    import networkx as nx

    sp = get_space(space)
    ids = _ids(arch, sp)
    g = nx.DiGraph(arch_str=sp.format(ids), view=view, space=sp.name)
    if view == "cell":
        edges = getattr(sp, "edges", None)
        if edges is None:
            raise NasgcnError(f"space {sp.name!r} has no cell view (it is a chain); use view='ops'")
        num_nodes = int(getattr(sp, "num_nodes", max(d for _, d in edges) + 1))
        for node in range(num_nodes):
            g.add_node(node, role="input" if node == 0 else "output" if node == num_nodes - 1 else "hidden")
        for (src, dst), op in zip(edges, ids, strict=True):
            g.add_edge(src, dst, op=sp.ops[op])
        return g
    if view != "ops":
        raise NasgcnError(f"unknown graph view {view!r}; use 'ops' or 'cell'")
    types = sp.node_types(ids[None, :])[0]
    last = len(types) - 1
    for node, t in enumerate(types):
        g.add_node(node, op=sp.node_type_names[t], slot=node - 1 if 0 < node < last else None)
    src, dst = np.nonzero(sp.adjacency)
    g.add_edges_from(zip(src.tolist(), dst.tolist(), strict=True))
    return g


def edge_index(space: str | SearchSpace = "nb201") -> "torch.Tensor":
    """The fixed ``edge_index`` (2, E) of a space's graph view (NB201: 10 edges)."""
    import torch

    src, dst = np.nonzero(get_space(space).adjacency)
    return torch.as_tensor(np.stack([src, dst]), dtype=torch.long)


def to_pyg(arch: str | Iterable[int], y: float | None = None, space: str | SearchSpace = "nb201") -> "Data":
    """``torch_geometric.data.Data`` with one-hot node types ``x`` (nodes × types) and ``edge_index``."""
    import torch
    from torch_geometric.data import Data

    sp = get_space(space)
    ids = _ids(arch, sp)
    types = torch.as_tensor(sp.node_types(ids[None, :])[0])
    x = torch.nn.functional.one_hot(types, num_classes=sp.num_node_types).float()
    data = Data(x=x, edge_index=edge_index(sp), node_type=types)
    if y is not None:
        data.y = torch.tensor([float(y)])
    return data


def dense_encoding(op_ids: np.ndarray, space: str | SearchSpace = "nb201") -> tuple[np.ndarray, np.ndarray]:
    """Batched encoding of many architectures: node types ``(n, nodes)`` and the shared adjacency.

    This is what the vectorized models consume; no graph objects are built.
    """
    sp = get_space(space)
    return sp.node_types(op_ids), sp.adjacency.copy()
