"""Benchmark 1: supernet training and evaluation throughput (images/s) vs xautodl.

Compares ``supernet.models.NB201Supernet`` with the NB201 search model of the
``xautodl`` package (``TinyNetworkRANDOM``, the random-path NB201 supernet), built
with the same macro architecture and BN mode (no affine, batch statistics in cells),
on the same machine in the same run, on the same sequence of random architectures
and the same batches. Measurements alternate between the two models round by round
(the median round is reported) so that load from other processes hits both alike.

    python benchmarks/supernet_throughput.py                    # NB201 size: C=16, N=5, 32×32, batch 64
    python benchmarks/supernet_throughput.py --channels 8 --cells 2 --input-size 16

``--device cuda`` times both on a GPU. One NVIDIA H200 (torch 2.11, NB201 size, batch 256,
eval 1,000 images per arch): train 12,287 vs 9,141 img/s (1.34x), eval 44,723 vs 38,939 img/s
(1.15x). The trainer itself (augmentation, sampler, checkpoints) ran at 11,300-11,700 img/s.

xautodl is a benchmark-only dependency (``pip install xautodl``); without it the
comparison columns are skipped.

Measured (2-core Xeon VM, idle, 1 thread, 5 rounds, torch 2.14.1): NB201 size, two runs, train
217.5 / 209.8 vs 86.4 / 84.2 img/s (2.52× / 2.49×), eval 566 / 493 vs 180 / 171 img/s (3.15× /
2.88×); C=8 N=1 16×16: train 3,440 vs 2,023 img/s (1.70×), eval 2.02×. Before average pooling
became a depthwise ones-convolution with its own backward (channels-last), training was 1.49-1.53×
at NB201 size: autograd through the separable slices spent a fifth of each step zero-filling.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from predictor.spaces.nb201 import EDGES, OPS
from supernet.data import ImageSet, Normalizer
from supernet.evaluate import evaluate_archs
from supernet.models import NB201Supernet


def xautodl_model(c: int, n: int):
    try:
        from xautodl.models.cell_searchs import TinyNetworkRANDOM
        from xautodl.models.cell_searchs.genotypes import Structure
    except ImportError:
        return None, None
    model = TinyNetworkRANDOM(c, n, 4, 10, list(OPS), affine=False, track_running_stats=False)

    def set_arch(ids) -> None:
        nodes = [[] for _ in range(3)]
        for k, (src, dst) in enumerate(EDGES):
            nodes[dst - 1].append((OPS[int(ids[k])], src))
        model.arch_cache = Structure([tuple(x) for x in nodes])

    return model, set_arch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(dev: torch.device) -> str:
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"


def train_round(step_fn, archs, x, y) -> float:
    sync(x.device)
    start = time.perf_counter()
    for ids in archs:
        step_fn(ids, x, y)
    sync(x.device)
    return len(archs) * x.shape[0] / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--cells", type=int, default=5)
    ap.add_argument("--input-size", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=8, help="training steps per round")
    ap.add_argument("--eval-archs", type=int, default=8, help="architectures per evaluation round")
    ap.add_argument("--eval-images", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]: both models run there")
    ap.add_argument("--no-channels-last", action="store_true", help="keep NCHW for nasgcn (ablation)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    rng = np.random.default_rng(args.seed)
    s = args.input_size
    x = torch.randn(args.batch_size, 3, s, s, device=dev)
    y = torch.randint(0, 10, (args.batch_size,), device=dev)
    eval_u8 = torch.randint(0, 256, (args.eval_images, 3, s, s), dtype=torch.uint8)
    eval_y = torch.randint(0, 10, (args.eval_images,))
    norm = Normalizer((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    eval_x, eval_y_dev = norm(eval_u8).to(dev), eval_y.to(dev)

    ours = NB201Supernet(args.channels, args.cells, 10, 3).to(dev)
    if not args.no_channels_last and dev.type == "cpu":
        ours.use_channels_last()  # what the trainer and evaluator do on CPU
    opt_o = torch.optim.SGD(ours.parameters(), lr=0.025, momentum=0.9, nesterov=True, weight_decay=5e-4)
    theirs, set_arch = xautodl_model(args.channels, args.cells)
    if theirs is not None:
        theirs.to(dev)
        opt_t = torch.optim.SGD(theirs.parameters(), lr=0.025, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def step_ours(ids, xb, yb) -> None:
        ours.train()
        opt_o.zero_grad(set_to_none=True)
        F.cross_entropy(ours(xb, ids), yb).backward()
        opt_o.step()

    def step_theirs(ids, xb, yb) -> None:
        theirs.train()
        set_arch(ids)
        opt_t.zero_grad(set_to_none=True)
        F.cross_entropy(theirs(xb)[1], yb).backward()
        opt_t.step()

    def eval_ours(archs) -> float:
        sync(dev)
        start = time.perf_counter()
        evaluate_archs(
            ours, archs, ImageSet(eval_u8, eval_y), norm, batch_size=args.eval_images, device=dev, progress=False
        )
        return len(archs) * args.eval_images / (time.perf_counter() - start)

    @torch.no_grad()
    def eval_theirs(archs) -> float:
        theirs.eval()
        sync(dev)
        start = time.perf_counter()
        for ids in archs:
            set_arch(ids)
            int(theirs(eval_x)[1].argmax(1).eq(eval_y_dev).sum())  # both sides read the count back
        return len(archs) * args.eval_images / (time.perf_counter() - start)

    # Warm-up (allocator, oneDNN primitives).
    warm = rng.integers(0, 5, (2, 6))
    train_round(step_ours, warm, x, y)
    if theirs is not None:
        train_round(step_theirs, warm, x, y)
        eval_theirs(warm)
    eval_ours(warm)
    rates: dict[str, list[float]] = {"train_ours": [], "train_theirs": [], "eval_ours": [], "eval_theirs": []}
    for _ in range(args.rounds):
        archs = rng.integers(0, 5, (args.steps, 6))
        earchs = rng.integers(0, 5, (args.eval_archs, 6))
        rates["train_ours"].append(train_round(step_ours, archs, x, y))
        rates["eval_ours"].append(eval_ours(earchs))
        if theirs is not None:
            rates["train_theirs"].append(train_round(step_theirs, archs, x, y))
            rates["eval_theirs"].append(eval_theirs(earchs))

    print(
        f"config: C={args.channels} N={args.cells} input {s}x{s} batch {args.batch_size}, eval {args.eval_images} "
        f"images/arch, {args.threads} thread(s), {args.rounds} rounds × {args.steps} train steps / "
        f"{args.eval_archs} eval archs, median round; nasgcn channels-last "
        f"{not args.no_channels_last and dev.type == 'cpu'}; device {device_name(dev)}; torch {torch.__version__}"
    )
    print(f"{'mode':<8} {'nasgcn img/s':>14} {'xautodl img/s':>14} {'speedup':>8}")
    for mode in ("train", "eval"):
        o = statistics.median(rates[f"{mode}_ours"])
        if theirs is not None:
            t = statistics.median(rates[f"{mode}_theirs"])
            print(f"{mode:<8} {o:>14.1f} {t:>14.1f} {o / t:>7.2f}x")
        else:
            print(f"{mode:<8} {o:>14.1f} {'(no xautodl)':>14} {'-':>8}")


if __name__ == "__main__":
    main()
