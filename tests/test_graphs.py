"""Graph views of an architecture: networkx (ops and cell views), PyG ``Data``, dense encoding."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from predictor.errors import ArchitectureError, NasgcnError
from predictor.graphs import dense_encoding, edge_index, to_networkx, to_pyg
from predictor.spaces import EDGES, NODE_TYPES, OPS, OPS_VIEW_ADJACENCY, get_space

SPACE = get_space("nb201")
ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
IDS = SPACE.parse(ARCH)

# Ops-on-nodes edges by hand: input -> ops leaving node 0 (slots 0, 1, 3 = nodes 1, 2, 4);
# op 1->0 (node 1) feeds ops leaving cell node 1 (slots 2, 4); ops into cell node 2 (nodes 2, 3)
# feed the op leaving it (node 6); ops into cell node 3 (nodes 4, 5, 6) feed the output (7).
OPS_EDGES = {(0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 6), (3, 6), (4, 7), (5, 7), (6, 7)}


def test_ops_view_networkx():
    g = to_networkx(ARCH)
    assert isinstance(g, nx.DiGraph)
    assert g.number_of_nodes() == 8 and g.number_of_edges() == 10
    assert set(g.edges) == OPS_EDGES
    assert nx.is_directed_acyclic_graph(g)
    assert [g.nodes[n]["op"] for n in range(8)] == ["input", *[OPS[i] for i in IDS], "output"]
    assert [g.nodes[n]["slot"] for n in range(8)] == [None, 0, 1, 2, 3, 4, 5, None]
    assert g.graph["arch_str"] == ARCH and g.graph["view"] == "ops"
    assert list(nx.topological_sort(g))[0] == 0 and list(nx.topological_sort(g))[-1] == 7
    # Every op node lies on a path from input to output.
    assert all(nx.has_path(g, 0, n) and nx.has_path(g, n, 7) for n in range(1, 7))


def test_cell_view_networkx():
    g = to_networkx(ARCH, view="cell")
    assert g.number_of_nodes() == 4 and g.number_of_edges() == 6
    assert set(g.edges) == set(EDGES)
    assert [g.edges[e]["op"] for e in EDGES] == [OPS[i] for i in IDS]
    assert [g.nodes[n]["role"] for n in range(4)] == ["input", "hidden", "hidden", "output"]
    assert g.graph["view"] == "cell"


def test_networkx_accepts_ids_and_validates():
    a, b = to_networkx(ARCH), to_networkx(list(IDS))
    assert nx.utils.graphs_equal(a, b) and a.graph == b.graph
    spaced = to_networkx(f"  {ARCH} ")
    assert spaced.graph["arch_str"] == ARCH
    with pytest.raises(NasgcnError, match="unknown graph view 'dag'"):
        to_networkx(ARCH, view="dag")
    with pytest.raises(ArchitectureError):
        to_networkx("|bad|")
    with pytest.raises(NasgcnError):
        to_networkx([0, 1, 7, 0, 0, 0])


def test_ops_adjacency_is_the_fixed_graph():
    assert OPS_VIEW_ADJACENCY.shape == (8, 8)
    assert set(zip(*np.nonzero(OPS_VIEW_ADJACENCY), strict=True)) == OPS_EDGES
    ei = edge_index()
    assert tuple(ei.shape) == (2, 10)
    assert set(map(tuple, ei.T.tolist())) == OPS_EDGES


def test_to_pyg_shapes_and_features():
    import torch

    data = to_pyg(ARCH, y=93.5)
    assert tuple(data.x.shape) == (8, len(NODE_TYPES)) == (8, 7)
    assert data.x.dtype == torch.float32
    assert (data.x.sum(dim=1) == 1).all()
    assert data.x.argmax(dim=1).tolist() == [0, *[i + 1 for i in IDS], 6]
    assert data.node_type.tolist() == data.x.argmax(dim=1).tolist()
    assert tuple(data.edge_index.shape) == (2, 10) and data.edge_index.dtype == torch.long
    assert set(map(tuple, data.edge_index.T.tolist())) == set(to_networkx(ARCH).edges)
    assert data.y.tolist() == [93.5]
    assert data.num_nodes == 8
    assert "y" not in to_pyg(ARCH)
    data.validate(raise_on_error=True)


def test_pyg_batch_of_many_graphs():
    from torch_geometric.data import Batch

    ids = SPACE.sample(5, 0)
    batch = Batch.from_data_list([to_pyg(row, y=i) for i, row in enumerate(ids)])
    assert tuple(batch.x.shape) == (40, 7) and tuple(batch.edge_index.shape) == (2, 50)
    assert batch.y.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_dense_encoding_equals_pyg():
    import torch
    from torch_geometric.utils import to_dense_adj

    ids = np.concatenate([SPACE.sample(20, 3), SPACE.all_ids()[[0, -1]]])
    types, adj = dense_encoding(ids)
    assert types.shape == (22, 8) and adj.shape == (8, 8)
    onehot = torch.nn.functional.one_hot(torch.as_tensor(types), num_classes=len(NODE_TYPES)).float()
    for k, row in enumerate(ids):
        data = to_pyg(row)
        assert torch.equal(onehot[k], data.x)
        assert torch.equal(torch.as_tensor(adj), to_dense_adj(data.edge_index, max_num_nodes=8)[0])
    # The caller gets a copy: mutating it cannot corrupt the shared adjacency.
    adj[0, 0] = 5.0
    assert dense_encoding(ids[:1])[1][0, 0] == 0.0


def test_dense_encoding_whole_space():
    types, _ = dense_encoding(SPACE.all_ids())
    assert types.shape == (15_625, 8)
    assert (types[:, 0] == 0).all() and (types[:, 7] == 6).all()
    np.testing.assert_array_equal(types[:, 1:7] - 1, SPACE.all_ids())
