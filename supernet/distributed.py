"""torch.distributed helpers for data-parallel training launched by ``torchrun``.

Single-path supernets change their graph at every step, so instead of wrapping the
model in ``DistributedDataParallel`` (whose bucket hooks assume a fixed graph and then
need ``find_unused_parameters``) the trainer averages gradients itself with one
all-reduce of a flat buffer after the backward passes of a step: the same arithmetic
as DDP. Every rank draws the same architectures from identically seeded samplers.
"""

from __future__ import annotations

import datetime
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: str, long_timeout: bool = False) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1); pick the device.

    ``long_timeout``: collectives may wait a day instead of torch's default (sharded evaluation:
    ranks meet only once, at the end, and a restarted rank may have far more left than the others).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local if world > 1 else torch.cuda.current_device())
    if world > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        extra = {"timeout": datetime.timedelta(days=1)} if long_timeout else {}
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", **extra)
    return DistInfo(rank, world, local), dev


def average_gradients(params: list[torch.nn.Parameter], world_size: int) -> None:
    """All-reduce and average the gradients that exist (the same set on every rank)."""
    if world_size <= 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat.div_(world_size)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def all_sum(values: list[float], device: torch.device, info: DistInfo) -> list[float]:
    """Sum a few scalars over ranks (for logging)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def gather_to_main(obj: Any, info: DistInfo) -> list[Any] | None:
    """Every rank's ``obj`` (picklable) as a list in rank order on rank 0; ``None`` elsewhere."""
    if not info.enabled:
        return [obj]
    out: list[Any] | None = [None] * info.world_size if info.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _local_rank(rank: int, world: int, port: int, fn: Callable[..., Any], args: tuple) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    try:
        fn(*args)
    finally:
        cleanup()


def spawn_local(world_size: int, fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` in ``world_size`` local processes that form one process group.

    What ``torchrun --nproc_per_node N`` does on one machine, callable from Python (notebooks,
    benchmarks, tests). ``fn`` and ``args`` must be picklable; return values are dropped.
    """
    import torch.multiprocessing as mp

    port = _free_port()
    mp.start_processes(
        _local_rank, args=(world_size, port, fn, args), nprocs=world_size, join=True, start_method="spawn"
    )
