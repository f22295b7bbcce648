"""GCN layers and the cell network, with a sparse (PyG) and a dense (batched) path.

The ops-on-nodes graph of a fixed-topology cell space has the same 8x8 adjacency for every
architecture; only the node types differ. So the same layer runs two ways with the same
``nn.Parameter`` s:

* :meth:`DirGCNConv.forward` — a PyG :class:`~torch_geometric.nn.MessagePassing` over
  ``edge_index`` (works with ``Data``/``Batch`` of any graphs);
* :meth:`DirGCNConv.forward_dense` — one GEMM of the fixed normalized adjacency with the
  node-major ``(8, B, H)`` states: predicting all 15,625 NB201 cells is one vectorized pass.

Layer (messages both ways on the DAG, as PyG's ``DirGNNConv``; mean aggregation)::

    h_v' = W_s h_v + W_f * mean_{u -> v} m_u h_u + W_b * mean_{v -> w} m_w h_w + b

``m_u`` is 0 for ``none`` op nodes (a zero op sends nothing) and 1 otherwise, when
``mask_none`` is on.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import degree

__all__ = ["DirGCNConv", "CellGCN", "normalized_adjacency"]


def normalized_adjacency(adj: Tensor) -> Tensor:
    """Stacked forward and backward mean-aggregation matrices ``(2N, N)`` of an adjacency (row = source).

    ``fwd[v, u] = A[u, v] / indeg(v)`` and ``bwd[v, w] = A[v, w] / outdeg(v)``, zero rows for
    nodes without neighbours, so ``fwd @ h`` is the mean over predecessors.
    """
    a = adj.float()
    indeg = a.sum(0).clamp(min=1)
    outdeg = a.sum(1).clamp(min=1)
    return torch.cat([a.t() / indeg[:, None], a / outdeg[:, None]], dim=0)


class DirGCNConv(MessagePassing):
    """Directed graph convolution with separate weights for the forward and reverse edges."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(aggr="add", flow="source_to_target")
        self.lin_self = nn.Linear(in_channels, out_channels)
        self.lin_fwd = nn.Linear(in_channels, out_channels, bias=False)
        self.lin_bwd = nn.Linear(in_channels, out_channels, bias=False)

    def forward(self, x: Tensor, edge_index: Tensor, mask: Tensor | None = None) -> Tensor:
        """Sparse path: ``x`` (num_nodes, C), ``edge_index`` (2, E) with row = source, ``mask`` (num_nodes,)."""
        src, dst = edge_index
        n = x.size(0)
        xm = x if mask is None else x * mask[:, None]
        w_fwd = 1.0 / degree(dst, n, dtype=x.dtype).clamp(min=1)[dst]
        w_bwd = 1.0 / degree(src, n, dtype=x.dtype).clamp(min=1)[src]
        fwd = self.propagate(edge_index, x=xm, weight=w_fwd)
        bwd = self.propagate(edge_index.flip(0), x=xm, weight=w_bwd)
        return self.lin_self(x) + self.lin_fwd(fwd) + self.lin_bwd(bwd)

    def message(self, x_j: Tensor, weight: Tensor) -> Tensor:
        return x_j * weight[:, None]

    def forward_dense(self, h: Tensor, adj: Tensor, mask: Tensor | None = None) -> Tensor:
        """Dense path, node-major: ``h`` (N, B, C), ``mask`` (N, B); ``adj`` (2N, N) = ``cat([fwd, bwd])``.

        Node-major layout makes both directions one GEMM ``(2N, N) @ (N, B*C)`` with no copies.
        """
        n, c = h.size(0), h.size(-1)
        hm = h if mask is None else h * mask[..., None]
        agg = (adj @ hm.reshape(n, -1)).reshape(2, -1, c)  # [fwd; bwd] rows, node-major
        # Three linears accumulated in one output buffer (the adds cost as much as the GEMMs).
        out = torch.addmm(self.lin_self.bias, h.reshape(-1, c), self.lin_self.weight.t())
        out = out.addmm_(agg[0], self.lin_fwd.weight.t()).addmm_(agg[1], self.lin_bwd.weight.t())
        return out.reshape(*h.shape[:-1], -1)


class CellGCN(nn.Module):
    """One predictor network: node-type embedding, ``num_layers`` :class:`DirGCNConv`, readout, MLP.

    Readout concatenates the output node's state and the mean over nodes, then optional
    graph-level features (e.g. standardized log parameter count), then a 2-layer MLP to a scalar.
    """

    def __init__(
        self,
        num_node_types: int,
        hidden: int = 64,
        num_layers: int = 3,
        num_global: int = 0,
        none_type: int | None = 1,
        mask_none: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_node_types, hidden)
        self.convs = nn.ModuleList(DirGCNConv(hidden, hidden) for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(num_layers))
        self.none_type = none_type
        self.mask_none = mask_none and none_type is not None
        self.head = nn.Sequential(
            nn.Linear(2 * hidden + num_global, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def _mask(self, node_type: Tensor, dtype: torch.dtype) -> Tensor | None:
        if not self.mask_none:
            return None
        return (node_type != self.none_type).to(dtype)

    def _head(self, out_node: Tensor, mean: Tensor, glob: Tensor | None) -> Tensor:
        z = torch.cat([out_node, mean] if glob is None else [out_node, mean, glob], dim=-1)
        return self.head(z).squeeze(-1)

    def forward_dense(self, node_type: Tensor, adj: Tensor, glob: Tensor | None = None) -> Tensor:
        """``node_type`` (B, N) long, ``adj`` (2N, N) stacked normalized adjacency; last node = output. Returns (B,)."""
        nt = node_type.t()
        h = self.embed(nt)  # node-major (N, B, H)
        mask = self._mask(nt, h.dtype)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = h + torch.relu(norm(conv.forward_dense(h, adj, mask)))
        return self._head(h[-1], h.mean(0), glob)

    def forward(self, node_type: Tensor, edge_index: Tensor, batch: Tensor, glob: Tensor | None = None) -> Tensor:
        """Sparse path over a PyG ``Batch`` (nodes of each graph contiguous, output node last)."""
        from torch_geometric.nn import global_mean_pool

        h = self.embed(node_type)
        mask = self._mask(node_type, h.dtype)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = h + torch.relu(norm(conv(h, edge_index, mask)))
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
        counts = torch.bincount(batch, minlength=num_graphs)
        last = torch.cumsum(counts, 0) - 1
        return self._head(h[last], global_mean_pool(h, batch, num_graphs), glob)
