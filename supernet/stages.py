"""The pipeline's stages: each declared once, with its inputs and config section (:func:`stage`).

supernet (train) -> label (evaluate sampled archs) -> fit (GCN predictor) -> table
(every architecture of the space) -> query (top candidates per hardware target) -> shift
(Supernet Shifting seeded from the query) -> retrain (stand-alone training of the final
picks) -> report.

A space too large to tabulate (``fbnet``) gets, in the ``table`` stage, a table of the
candidates found by a search over the predictor (``[search]``), which the query, shifting and
retraining stages then use like a full table.

Heavy imports (torch, the GCN) stay inside the stage bodies: loading a config imports this
module for the schema, and ``nasgcn query`` must stay fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

from predictor.errors import NasgcnError

from .config_schema import GCN_LOSSES, MODEL_KEYS, Config, Opt, sampler_names, shifting_options
from .stage_engine import StageContext, stage


def _dataset_spec(cfg: Config, dataset: str, root: str) -> tuple[str, str | None]:
    """``(name, data_root)`` in the form :func:`supernet.data.load_data` takes."""
    if dataset == "npz":
        if not root:
            raise NasgcnError(
                f"{cfg.where('data', 'root')}: dataset 'npz' needs root = \"FOLDER\" with *train*.npz and *test*.npz"
            )
        return f"npz:{cfg.resolve(root)}", None
    return dataset, (str(cfg.resolve(root)) if root else None)


def train_config(ctx: StageContext) -> Any:
    """The :class:`supernet.train.TrainConfig` of the ``[space]``, ``[data]`` and ``[supernet]`` sections.

    Model options the space's supernet does not take (NB201's ``channels``/``cells`` on a chain
    space, ``width`` on NB201) were dropped at load, so they stay at the trainer's defaults.
    """
    from .train import TrainConfig

    d, s = ctx.cfg["data"], ctx.cfg["supernet"]
    name, root = _dataset_spec(ctx.cfg, d["dataset"], d["root"])
    opts = {k: v for k, v in s.items() if k not in ("limit_train_batches", "grad_clip")}
    return TrainConfig(
        space=ctx.space.name,
        dataset=name,
        data_root=root,
        download=d["download"],
        val_fraction=d["val_fraction"],
        limit_train=d["limit_train"] or None,
        input_size=d["input_size"] or None,
        augment={"auto": None, "on": True, "off": False}[d["augment"]],
        limit_train_batches=s["limit_train_batches"] or None,
        grad_clip=s["grad_clip"] or None,
        seed=ctx.seed,
        device=ctx.device,
        progress=ctx.progress,
        threads=ctx.cfg["run"]["threads"] or None,
        **opts,
    )


def _load_trained(ctx: StageContext) -> tuple[Any, dict[str, Any], Any]:
    """(supernet on device, its checkpoint, the data splits it was trained with)."""
    from .data import load_data_from
    from .train import load_supernet

    model, ckpt = load_supernet(ctx.upstream["supernet"], ctx.device, space=ctx.space.name)
    c = ckpt["config"]
    data = load_data_from(c)
    return model, ckpt, data


@stage(
    "supernet",
    section="supernet",
    reads=("data",),
    options={
        "channels": Opt(8, ge=1, help="NB201: cell channels of the first stage"),
        "cells": Opt(1, ge=1, help="NB201: cells per stage"),
        "width": Opt(1.0, gt=0.0, help="chain spaces: channel multiplier of the supernet (1 = the space's network)"),
        "epochs": Opt(3, ge=1),
        "batch_size": Opt(64, ge=1),
        "lr": Opt(0.05, gt=0.0),
        "min_lr": Opt(0.001, ge=0.0),
        "momentum": Opt(0.9, ge=0.0, lt=1.0),
        "nesterov": Opt(True),
        "weight_decay": Opt(5e-4, ge=0.0),
        "grad_clip": Opt(5.0, ge=0.0, help="0 = off"),
        "sampler": Opt("uniform", choices=sampler_names, help="a name of supernet.samplers' registry"),
        "max_drop": Opt(0.5, ge=0.0, lt=1.0, help="dropout sampler: final drop rate"),
        "limit_train_batches": Opt(0, ge=0, help="0 = every batch"),
    },
)
def stage_supernet(ctx: StageContext) -> dict[str, Any]:
    """Train the supernet (resumes from ``checkpoint.pt`` in the stage directory)."""
    from .train import SupernetTrainer

    trainer = SupernetTrainer(train_config(ctx), ctx.dir, resume=True).fit()
    last = trainer.history_[-1] if trainer.history_ else {}
    return {
        "checkpoint": "checkpoint.pt",
        "checkpoint_id": trainer.checkpoint_id_,
        "epochs": trainer.epoch,
        "train_loss": last.get("train_loss"),
        "train_acc": last.get("train_acc"),
        "data": trainer.data.info,
    }


def label_archs(sp: Any, n: int, unique: bool, seed: int) -> Any:
    """``n`` distinct random architectures (one per isomorphism class when ``unique``), sorted.

    A small space draws from its list of (unique) architectures; one too large to list draws
    rows with ``space.sample`` and drops repeated classes (duplicates are vanishingly rare).
    """
    import numpy as np

    rng = np.random.default_rng([seed, 1])
    if sp.enumerable:
        pool = sp.unique_ids() if unique else sp.all_ids()
        n = min(n, len(pool))
        return pool[np.sort(rng.choice(len(pool), size=n, replace=False))]
    ids = sp.sample(n, rng, unique=True)
    if unique:
        _, first = np.unique(sp.canonical_ids(ids), axis=0, return_index=True)
        ids = ids[np.sort(first)]
    return ids[np.lexsort(ids.T[::-1])]


@stage(
    "label",
    depends=("supernet",),
    section="label",
    reads=("data",),
    options={
        "num_archs": Opt(100, ge=1),
        "unique": Opt(True, help="one architecture per isomorphism class"),
        "eval_images": Opt(512, ge=0, help="0 = the whole validation split"),
        "batch_size": Opt(256, ge=1),
    },
)
def stage_label(ctx: StageContext) -> dict[str, Any]:
    """Score ``num_archs`` random architectures with inherited weights -> ``labels.csv`` (eval log)."""
    from .evaluate import evaluate_run

    c = ctx.cfg["label"]
    ids = label_archs(ctx.space, c["num_archs"], c["unique"], ctx.seed)
    n = len(ids)
    res = evaluate_run(
        ctx.upstream["supernet"],
        ids,
        out=ctx.dir / "labels.csv",
        max_images=c["eval_images"] or None,
        batch_size=c["batch_size"],
        device=ctx.device,
        progress=ctx.progress,
        jobs=int(ctx.cfg["run"]["eval_jobs"]) if str(ctx.device).startswith("cpu") else 1,
    )
    p = res.protocol
    protocol = f"top-1 % on {p['images']} images of the {p['split']}; BN: {p['bn']}; checkpoint {p['checkpoint']}"
    return {
        "labels": "labels.csv",
        "n": n,
        "images": p["images"],
        "protocol": protocol,
        "mean_acc": float(res.acc.mean()),
    }


@stage(
    "fit",
    depends=("label",),
    section="fit",
    options={
        "hidden": Opt(32, ge=1),
        "num_layers": Opt(3, ge=1),
        "ensemble": Opt(3, ge=1),
        "epochs": Opt(150, ge=1),
        "batch_size": Opt(64, ge=1),
        "lr": Opt(3e-3, gt=0.0),
        "loss": Opt("mix", choices=GCN_LOSSES),
        "holdout": Opt(0.2, ge=0.0, lt=1.0, help="fraction of labels held out to measure Kendall tau"),
        "refit": Opt(True, help="refit on all labels after the holdout"),
        "extra_logs": Opt([], items=str, help="accurate labels (eval logs with arch_str + extra_target) mixed in"),
        "extra_target": Opt("test_acc"),
        "extra_weight": Opt(5.0, gt=0.0),
    },
)
def stage_fit(ctx: StageContext) -> dict[str, Any]:
    """Fit the GCN predictor on the labels; Kendall tau on a held-out part; save ``predictor.pt``."""
    import numpy as np

    from predictor.gcn import GCNPredictor
    from predictor.logs import read_log
    from predictor.metrics import kendall_tau, spearman

    c = ctx.cfg["fit"]
    log = read_log(ctx.upstream["label"] / "labels.csv", space=ctx.space.name)
    archs, y = log.arch_str, log.metrics["supernet_acc"]
    params = {k: c[k] for k in ("hidden", "num_layers", "ensemble", "epochs", "batch_size", "lr", "loss")}

    def model() -> GCNPredictor:
        return GCNPredictor(
            **params, space=ctx.space.name, random_state=ctx.seed, device=ctx.device, verbose=ctx.progress
        )

    rng = np.random.default_rng([ctx.seed, 2])
    perm = rng.permutation(len(y))
    n_hold = int(round(c["holdout"] * len(y))) if len(y) >= 10 else 0
    out: dict[str, Any] = {"n_labels": int(len(y))}
    if n_hold >= 3:
        hold, train = perm[:n_hold], perm[n_hold:]
        est = model().fit(archs[train], y[train])
        pred = est.predict(archs[hold])
        out.update(
            holdout_n=n_hold,
            holdout_kendall_tau=kendall_tau(y[hold], pred),
            holdout_spearman=spearman(y[hold], pred),
            protocol="GCN fitted on the other labels; tau against supernet_acc of held-out random architectures",
        )
        _write_frame(ctx.dir / "holdout.csv", {"arch_str": archs[hold], "supernet_acc": y[hold], "pred": pred})
    else:
        est = None
    xs, ys, w, src = list(archs), list(y), [1.0] * len(y), [0] * len(y)
    for path in c["extra_logs"]:
        extra = read_log(ctx.cfg.resolve(path), space=ctx.space.name, metrics=[c["extra_target"]])
        xs += list(extra.arch_str)
        ys += list(extra.metrics[c["extra_target"]])
        w += [c["extra_weight"]] * len(extra)
        src += [1] * len(extra)
    if est is None or c["refit"] or c["extra_logs"]:
        est = model().fit(xs, ys, sample_weight=w, source=src if c["extra_logs"] else None)
    est.target_ = "supernet_acc"
    est.save(ctx.dir / "predictor.pt")
    out["model"] = "predictor.pt"
    return out


def _write_frame(path: Path, frame: Mapping[str, Any]) -> None:
    import numpy as np

    from predictor.table import write_csv

    write_csv(path, {k: np.asarray(v) for k, v in frame.items()})


def _macro(ctx: StageContext) -> dict[str, Any]:
    """The space's macro options from ``[table]`` (resolved at load: the space's own keys only)."""
    macro = ctx.space.macro_defaults()
    macro.update({k: v for k, v in ctx.cfg["table"].items() if k in macro})
    return macro


def table_columns(sp: Any) -> tuple[str, ...]:
    """The columns :func:`space_table` writes for space ``sp`` (what a query target may bound, with
    the hardware files' columns); the config check asks here so that the two cannot drift."""
    index = ("index",) if sp.enumerable else ()
    return ("arch_str", *index, "iso_class", "dead", "params_m", "flops_m", "pred", "pred_std")


def space_table(sp: Any, ids: Any, pred: Any, std: Any, macro: Mapping[str, Any], meta: Mapping[str, Any]) -> Any:
    """A lookup table of the rows ``ids`` (all of a small space, or search results) with exact costs.

    Columns as :meth:`LookupTable.build` writes them; ``index`` only where the space has one,
    ``iso_class`` numbers the classes (of the whole space where it can be listed, else of these rows).
    """
    import numpy as np

    from predictor.lookup import LookupTable

    costs = sp.costs(ids, dict(macro))
    frame: dict[str, Any] = {"arch_str": np.asarray(sp.decode(ids), dtype=object)}
    if sp.enumerable:
        frame["index"] = sp.index_of(ids)
        frame["iso_class"] = sp.iso_class(ids)
    else:
        frame["iso_class"] = np.unique(sp.canonical_ids(ids), axis=0, return_inverse=True)[1].reshape(-1)
    frame["dead"] = sp.is_dead(ids)
    frame["params_m"] = np.asarray(costs["params_m"], dtype=np.float64)
    frame["flops_m"] = np.asarray(costs["flops_m"], dtype=np.float64)
    frame["pred"] = np.asarray(pred, dtype=np.float64).reshape(-1)
    frame["pred_std"] = np.asarray(std, dtype=np.float64).reshape(-1)
    info = {"space": sp.name, "macro": dict(macro), "flops": "MACs (millions)", **dict(meta)}
    return LookupTable(frame, info)


# the deployment network the exact costs describe; keys the space has no macro option for are
# dropped at load (nb201: channels, cells, input_size, num_classes; chain spaces: input_size, num_classes)
@stage(
    "table",
    depends=("fit",),
    section="table",
    large_space_reads=("search", "query"),  # searches under the [query] targets, prices its hardware files
    options={
        "channels": Opt(16, ge=1),
        "cells": Opt(5, ge=1),
        "input_size": Opt(32, ge=1),
        "num_classes": Opt(10, ge=1),
    },
)
def stage_table(ctx: StageContext) -> dict[str, Any]:
    """Predict every architecture -> ``table.csv`` (lookup table with exact costs).

    A space too large to tabulate gets the table of a search over the predictor instead
    (:func:`search_predictor`, options in ``[search]``).
    """
    from predictor.gcn import GCNPredictor
    from predictor.lookup import LookupTable

    sp = ctx.space
    est = GCNPredictor.load(ctx.upstream["fit"] / "predictor.pt", device=ctx.device)
    sp.check_compatible(getattr(est, "space", "nb201"), f"predictor {ctx.upstream['fit'] / 'predictor.pt'}")
    meta = {"target": "supernet_acc", "model": "GCNPredictor"}
    if sp.enumerable:
        pred, std = est.predict_space(return_std=True)
        table = space_table(sp, sp.all_ids(), pred, std, _macro(ctx), meta)
        table.to_csv(ctx.dir / "table.csv")
        return {"table": "table.csv", "rows": len(table), "kind": "full"}
    c = ctx.cfg["search"]
    ctx.log(
        f"space {sp.name!r} has {sp.size:.3e} architectures, too many to tabulate: searching the predictor "
        f"({c['budget']} classes per target, method {c['method']}) and tabulating the best {c['rows']} of each"
    )
    sources = _cost_sources(ctx)
    ids, pred, std, scored = search_predictor(est, sp, _targets(ctx), _macro(ctx), c, ctx.seed, sources)
    meta["search"] = {**c, "scored": scored}
    table = space_table(sp, ids, pred, std, _macro(ctx), meta)
    for src in sources:
        table = LookupTable({**table.columns, **_priced(sp, src, table["arch_str"])}, table.meta)
    table.to_csv(ctx.dir / "table.csv")
    return {"table": "table.csv", "rows": len(table), "kind": "search", "scored": scored}


def _cost_source(ctx: StageContext, path: str) -> Any:
    """``[query] hardware`` entry as a cost source: a hardware table or a latency model file."""
    from predictor.search import load_cost_source

    return load_cost_source(ctx.cfg.resolve(path), ctx.space.name)


def _cost_sources(ctx: StageContext) -> list[Any]:
    return [_cost_source(ctx, p) for p in ctx.cfg["query"]["hardware"]]


def _priced(sp: Any, src: Any, archs: Any) -> dict[str, Any]:
    """The source's cost columns (and ``<col>_std`` where it gives one) for these architectures."""
    import numpy as np

    ids = sp.encode(list(archs))
    got = src.predict(ids)
    out: dict[str, Any] = {}
    for c in src.columns:
        mean, std = got[c]
        out[c] = np.asarray(mean, dtype=np.float64).reshape(-1)
        if std is not None:
            out[f"{c}_std"] = np.asarray(std, dtype=np.float64).reshape(-1)
    return out


def search_predictor(
    est: Any,
    sp: Any,
    targets: list[dict[str, Any]],
    macro: Mapping[str, Any],
    c: Mapping[str, Any],
    seed: int,
    sources: list[Any] | tuple[Any, ...] = (),
) -> tuple[Any, Any, Any, int]:
    """Candidates of a space too large to list: ``nasgcn search`` over the predictor, per target.

    :func:`predictor.search.search` (evolution + local search, one per isomorphism class) runs
    once per target under all its bounds: exact costs, and columns of the cost ``sources``
    (hardware tables, latency model files); the table keeps each target's best ``rows`` and its
    Pareto front, merged one per class, best predicted first. Returns op ids, predictions,
    ensemble std and how many classes were scored in all.
    """
    import numpy as np

    from predictor.search import search

    def score(ids: Any) -> tuple[Any, Any]:
        return est.predict(ids, return_std=True)

    parts: list[tuple[Any, Any, Any]] = []
    scored = 0
    for i, t in enumerate(targets):
        res = search(
            sp,
            score,
            costs=list(sources),
            constraints=t["max"],
            minimums=t["min"],
            top_k=int(c["rows"]),
            budget=int(c["budget"]),
            method=str(c["method"]),
            kappa=float(c["kappa"]),
            random_state=np.random.default_rng([seed, 3, i]),
            macro=dict(macro),
        )
        rows = np.concatenate([res.top, res.pareto]).astype(np.int64)
        parts.append((res.ids[rows], res.pred[rows], res.pred_std[rows]))
        scored += res.n_scored
    ids = np.concatenate([p[0] for p in parts])
    pred = np.concatenate([p[1] for p in parts])
    std = np.concatenate([p[2] for p in parts])
    _, first = np.unique(sp.canonical_ids(ids), axis=0, return_index=True)
    keep = np.sort(first)
    keep = keep[np.argsort(-pred[keep], kind="stable")]
    return ids[keep], pred[keep], std[keep], scored


def _targets(ctx: StageContext) -> list[dict[str, Any]]:
    return ctx.cfg["query"]["targets"] or [{"name": "any", "max": {}, "min": {}}]


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


@stage(
    "query",
    depends=("table",),
    section="query",
    options={
        "top_k": Opt(20, ge=1),
        "unique": Opt(True),
        "hardware": Opt([], items=str, help="hardware tables / latency model files joined into the lookup table"),
        "targets": Opt([], help='[{name = "...", max = {column = value}, min = {...}}]'),
    },
)
def stage_query(ctx: StageContext) -> dict[str, Any]:
    """Join hardware tables, then per target the top candidates and the Pareto front."""
    from predictor.lookup import LookupTable

    c = ctx.cfg["query"]
    table = LookupTable.read_csv(ctx.upstream["table"] / "table.csv")
    ctx.space.check_compatible(table.meta.get("space"), f"lookup table {ctx.upstream['table'] / 'table.csv'}")
    if not ctx.space.enumerable:
        if c["hardware"]:
            ctx.log("hardware columns were priced for every searched architecture in the table stage")
    else:
        for path in c["hardware"]:  # a file recorded for another space is refused
            src = _cost_source(ctx, path)
            if hasattr(src, "table"):  # a hardware table: matched by arch_str (NaN where absent)
                table = src.table.join(table)
            else:  # a latency model file: priced for every row
                table = LookupTable({**table.columns, **_priced(ctx.space, src, table["arch_str"])}, table.meta)
    table.to_csv(ctx.dir / "table.csv")
    out: dict[str, Any] = {"table": "table.csv", "targets": []}
    for t in _targets(ctx):
        top = table.query(
            "pred", constraints=t["max"], minimums=t["min"], top_k=c["top_k"], unique=c["unique"], exclude_dead=True
        )
        cost = next(iter(t["max"]), "flops_m")
        front = table.pareto("pred", costs=[cost], constraints=t["max"], unique=True)
        name = _safe(t["name"])
        top.to_csv(ctx.dir / f"candidates-{name}.csv")
        front.to_csv(ctx.dir / f"pareto-{name}.csv")
        best = top.records()[0] if len(top) else None
        out["targets"].append(
            {
                "name": t["name"],
                "max": t["max"],
                "min": t["min"],
                "cost": cost,
                "candidates": f"candidates-{name}.csv",
                "pareto": f"pareto-{name}.csv",
                "n_candidates": len(top),
                "best": best,
            }
        )
        if not len(top):
            ctx.log(f"warning: no architecture satisfies target {t['name']!r}")
    return out


def _shift_target(ctx: StageContext, query: dict[str, Any]) -> dict[str, Any]:
    wanted = ctx.cfg["shift"]["target"]
    for t in query["targets"]:
        if not wanted or t["name"] == wanted:
            return t
    names = ", ".join(t["name"] for t in query["targets"])
    raise NasgcnError(f"{ctx.cfg.where('shift', 'target')}: shift.target {wanted!r} is not a query target ({names})")


@stage(
    "shift",
    depends=("supernet", "query"),
    section="shift",
    reads=("data",),
    options={
        "enabled": Opt(True),
        "target": Opt("", help='name of the query target whose constraints apply ("" = first)'),
        "seeds": Opt(10, ge=1, help="initial population members taken from the query's candidates"),
        "evaluate_top": Opt(20, ge=1, help="candidates scored before and after shifting (the report's tau)"),
        "new_dataset": Opt("", help="transfer: reset the classifier and shift on this dataset"),
        "new_root": Opt(""),
        "population": Opt(10, ge=1),
        "keep": Opt(4, ge=1),
        "mutations": Opt(5, ge=0),
        "mutation_prob": Opt(0.1, ge=0.0, le=1.0),
        "crossovers": Opt(5, ge=0),
        "generations": Opt(4, ge=1),
        "steps_per_candidate": Opt(4, ge=0),
        "lr": Opt(1e-3, ge=0.0),
        "momentum": Opt(0.9, ge=0.0, lt=1.0),
        "weight_decay": Opt(0.0, ge=0.0),
        "batch_size": Opt(64, ge=1),
        "eval_batches": Opt(2, ge=1),
        "eval_batch_size": Opt(256, ge=1),
        "warmup_steps": Opt(0, ge=0),
        "max_tries": Opt(100, ge=1),
        "final_top": Opt(5, ge=0),
    },
)
def stage_shift(ctx: StageContext) -> dict[str, Any]:
    """Supernet Shifting seeded from the query's candidates; scores before and after."""
    import numpy as np

    from predictor.lookup import LookupTable
    from predictor.metrics import kendall_tau

    from .data import Normalizer, load_data
    from .shifting import ShiftingConfig, SupernetShifting, make_constraint

    c = ctx.cfg["shift"]
    query = ctx.done("query")["outputs"]
    target = _shift_target(ctx, query)
    if not c["enabled"]:
        return {"enabled": False, "target": target["name"]}
    qdir = ctx.upstream["query"]
    table = LookupTable.read_csv(qdir / "table.csv")
    cands = LookupTable.read_csv(qdir / target["candidates"], allow_empty=True)
    if not len(cands):
        raise NasgcnError(f"no candidates for target {target['name']!r}: loosen its constraints")
    model, ckpt, data = _load_trained(ctx)
    new_classes = None
    if c["new_dataset"]:
        name, root = _dataset_spec(ctx.cfg, c["new_dataset"], c["new_root"])
        data = load_data(name, root, ctx.cfg["data"]["download"], ctx.cfg["data"]["val_fraction"], ctx.seed)
        if data.in_channels != model.in_channels:
            raise NasgcnError(
                f"new dataset {c['new_dataset']!r} has {data.in_channels} channels, the supernet expects {model.in_channels}"
            )
        new_classes = data.num_classes
    # a space too large to tabulate: hardware columns come from their sources for any visited architecture
    sources = _cost_sources(ctx) if not ctx.space.enumerable else ()
    constraint = make_constraint(
        target["max"], table=table, macro=_macro(ctx), min_values=target["min"], space=ctx.space, sources=sources
    )
    scfg = ShiftingConfig.from_dict(shifting_options(c))
    sh = SupernetShifting(
        model,
        data.train,
        data.val,
        scfg,
        constraint=constraint,
        new_num_classes=new_classes,
        run_dir=ctx.dir / "search",
        device=ctx.device,
        random_state=ctx.seed,
        progress=ctx.progress,
        space=ctx.space.name,
        transform=Normalizer(data.mean, data.std),
    )
    archs = list(cands["arch_str"][: c["evaluate_top"]])
    before = sh.evaluate(archs) if new_classes is None else np.full(len(archs), np.nan)
    result = sh.run(seeds=list(cands["arch_str"][: c["seeds"]]))
    after = sh.evaluate(archs)
    pred = np.asarray(cands["pred"][: len(archs)], dtype=float)
    _write_frame(
        ctx.dir / "ranking.csv",
        {"arch_str": np.asarray(archs, dtype=object), "pred": pred, "supernet_before": before, "supernet_after": after},
    )
    _write_frame(
        ctx.dir / "final.csv",
        {
            "arch_str": np.asarray([r["arch_str"] for r in result.ranking], dtype=object),
            "shifted_score": np.asarray([r["score"] for r in result.ranking]),
            "rank": np.asarray([r.get("rank", i + 1) for i, r in enumerate(result.ranking)], dtype=np.int64),
            "tied_with": np.asarray([r.get("tied_with", 0) for r in result.ranking], dtype=np.int64),
        },
    )
    ok = ~np.isnan(before)
    return {
        "space": ctx.space.name,
        "target": target["name"],
        "best_arch": result.best_arch,
        "best_score": result.best_score,
        "best_tied_with": int(getattr(result, "best_tied_with", 0)),
        "generations": len(result.trajectory),
        "visited": int(sum(len(r["candidates"]) for r in result.trajectory)),
        "trajectory": "search/trajectory.jsonl",
        "ranking": "ranking.csv",
        "final": "final.csv",
        "transfer": c["new_dataset"] or None,
        "tau_pred_vs_before": kendall_tau(pred[ok], before[ok]) if ok.sum() > 2 else None,
        "tau_pred_vs_after": kendall_tau(pred, after) if len(pred) > 2 else None,
        "tau_before_vs_after": kendall_tau(before[ok], after[ok]) if ok.sum() > 2 else None,
        "protocol": f"top-1 % on {scfg.eval_batches}x{scfg.eval_batch_size} validation images, eval() mode",
    }


def _picks(ctx: StageContext) -> list[tuple[str, str]]:
    """(arch_str, origin) to retrain: the shifted search's top ones, then the lookup table's pick."""
    from predictor.table import read_csv

    c = ctx.cfg["retrain"]
    picks: list[tuple[str, str]] = []
    shift = ctx.done("shift")["outputs"]
    if shift.get("final"):
        frame, _ = read_csv(ctx.upstream["shift"] / shift["final"])
        picks += [(str(a), "shifting") for a in frame["arch_str"][: c["top"]]]
    query = ctx.done("query")["outputs"]
    target = next((t for t in query["targets"] if t["name"] == shift.get("target")), query["targets"][0])
    if target.get("best"):
        a = target["best"]["arch_str"]
        if a not in [p for p, _ in picks]:
            picks.append((a, "lookup"))
    return picks


@stage(
    "retrain",
    depends=("query", "shift"),
    section="retrain",
    reads=("data",),
    options={
        "enabled": Opt(True),
        "top": Opt(2, ge=1, help="how many final picks to train from scratch"),
        "epochs": Opt(5, ge=1),
        "batch_size": Opt(64, ge=1),
        "lr": Opt(0.05, gt=0.0),
        "weight_decay": Opt(5e-4, ge=0.0),
        "channels": Opt(0, ge=0, help="0 = the supernet's (NB201)"),
        "cells": Opt(0, ge=0),
        "width": Opt(0.0, ge=0.0, help="chain spaces: channel multiplier (0 = the supernet's)"),
        "limit_train_batches": Opt(0, ge=0),
        "split": Opt("auto", choices=("auto", "val", "test"), help="auto: test split if the dataset has one"),
    },
)
def stage_retrain(ctx: StageContext) -> dict[str, Any]:
    """Train the final picks from scratch (:func:`supernet.retrain.retrain`, resumable) -> ``retrain.csv``."""
    from .retrain import RetrainConfig, retrain

    c = ctx.cfg["retrain"]
    if not c["enabled"]:
        return {"enabled": False}
    picks = _picks(ctx)
    tc = train_config(ctx)
    split = c["split"] if c["split"] != "auto" else ("val" if tc.dataset == "digits" else "test")
    known = {f.name for f in dataclass_fields(RetrainConfig)}
    # 0 = the supernet's; options the space's models do not take (dropped at load) stay default
    model: dict[str, Any] = {k: c[k] or getattr(tc, k) for k in MODEL_KEYS if k in known and k in c}
    if "space" in known:
        model["space"] = ctx.space.name
    elif ctx.space.name != "nb201":  # pragma: no cover - a retrainer without spaces
        raise NasgcnError(f"stand-alone retraining does not support space {ctx.space.name!r} in this build")
    rc = RetrainConfig(
        dataset=tc.dataset,
        data_root=tc.data_root,
        download=tc.download,
        val_fraction=tc.val_fraction,
        limit_train=tc.limit_train,
        input_size=tc.input_size,
        augment=tc.augment,
        epochs=c["epochs"],
        batch_size=c["batch_size"],
        lr=c["lr"],
        weight_decay=c["weight_decay"],
        limit_train_batches=c["limit_train_batches"] or None,
        split=split,
        seed=ctx.seed,
        device=ctx.device,
        progress=ctx.progress,
        **model,
    )
    size = ", ".join(f"{k}={getattr(rc, k)}" for k in MODEL_KEYS if k in model)
    ctx.log(f"retraining {len(picks)} {ctx.space.name} architectures ({rc.epochs} epochs{', ' + size if size else ''})")
    records = retrain([a for a, _ in picks], rc, ctx.dir / "nets", log=ctx.dir / "retrain.csv")
    rows = [
        {
            "arch_str": r["arch_str"],
            "origin": origin,
            "test_acc": float(r["acc"]),
            "loss": float(r["loss"]),
            "split": r["split"],
            "epochs": r["epochs"],
            "params": r.get("params"),
            "rank": r.get("rank"),
            "tied_with": r.get("tied_with", 0),
        }
        for r, (_, origin) in zip(records, picks, strict=True)
    ]
    return {"log": "retrain.csv", "results": rows}


@stage(
    "report",
    depends=("supernet", "label", "fit", "table", "query", "shift", "retrain"),
    section="report",
    options={"html": Opt(False)},
)
def stage_report(ctx: StageContext) -> dict[str, Any]:
    """Markdown (and optional HTML) report with PNG plots of every stage's results."""
    from .report import write_report

    inputs = {name: (ctx.upstream[name], ctx.done(name)) for name in ctx.upstream}
    paths = write_report(ctx.dir, inputs, config=ctx.cfg.sections, html=ctx.cfg["report"]["html"])
    return {"report": paths["markdown"], "files": sorted(paths["files"])}
