"""GCN layers and the cell network, with a sparse (PyG), a dense (batched) and a compact path.

The ops-on-nodes graph of a fixed-topology cell space has the same 8x8 adjacency for every
architecture; only the node types differ. So the same layer runs three ways with the same
``nn.Parameter`` s:

* :meth:`DirGCNConv.forward` — a PyG :class:`~torch_geometric.nn.MessagePassing` over
  ``edge_index`` (works with ``Data``/``Batch`` of any graphs);
* :meth:`DirGCNConv.forward_dense` — one GEMM of the fixed normalized adjacency with the
  node-major ``(8, B, H)`` states (training: gradients through mini-batches);
* :meth:`CellGCN.forward_compact` — inference on a :func:`compact_plan`: after ``l`` layers a
  node's state depends only on the types within ``l`` hops, so it is computed once per distinct
  local pattern (layer 1 of all 6,466 NB201 classes is 569 node states instead of 51,728). This
  is what predicts the whole space (about 2x faster than the dense path on one CPU thread).

Layer (messages both ways on the DAG, as PyG's ``DirGNNConv``; mean aggregation)::

    h_v' = W_s h_v + W_f * mean_{u -> v} m_u h_u + W_b * mean_{v -> w} m_w h_w + b

``m_u`` is 0 for ``none`` op nodes (a zero op sends nothing) and 1 otherwise, when
``mask_none`` is on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import degree

__all__ = ["DirGCNConv", "CellGCN", "CompactPlan", "normalized_adjacency", "compact_plan"]


def normalized_adjacency(adj: Tensor) -> Tensor:
    """Stacked forward and backward mean-aggregation matrices ``(2N, N)`` of an adjacency (row = source).

    ``fwd[v, u] = A[u, v] / indeg(v)`` and ``bwd[v, w] = A[v, w] / outdeg(v)``, zero rows for
    nodes without neighbours, so ``fwd @ h`` is the mean over predecessors.
    """
    a = adj.float()
    indeg = a.sum(0).clamp(min=1)
    outdeg = a.sum(1).clamp(min=1)
    return torch.cat([a.t() / indeg[:, None], a / outdeg[:, None]], dim=0)


Edge = tuple[int, Tensor | None, float]  # (neighbour, its rows or None for all, mean weight)


@dataclass
class NodeStep:
    """Computing one node state in one layer of :meth:`CellGCN.forward_compact`."""

    rows: Tensor | None  # rows of the node's previous table to update (None: all)
    fwd: list[Edge]  # predecessors
    bwd: list[Edge]  # successors
    # Small-input layers instead gather-sum from the concatenated projected input tables in one
    # ``embedding_bag`` (row r projected is rows 3r, 3r+1, 3r+2: self, forward, backward part):
    bag: tuple[Tensor, Tensor, Tensor, Tensor] | None = None  # index, offsets, weight (with mask), residual rows


@dataclass
class CompactPlan:
    """Index plan of :meth:`CellGCN.forward_compact` (independent of the weights, so built once per input).

    After layer ``l`` a node's state depends only on the node types within ``l`` hops, and few such local
    patterns exist (NB201: 569 node states instead of 51,728 after layer 1, 32,466 after layer 2). Each
    node state is a table with one row per distinct pattern; ``layers[l][v]`` says which rows of the
    previous tables to combine; ``masks[l][v]`` is the none-mask of the rows of node v's table entering
    layer l ((U, 1), None when all ones; layer 0 tables are the embedding, one row per node type);
    ``readout[v]`` expands the last tables to all B rows (None: already full).
    """

    layers: list[list[NodeStep]]
    masks: list[list[Tensor | None]]
    readout: list[Tensor | None]


BAG_ROWS = 8192  # layers whose input tables have at most this many rows in all use ``embedding_bag``


def compact_plan(
    node_type: Tensor, adj: Tensor, num_layers: int, mask: Tensor | None = None, num_types: int | None = None
) -> CompactPlan:
    """Build the :class:`CompactPlan` for ``node_type`` (B, N), ``adj`` (2N, N) and the none-mask (B, N) or None.

    ``num_types`` is the number of embedding rows (default: the largest type + 1).
    """
    b, n = node_type.shape
    dev = node_type.device
    a = adj.detach().cpu().numpy()
    nbr = (a[:n] != 0) | (a[n:] != 0) | np.eye(n, dtype=bool)
    types = node_type.detach().cpu().numpy()
    m = None if mask is None else mask.detach().cpu().numpy().astype(np.float32)

    def mask_rows(values: np.ndarray | None) -> Tensor | None:
        if values is None or np.all(values == 1):
            return None
        return torch.as_tensor(values.reshape(-1, 1), device=dev)

    # Layer 0: row t of every node's table is node type t (the embedding); the mask is a function of the type.
    type_mask = None
    if m is not None:
        type_mask = np.ones(num_types or int(types.max()) + 1, dtype=np.float32)
        type_mask[types.reshape(-1)] = m.reshape(-1)
    masks = [[mask_rows(type_mask)] * n]
    prev: list[np.ndarray | None] = [types[:, v] for v in range(n)]  # row b of node v is table row prev[v][b]
    sizes = [0] * n  # previous table sizes (layer 0: the shared embedding)
    reach = np.eye(n, dtype=np.int64)
    layers = []
    for layer in range(num_layers):
        reach = ((reach @ nbr.astype(np.int64)) > 0).astype(np.int64)
        bag = layer == 0 or sum(sizes) <= BAG_ROWS
        start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        full = {u: None if prev[u] is None else torch.as_tensor(prev[u], device=dev) for u in range(n)}

        def index(u: int, first: np.ndarray | None, full=full, prev=prev) -> Tensor | None:
            if first is None:
                return full[u]  # shared tensor: forward_compact expands each table once per layer
            return torch.as_tensor(first if prev[u] is None else prev[u][first], device=dev)

        steps, new_prev, new_masks = [], [], []
        for v in range(n):
            _, first, inv = np.unique(types[:, reach[v] > 0], axis=0, return_index=True, return_inverse=True)
            if len(first) == b:
                first, inv = None, None
            edges = [
                [(u, index(u, first), float(a[d * n + v, u])) for u in range(n) if a[d * n + v, u] != 0] for d in (0, 1)
            ]
            step = NodeStep(index(v, first), edges[0], edges[1])
            if bag:
                rows = np.arange(b) if first is None else first

                def grow(u: int, rows=rows, start=start, prev=prev) -> np.ndarray:
                    return start[u] + (rows if prev[u] is None else prev[u][rows])

                cols, ws = [3 * grow(v)], [np.ones(len(rows))]
                for d in (0, 1):
                    for u in np.flatnonzero(a[d * n + v]):
                        cols.append(3 * grow(u) + 1 + d)
                        ws.append(float(a[d * n + v, u]) * (np.ones(len(rows)) if m is None else m[rows, u]))
                k = len(cols)
                step.bag = (
                    torch.as_tensor(np.stack(cols, 1).reshape(-1), device=dev),
                    torch.arange(0, len(rows) * k, k, device=dev),
                    torch.as_tensor(np.stack(ws, 1).reshape(-1), dtype=torch.float32, device=dev),
                    torch.as_tensor(grow(v), device=dev),
                )
            steps.append(step)
            new_prev.append(None if inv is None else inv.reshape(-1))
            new_masks.append(None if m is None else mask_rows(m[:, v] if first is None else m[first, v]))
        layers.append(steps)
        masks.append(new_masks)
        prev = new_prev
        sizes = [b if p is None else int(p.max()) + 1 for p in prev]
    readout = [None if p is None else torch.as_tensor(p, device=dev) for p in prev]
    return CompactPlan(layers, masks[:num_layers], readout)


def _take(table: Tensor, rows: Tensor | None) -> Tensor:
    return table if rows is None else table.index_select(0, rows)


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

    def forward_compact(self, plan: CompactPlan, glob: Tensor | None = None) -> Tensor:
        """Same as :meth:`forward_dense` (eval mode), computing each node state once per distinct local pattern.

        ``plan`` from :func:`compact_plan` (with this network's none-mask). The three linears are linear, so
        they are applied to each node's compact table (one GEMM per table, before its rows are copied out to
        the neighbours), and a node's update sums its few neighbours' transformed rows (10 edges in NB201)
        instead of a GEMM with the mostly-zero adjacency.
        """
        tables = [self.embed.weight] * len(plan.readout)  # layer 0: row t of every node is type t
        for conv, norm, steps, masks in zip(self.convs, self.norms, plan.layers, plan.masks, strict=True):
            hid = conv.lin_self.out_features
            weight = torch.cat([conv.lin_self.weight, conv.lin_fwd.weight, conv.lin_bwd.weight]).t()
            bias = torch.cat([conv.lin_self.bias, conv.lin_self.bias.new_zeros(2 * hid)])
            if steps[0].bag is not None:  # small inputs: one gather-sum per node over the concatenated tables
                src = tables[0] if all(t is tables[0] for t in tables) else torch.cat(tables)
                proj = torch.addmm(bias, src, weight).view(-1, hid)
                new_tables = []
                for step in steps:
                    index, offsets, w, residual = step.bag
                    out = nn.functional.embedding_bag(
                        index, proj, offsets, mode="sum", per_sample_weights=w.to(proj.dtype)
                    )
                    new_tables.append(torch.relu_(norm(out)).add_(src.index_select(0, residual)))
                tables = new_tables
                continue
            done: dict[tuple[int, int], Tensor] = {}
            proj = []  # per node: table @ [W_s | W_f | W_b] + [b, 0, 0], none-masked messages
            for table, mk in zip(tables, masks, strict=True):
                key = (id(table), id(mk))
                if key not in done:
                    p = torch.addmm(bias, table, weight)
                    if mk is not None:
                        p[:, hid:].mul_(mk)
                    done[key] = p
                proj.append(done[key])
            new_tables = []
            for v, step in enumerate(steps):
                out = proj[v][:, :hid]
                out = out.clone() if step.rows is None else out.index_select(0, step.rows)
                for part, edges in ((slice(hid, 2 * hid), step.fwd), (slice(2 * hid, 3 * hid), step.bwd)):
                    for u, rows, c in edges:
                        out.add_(_take(proj[u][:, part], rows), alpha=c)
                x = _take(tables[v], step.rows)
                new_tables.append(torch.relu_(norm(out)).add_(x))
            tables = new_tables
        full = [_take(t, rows) for t, rows in zip(tables, plan.readout, strict=True)]
        mean = full[0].clone()
        for h in full[1:]:
            mean.add_(h)
        return self._head(full[-1], mean.div_(len(full)), glob)

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
