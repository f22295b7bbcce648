"""GCN layers and the cell network, with a sparse (PyG), a dense (batched) and a compact path.

The ops-on-nodes graph of a fixed-topology cell space has the same 8x8 adjacency for every
architecture; only the node types differ. So the same layer runs three ways with the same
``nn.Parameter`` s:

* :meth:`DirGCNConv.forward` — a PyG :class:`~torch_geometric.nn.MessagePassing` (imported lazily) over
  ``edge_index`` (works with ``Data``/``Batch`` of any graphs);
* :meth:`DirGCNConv.forward_dense` — one GEMM of the fixed normalized adjacency with the
  node-major ``(8, B, H)`` states (training: gradients through mini-batches);
* :meth:`CellGCN.forward_compact` — inference on a :func:`compact_plan`: after ``l`` layers a
  node's state depends only on the types within ``l`` hops, so it is computed once per distinct
  local pattern (layer 1 of all 6,466 NB201 classes is 569 node states instead of 51,728). This
  is what predicts the whole space. On the CPU each layer's gather, LayerNorm, ReLU and residual
  run as one compiled loop (:mod:`predictor.kernels`): one CPU thread predicts all 15,625 with three
  members in 26 ms, against 41 ms with torch ops and 114 ms on the dense path, same run
  (`benchmarks/predictor_nb201.py --sections speed`, 2-core VM).

Layer (messages both ways on the DAG, as PyG's ``DirGNNConv``; mean aggregation)::

    h_v' = W_s h_v + W_f * mean_{u -> v} m_u h_u + W_b * mean_{v -> w} m_w h_w + b

``m_u`` is 0 for ``none`` op nodes (a zero op sends nothing) and 1 otherwise, when
``mask_none`` is on.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from . import kernels
from .rows import unique_rows

__all__ = ["DirGCNConv", "CellGCN", "CompactPlan", "LayerPlan", "normalized_adjacency", "compact_plan"]


def normalized_adjacency(adj: Tensor) -> Tensor:
    """Stacked forward and backward mean-aggregation matrices ``(2N, N)`` of an adjacency (row = source).

    ``fwd[v, u] = A[u, v] / indeg(v)`` and ``bwd[v, w] = A[v, w] / outdeg(v)``, zero rows for
    nodes without neighbours, so ``fwd @ h`` is the mean over predecessors.
    """
    a = adj.float()
    indeg = a.sum(0).clamp(min=1)
    outdeg = a.sum(1).clamp(min=1)
    return torch.cat([a.t() / indeg[:, None], a / outdeg[:, None]], dim=0)


@dataclass
class LayerPlan:
    """One layer of :meth:`CellGCN.forward_compact`: a weighted gather-sum over the projected previous states.

    The previous layer's states of all nodes are one tensor (node tables concatenated); projected by
    ``[W_s | W_f | W_b]`` it is viewed as ``(3R, H)``, where row ``3r`` is state r's self term and ``3r+1`` /
    ``3r+2`` its message forward / backward. New state i sums ``index[offsets[i]:offsets[i+1]]`` weighted by
    ``weight`` (mean weight times the sender's none-mask) and adds back previous state ``residual[i]``.
    """

    index: Tensor
    offsets: Tensor
    weight: Tensor
    residual: Tensor

    @functools.cached_property
    def blocks(self) -> list[tuple[slice, Tensor, Tensor, Tensor, Tensor]]:
        """The new states in blocks of :data:`BLOCK_ROWS`: (rows, index, offsets from 0, weights, residual).

        Only the torch-ops path uses them (the fused kernel walks all rows), so they are built on first use.
        """
        off = self.offsets.detach().cpu().numpy()
        n, total = off.shape[0], self.index.numel()
        blocks = []
        for a in range(0, n, BLOCK_ROWS):
            b = min(a + BLOCK_ROWS, n)
            s, e = int(off[a]), (int(off[b]) if b < n else total)
            part = (self.index[s:e], self.offsets[a:b] - s, self.weight[s:e], self.residual[a:b])
            blocks.append((slice(a, b), *part))
        return blocks


BLOCK_ROWS = 1024  # new states computed per block: temporaries of 1024 x 32 floats stay below glibc's mmap threshold


_SCRATCH = threading.local()


def _scratch(slot: str, shape: tuple[int, int], like: Tensor) -> Tensor:
    """A scratch tensor of ``shape`` kept per thread between calls (grown as needed, never shrunk).

    Why: a whole-space prediction makes ~100 MB of short-lived tensors; with glibc's allocator each fresh
    large block costs page faults, measured at about half of the prediction time. Reusing the big buffers and
    working in blocks of :data:`BLOCK_ROWS` rows (small temporaries malloc recycles) removes them.
    """
    pool = _SCRATCH.__dict__.setdefault("pool", {})
    need = shape[0] * shape[1]
    buf = pool.get(slot)
    if buf is None or buf.numel() < need or buf.dtype != like.dtype or buf.device != like.device:
        with torch.inference_mode(False):
            buf = torch.empty(max(need, 1), dtype=like.dtype, device=like.device)
        pool[slot] = buf
    return buf[:need].view(shape)


@dataclass
class CompactPlan:
    """Index plan of :meth:`CellGCN.forward_compact` (independent of the weights, so built once per input).

    After layer ``l`` a node's state depends only on the node types within ``l`` hops, and few such local
    patterns exist (NB201: 569 node states instead of 51,728 after layer 1, 32,466 after layer 2). Each
    layer's states hold one row per distinct (node, pattern); layer 0 is the type embedding, shared by all
    nodes. ``readout`` holds, for every input row b, the rows of its N final node states (``b*N + v``), so
    the mean over nodes is one ``embedding_bag``; the output node is the last of each group.
    """

    layers: list[LayerPlan]
    readout: Tensor
    num_nodes: int


def compact_plan(node_type: Tensor, adj: Tensor, num_layers: int, mask: Tensor | None = None) -> CompactPlan:
    """Build the :class:`CompactPlan` for ``node_type`` (B, N), ``adj`` (2N, N) and the none-mask (B, N) or None."""
    b, n = node_type.shape
    dev = node_type.device
    a = adj.detach().cpu().numpy()
    nbr = (a[:n] != 0) | (a[n:] != 0) | np.eye(n, dtype=bool)
    types = node_type.detach().cpu().numpy().astype(np.int64)
    m = None if mask is None else mask.detach().cpu().numpy().astype(np.float32)
    # rows[v][i]: row of node v's previous table that input row i uses; start[v]: where that table begins.
    rows = [types[:, v] for v in range(n)]
    start = np.zeros(n, dtype=np.int64)  # layer 0: every node reads the one embedding table
    reach = np.eye(n, dtype=np.int64)
    layers = []
    for _ in range(num_layers):
        reach = ((reach @ nbr.astype(np.int64)) > 0).astype(np.int64)
        index, weight, residual, counts, new_rows, sizes = [], [], [], [], [], []
        for v in range(n):
            # One new state per distinct pattern of types within reach; `first` = an input row showing it.
            # The pattern is the tuple of the previous rows of v and its neighbours (same partition as the
            # types within reach, far cheaper to deduplicate than rows of types).
            _, first, inv = unique_rows([rows[v]] + [rows[u] for u in np.flatnonzero(nbr[v]) if u != v])
            # Order the new states by their type pattern (as np.unique over the pattern rows would): rows
            # that share neighbours sit together, which the gathers of the next layer prefer (~10 %).
            order = np.lexsort(types[first][:, reach[v] > 0].T[::-1])
            first = first[order]
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            inv = rank[inv.reshape(-1)]
            terms = [(3 * (start[v] + rows[v][first]), np.ones(len(first)))]
            for d in (0, 1):
                for u in np.flatnonzero(a[d * n + v]):
                    w = float(a[d * n + v, u]) * (1.0 if m is None else m[first, u])
                    terms.append((3 * (start[u] + rows[u][first]) + 1 + d, np.broadcast_to(w, len(first))))
            index.append(np.stack([t[0] for t in terms], 1).reshape(-1))
            weight.append(np.stack([t[1] for t in terms], 1).reshape(-1))
            residual.append(start[v] + rows[v][first])
            counts.append(np.full(len(first), len(terms)))
            new_rows.append(inv.reshape(-1))
            sizes.append(len(first))
        counts_all = np.concatenate(counts)
        layers.append(
            LayerPlan(
                index=torch.as_tensor(np.concatenate(index), device=dev),
                offsets=torch.as_tensor(np.concatenate([[0], np.cumsum(counts_all)[:-1]]), device=dev),
                weight=torch.as_tensor(np.concatenate(weight), dtype=torch.float32, device=dev),
                residual=torch.as_tensor(np.concatenate(residual), device=dev),
            )
        )
        rows = new_rows
        start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    readout = np.stack([start[v] + rows[v] for v in range(n)], 1).reshape(-1)  # (B*N,), row-major per input
    return CompactPlan(layers, torch.as_tensor(readout, device=dev), n)


@functools.cache
def _mean_propagation() -> type:
    """The PyG ``MessagePassing`` that sums weighted neighbour states (imported on first sparse use only).

    PyG costs seconds to import; the dense and compact paths, which every command uses, never need it.
    """
    from torch_geometric.nn import MessagePassing

    class WeightedSum(MessagePassing):
        def __init__(self) -> None:
            super().__init__(aggr="add", flow="source_to_target")

        def forward(self, x: Tensor, edge_index: Tensor, weight: Tensor) -> Tensor:
            return self.propagate(edge_index, x=x, weight=weight)

        def message(self, x_j: Tensor, weight: Tensor) -> Tensor:
            return x_j * weight[:, None]

    return WeightedSum


class DirGCNConv(nn.Module):
    """Directed graph convolution with separate weights for the forward and reverse edges.

    The sparse path (:meth:`forward`) passes messages with a PyG ``MessagePassing`` over any
    ``edge_index``; the dense path (:meth:`forward_dense`) is one GEMM with a fixed adjacency. Both use
    the same three linear maps (``lin_self``, ``lin_fwd``, ``lin_bwd``), so one ``state_dict`` serves both.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.lin_self = nn.Linear(in_channels, out_channels)
        self.lin_fwd = nn.Linear(in_channels, out_channels, bias=False)
        self.lin_bwd = nn.Linear(in_channels, out_channels, bias=False)

    def forward(self, x: Tensor, edge_index: Tensor, mask: Tensor | None = None) -> Tensor:
        """Sparse path: ``x`` (num_nodes, C), ``edge_index`` (2, E) with row = source, ``mask`` (num_nodes,)."""
        from torch_geometric.utils import degree

        src, dst = edge_index
        n = x.size(0)
        xm = x if mask is None else x * mask[:, None]
        w_fwd = 1.0 / degree(dst, n, dtype=x.dtype).clamp(min=1)[dst]
        w_bwd = 1.0 / degree(src, n, dtype=x.dtype).clamp(min=1)[src]
        prop = _mean_propagation()()
        fwd = prop(xm, edge_index, w_fwd)
        bwd = prop(xm, edge_index.flip(0), w_bwd)
        return self.lin_self(x) + self.lin_fwd(fwd) + self.lin_bwd(bwd)

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

    @torch.no_grad()
    def forward_compact(self, plan: CompactPlan, glob: Tensor | None = None, fused: bool | None = None) -> Tensor:
        """Same as :meth:`forward_dense` (eval mode, no gradients), computing each node state once per local pattern.

        ``plan`` from :func:`compact_plan` (with this network's none-mask). The three linears are linear, so
        they are applied once to the previous states of all nodes (one GEMM into a reused buffer, the bias
        added to the self rows), and each new state is a weighted sum of its few projected neighbour rows.
        ``fused`` (default: when possible) runs that sum, the LayerNorm, ReLU and residual as one compiled
        loop per layer (:mod:`predictor.kernels`, CPU float32); otherwise torch ops (``embedding_bag`` …) in
        blocks of :data:`BLOCK_ROWS` states written into a reused buffer (see :func:`_scratch`).
        """
        states = self.embed.weight.detach()  # layer 0: row t is node type t, for every node
        if fused is None:
            fused = kernels.fused_available() and states.device.type == "cpu" and states.dtype == torch.float32
        elif fused and (states.device.type != "cpu" or not kernels.fused_available()):
            raise ValueError("fused=True needs CPU tensors and numba (without NASGCN_NO_NUMBA); use fused=None")
        for layer, (conv, norm, lp) in enumerate(zip(self.convs, self.norms, plan.layers, strict=True)):
            hid = conv.lin_self.out_features
            weight = torch.cat([conv.lin_self.weight, conv.lin_fwd.weight, conv.lin_bwd.weight]).t()
            bias = torch.cat([conv.lin_self.bias, conv.lin_self.bias.new_zeros(2 * hid)])
            proj = _scratch("proj", (states.shape[0], 3 * hid), states)
            proj = torch.addmm(bias, states, weight, out=proj).view(-1, hid)
            new = _scratch(f"states{layer % 2}", (lp.residual.numel(), hid), states)
            if fused:
                arrays = (lp.index, lp.offsets, lp.weight, lp.residual, states, norm.weight, norm.bias)
                kernels.gcn_layer(proj.numpy(), *(a.detach().numpy() for a in arrays), norm.eps, new.numpy())
            else:
                for rows, index, offsets, w, residual in lp.blocks:
                    out = nn.functional.embedding_bag(
                        index, proj, offsets, mode="sum", per_sample_weights=w.to(proj.dtype)
                    )
                    torch.add(torch.relu_(norm(out)), states.index_select(0, residual), out=new[rows])
            states = new
        # Head input [output node | mean over nodes | glob], built in a reused buffer.
        n, hid = plan.num_nodes, states.shape[1]
        z = _scratch("readout", (plan.readout.numel() // n, 2 * hid + (0 if glob is None else glob.shape[1])), states)
        if fused:
            kernels.readout(states.numpy(), plan.readout.numpy(), n, z.numpy())
        else:
            torch.index_select(states, 0, plan.readout[n - 1 :: n], out=z[:, :hid])
            groups = torch.arange(0, plan.readout.numel(), n, device=plan.readout.device)
            z[:, hid : 2 * hid] = nn.functional.embedding_bag(plan.readout, states, groups, mode="mean")
        if glob is not None:
            z[:, 2 * hid :] = glob
        first, last = self.head[0], self.head[-1]  # Linear, ReLU, Dropout (eval: identity), Linear
        hidden = _scratch("head", (z.shape[0], first.out_features), z)
        torch.addmm(first.bias, z, first.weight.t(), out=hidden).relu_()
        return torch.addmv(last.bias, hidden, last.weight[0])

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
