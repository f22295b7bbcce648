"""``nasgcn run CONFIG.toml``: the whole method as cached, resumable stages.

supernet (train) -> label (evaluate sampled archs) -> fit (GCN predictor) -> table
(every architecture of the space) -> query (top candidates per hardware target) -> shift
(Supernet Shifting seeded from the query) -> retrain (stand-alone training of the final
picks) -> report.

The ``[space]`` section (``name = "nbmacro"``; default ``nb201``) selects the search space
for every stage. A space too large to tabulate (``fbnet``) gets, in the ``table`` stage, a
table of the candidates found by a search over the predictor (``[search]``: a sampled pool
improved by mutation and crossover of its best members under each target's exact-cost
bounds), which the query, shifting and retraining stages then use like a full table.

Why stages with hashed inputs: each stage's output directory is
``OUT/stages/<name>-<hash12>/`` where the hash covers the stage's config sections,
the run seed and the hashes of the stages it reads from. Changing one section
reruns that stage and everything downstream; everything else is a cache hit. A
``done.json`` marker is written *last*, so a killed stage has no marker and is run
again in the same directory, where the trainers find their checkpoints and resume.
Stages are deterministic given their inputs, so a forced rerun leaves downstream
caches valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from importlib import resources
from pathlib import Path
from typing import Any

from predictor.errors import NasgcnError
from predictor.io import dumps, write_json_atomic

STAGES: tuple[str, ...] = ("supernet", "label", "fit", "table", "query", "shift", "retrain", "report")
# Upstream stages whose outputs each stage reads.
DEPENDS: dict[str, tuple[str, ...]] = {
    "supernet": (),
    "label": ("supernet",),
    "fit": ("label",),
    "table": ("fit",),
    "query": ("table",),
    "shift": ("supernet", "query"),
    "retrain": ("query", "shift"),
    "report": ("supernet", "label", "fit", "table", "query", "shift", "retrain"),
}
# Config sections whose values go into each stage's hash (besides its own section).
# ``space`` is in every stage: a changed space never reuses another space's outputs.
SECTIONS: dict[str, tuple[str, ...]] = {
    "supernet": ("space", "data", "supernet"),
    "label": ("space", "data", "label"),
    "fit": ("space", "fit"),
    "table": ("space", "table"),
    "query": ("space", "query"),
    "shift": ("space", "data", "shift"),
    "retrain": ("space", "data", "retrain"),
    "report": ("space", "report"),
}
# Sections a stage reads only on a space that cannot be enumerated.
# (the table stage then searches under the [query] targets and prices its [query] hardware files)
LARGE_SPACE_SECTIONS: dict[str, tuple[str, ...]] = {"table": ("search", "query")}
STAGE_VERSION = 2  # bump when a stage's outputs change meaning (2: spaces)
# [supernet] / [retrain] model options: each space's models take some of them (the others stay unused).
MODEL_KEYS = ("channels", "cells", "width")
# [table] keys that are macro-network options of some space (the rest are not macro options).
MACRO_KEYS = ("channels", "cells", "input_size", "num_classes")

# ----------------------------------------------------------------------------------
# configuration: sections, defaults and types (unknown keys are errors)
# ----------------------------------------------------------------------------------
DEFAULTS: dict[str, dict[str, Any]] = {
    # threads 0 = torch default; eval_jobs: CPU processes sharing the label stage's evaluations
    "run": {"name": "run", "seed": 0, "device": "cpu", "progress": True, "threads": 0, "eval_jobs": 1},
    "space": {"name": "nb201"},  # any registered space: nb201, nbmacro, fbnet, a register_chain_space() one
    "data": {
        "dataset": "digits",  # digits | cifar10 | cifar100 | npz (folder of *train*.npz / *test*.npz)
        "root": "",  # data folder (npz: required); relative paths are relative to the config file
        "download": False,  # cifar: let torchvision download
        "val_fraction": 0.2,  # held out of the training images: labels, shifting scores
        "limit_train": 0,  # 0 = all training images
        "input_size": 0,  # 0 = native; smaller = CPU-scale proxy
        "augment": "auto",  # auto | on | off
    },
    "supernet": {
        "channels": 8,  # NB201: cell channels of the first stage
        "cells": 1,  # NB201: cells per stage
        "width": 1.0,  # chain spaces: channel multiplier of the supernet (1 = the space's network)
        "epochs": 3,
        "batch_size": 64,
        "lr": 0.05,
        "min_lr": 0.001,
        "momentum": 0.9,
        "nesterov": True,
        "weight_decay": 5e-4,
        "grad_clip": 5.0,
        "sampler": "uniform",
        "max_drop": 0.5,
        "limit_train_batches": 0,
    },
    "label": {"num_archs": 100, "unique": True, "eval_images": 512, "batch_size": 256},
    "fit": {
        "hidden": 32,
        "num_layers": 3,
        "ensemble": 3,
        "epochs": 150,
        "batch_size": 64,
        "lr": 3e-3,
        "loss": "mix",
        "holdout": 0.2,  # fraction of labels held out to measure Kendall tau (then refit on all)
        "refit": True,
        "extra_logs": [],  # accurate labels (eval logs with arch_str + extra_target) mixed in
        "extra_target": "test_acc",
        "extra_weight": 5.0,
    },
    # the deployment network the exact costs describe; keys the space has no macro option for are
    # dropped (nb201: channels, cells, input_size, num_classes; chain spaces: input_size, num_classes)
    "table": {"channels": 16, "cells": 5, "input_size": 32, "num_classes": 10},
    # spaces too large to tabulate: the table stage searches the predictor instead (`nasgcn search`):
    # per query target, `budget` classes scored, the best `rows` and the Pareto front kept
    "search": {"budget": 20000, "rows": 200, "method": "both", "kappa": 0.0},
    "query": {
        "top_k": 20,
        "unique": True,
        "hardware": [],  # hardware table files (CSV) joined into the lookup table
        "targets": [],  # [{name = "...", max = {column = value}, min = {...}}]
    },
    "shift": {
        "enabled": True,
        "target": "",  # name of the query target whose constraints apply ("" = first)
        "seeds": 10,  # initial population members taken from the query's candidates
        "evaluate_top": 20,  # candidates scored before and after shifting (the report's tau)
        "new_dataset": "",  # transfer: reset the classifier and shift on this dataset
        "new_root": "",
        "population": 10,
        "keep": 4,
        "mutations": 5,
        "mutation_prob": 0.1,
        "crossovers": 5,
        "generations": 4,
        "steps_per_candidate": 4,
        "lr": 1e-3,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "batch_size": 64,
        "eval_batches": 2,
        "eval_batch_size": 256,
        "warmup_steps": 0,
        "max_tries": 100,
        "final_top": 5,
    },
    "retrain": {
        "enabled": True,
        "top": 2,  # how many final picks to train from scratch
        "epochs": 5,
        "batch_size": 64,
        "lr": 0.05,
        "weight_decay": 5e-4,
        "channels": 0,  # 0 = the supernet's (NB201)
        "cells": 0,
        "width": 0.0,  # chain spaces: channel multiplier (0 = the supernet's)
        "limit_train_batches": 0,
        "split": "auto",  # auto (test split if the dataset has one, else val) | val | test
    },
    "report": {"html": False},
}
TARGET_KEYS = {"name", "max", "min"}
SEARCH_METHODS = ("both", "evolution", "local")  # predictor.search.METHODS (not imported: load stays light)


@dataclass
class Config:
    """A validated pipeline configuration: ``sections[name][key]`` with defaults filled."""

    sections: dict[str, dict[str, Any]]
    path: str = "<defaults>"
    base_dir: Path = field(default_factory=Path.cwd)
    #: keys the file set explicitly, per section (the others hold defaults)
    given: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: what loading changed or ignored (options of another space under ``--space``)
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self.sections[name]

    @property
    def space(self) -> Any:
        """The :class:`~predictor.spaces.SearchSpace` of ``[space] name``."""
        from predictor.spaces import get_space

        return get_space(self.sections["space"]["name"])

    def resolve(self, p: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        q = Path(os.path.expanduser(p))
        return q if q.is_absolute() else (self.base_dir / q)


def _check_type(value: Any, default: Any, where: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise NasgcnError(f"{where} must be true or false, got {value!r}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise NasgcnError(f"{where} must be an integer, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise NasgcnError(f"{where} must be a number, got {value!r}")
        value = float(value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise NasgcnError(f"{where} must be a string, got {value!r}")
    elif isinstance(default, list):
        if not isinstance(value, list):
            raise NasgcnError(f"{where} must be a list, got {value!r}")
    return value


def _check_targets(targets: list[Any], where: str) -> list[dict[str, Any]]:
    out, names = [], set()
    for i, t in enumerate(targets):
        w = f"{where}.targets[{i}]"
        if not isinstance(t, dict):
            raise NasgcnError(f'{w} must be a table like {{name = "small", max = {{flops_m = 20}}}}')
        unknown = sorted(set(t) - TARGET_KEYS)
        if unknown:
            raise NasgcnError(f"{w}: unknown key(s) {', '.join(unknown)}; known: name, max, min")
        name = t.get("name", f"target{i}")
        if not isinstance(name, str) or not name or name in names:
            raise NasgcnError(f"{w}: name must be a unique non-empty string, got {name!r}")
        names.add(name)
        bounds = {}
        for kind in ("max", "min"):
            b = t.get(kind, {})
            if not isinstance(b, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in b.values()
            ):
                raise NasgcnError(f"{w}.{kind} must map column names to numbers, got {b!r}")
            bounds[kind] = {str(k): float(v) for k, v in b.items()}
        out.append({"name": name, **bounds})
    return out


def parse_config(
    data: Mapping[str, Any], path: str = "<config>", base_dir: Path | None = None, space: str | None = None
) -> Config:
    """Fill defaults and validate; every problem names the file and the key.

    ``space`` overrides ``[space] name`` (``--space``); options of the file that only another
    space uses are then dropped with a note (:attr:`Config.notes`) instead of refused.
    """
    if space is not None:
        sec = data.get("space", {})
        data = {**data, "space": {**(sec if isinstance(sec, Mapping) else {}), "name": space}}
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise NasgcnError(f"{path}: unknown section(s) [{'], ['.join(unknown)}]; known: {', '.join(DEFAULTS)}")
    sections: dict[str, dict[str, Any]] = {}
    for name, defaults in DEFAULTS.items():
        given = data.get(name, {})
        if not isinstance(given, Mapping):
            raise NasgcnError(f"{path}: [{name}] must be a table of options")
        bad = sorted(set(given) - set(defaults))
        if bad:
            raise NasgcnError(
                f"{path}: unknown key(s) {', '.join(f'{name}.{k}' for k in bad)}; [{name}] accepts: {', '.join(defaults)}"
            )
        sec = dict(defaults)
        for k, v in given.items():
            sec[k] = _check_type(v, defaults[k], f"{path}: {name}.{k}")
        sections[name] = sec
    sections["query"]["targets"] = _check_targets(sections["query"]["targets"], f"{path}: query")
    for key in ("dataset", "new_dataset"):
        sec = sections["data"] if key == "dataset" else sections["shift"]
        if sec[key] not in DATASETS and not (key == "new_dataset" and sec[key] == ""):
            raise NasgcnError(f"{path}: {key} must be one of {', '.join(DATASETS)}, got {sec[key]!r}")
    if sections["retrain"]["split"] not in ("auto", "val", "test"):
        raise NasgcnError(f"{path}: retrain.split must be auto, val or test, got {sections['retrain']['split']!r}")
    if sections["data"]["augment"] not in ("auto", "on", "off"):
        raise NasgcnError(f"{path}: data.augment must be auto, on or off, got {sections['data']['augment']!r}")
    if sections["run"]["eval_jobs"] < 1:
        raise NasgcnError(f"{path}: run.eval_jobs must be at least 1, got {sections['run']['eval_jobs']}")
    if not 0.0 < sections["data"]["val_fraction"] < 1.0:
        raise NasgcnError(f"{path}: data.val_fraction must lie strictly between 0 and 1")
    shift_keys = {k: v for k, v in sections["shift"].items() if k not in _SHIFT_PIPELINE_KEYS}
    from .shifting import ShiftingConfig

    try:
        ShiftingConfig.from_dict(shift_keys)
    except NasgcnError as err:
        raise NasgcnError(f"{path}: {err}") from None
    given = {name: tuple(sorted(data.get(name, {}))) for name in DEFAULTS}
    notes = _check_space(sections, given, path, lenient=space is not None)
    return Config(sections, path, base_dir or Path.cwd(), given, notes)


def _check_space(
    sections: dict[str, dict[str, Any]], given: Mapping[str, tuple[str, ...]], path: str, lenient: bool = False
) -> list[str]:
    """Resolve ``[space]`` and the space-dependent keys; refuse options the space has no use for.

    ``[table]`` becomes the space's macro options (its defaults where the file is silent), so
    the recorded config and the stage hashes say exactly which network the costs describe.
    ``lenient`` (the space was overridden on the command line, the file was written for another
    one): such options are dropped instead, and the returned notes say which.
    """
    notes: list[str] = []

    def refuse(message: str) -> None:
        if not lenient:
            raise NasgcnError(f"{path}: {message}")
        notes.append(f"{path}: ignored for --space {sections['space']['name']}: {message}")

    from predictor.spaces import get_space

    name = sections["space"]["name"]
    try:
        sp = get_space(name)
    except NasgcnError as err:
        raise NasgcnError(f"{path}: space.name: {err}") from None
    sections["space"]["name"] = sp.name
    macro = sp.macro_defaults()
    extra = [k for k in given["table"] if k in MACRO_KEYS and k not in macro]
    if extra:
        refuse(
            f"{', '.join(f'table.{k}' for k in extra)} is not a macro option of space {sp.name!r} "
            f"(its options: {', '.join(macro) or 'none'})"
        )
    table = {k: v for k, v in sections["table"].items() if k not in MACRO_KEYS}
    for k in MACRO_KEYS:
        if k in macro:
            table[k] = sections["table"][k] if k in given["table"] else macro[k]
    try:
        sp.costs(sp.sample(1, 0), {k: v for k, v in table.items() if k in macro})
    except NasgcnError as err:
        raise NasgcnError(f"{path}: [table]: {err}") from None
    sections["table"] = table
    for k in ("budget", "rows"):
        if sections["search"][k] < 1:
            raise NasgcnError(f"{path}: search.{k} must be at least 1, got {sections['search'][k]}")
    if sections["search"]["method"] not in SEARCH_METHODS:
        raise NasgcnError(
            f"{path}: search.method must be one of {', '.join(SEARCH_METHODS)}, got {sections['search']['method']!r}"
        )
    if sp.enumerable and given.get("search"):
        refuse(f"[search] applies to spaces too large to tabulate; {sp.name!r} is tabulated in full")
    names = _supernet_options(sp.name)
    if names is not None:
        for sec in ("supernet", "retrain"):
            bad = [k for k in given[sec] if k in MODEL_KEYS and k not in names]
            if bad:
                refuse(
                    f"{', '.join(f'{sec}.{k}' for k in bad)} does not apply to space {sp.name!r} "
                    f"(its supernet takes: {', '.join(k for k in MODEL_KEYS if k in names) or 'none of them'})"
                )
            # the recorded config (and the hashes) keep only the model options this space uses
            sections[sec] = {k: v for k, v in sections[sec].items() if k not in MODEL_KEYS or k in names}
    return notes


def _supernet_options(space: str) -> frozenset[str] | None:
    """Model options the space's supernet takes (None when the model registry is unavailable)."""
    try:
        from .models.registry import supernet_option_names
    except ImportError:  # pragma: no cover - torch missing: the supernet stages fail later anyway
        return None
    return supernet_option_names(space)


_SHIFT_PIPELINE_KEYS = {"enabled", "target", "seeds", "evaluate_top", "new_dataset", "new_root"}
DATASETS = ("digits", "cifar10", "cifar100", "npz")


def _load_toml(text: str, path: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise NasgcnError(f"{path}: not valid TOML ({err})") from None


def load_config(path: str | os.PathLike, space: str | None = None) -> Config:
    """Read and validate a TOML config file (``space``: override its ``[space] name``)."""
    p = Path(path)
    if not p.is_file():
        raise NasgcnError(f"config file {p} not found")
    return parse_config(_load_toml(p.read_text(encoding="utf-8"), str(p)), str(p), p.resolve().parent, space)


def builtin_config(name: str = "demo", space: str | None = None) -> Config:
    """A config shipped inside the package (``supernet/configs/<name>.toml``); relative paths resolve there."""
    ref = resources.files("supernet") / "configs" / f"{name}.toml"
    if not ref.is_file():
        raise NasgcnError(f"no built-in config {name!r}")
    data = _load_toml(ref.read_text(encoding="utf-8"), f"<built-in {name}.toml>")
    base = Path(str(ref)).parent if isinstance(ref, os.PathLike) else None
    return parse_config(data, f"{name}.toml", base, space)


# ----------------------------------------------------------------------------------
# stage bookkeeping
# ----------------------------------------------------------------------------------
def stage_hashes(cfg: Config) -> dict[str, str]:
    """12-hex-digit hash of each stage's inputs: its sections, the seed, upstream hashes."""
    out: dict[str, str] = {}
    for name in STAGES:
        payload = {
            "stage": name,
            "version": STAGE_VERSION,
            "seed": cfg["run"]["seed"],
            "sections": {s: cfg[s] for s in stage_sections(cfg, name)},
            "upstream": {u: out[u] for u in DEPENDS[name]},
        }
        blob = json.dumps(json.loads(dumps(payload)), sort_keys=True, separators=(",", ":"))
        out[name] = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return out


def stage_sections(cfg: Config, name: str) -> tuple[str, ...]:
    """Config sections whose values a stage reads (hashed; recorded in its ``done.json``)."""
    extra = () if cfg.space.enumerable else LARGE_SPACE_SECTIONS.get(name, ())
    return SECTIONS[name] + extra


@dataclass
class StageContext:
    """What a stage function gets: config, its directory, upstream directories, options."""

    name: str
    cfg: Config
    dir: Path
    upstream: dict[str, Path]
    device: str
    seed: int
    progress: bool
    log: Callable[[str], None]

    @property
    def space(self) -> Any:
        return self.cfg.space

    def done(self, stage: str) -> dict[str, Any]:
        """The ``done.json`` record of an upstream stage (its outputs summary)."""
        return json.loads((self.upstream[stage] / "done.json").read_text())


StageFn = Callable[[StageContext], Mapping[str, Any]]


class Pipeline:
    """Runs the stages of a :class:`Config` under ``out_dir`` with caching and resume."""

    def __init__(
        self,
        cfg: Config,
        out_dir: str | os.PathLike,
        device: str | None = None,
        progress: bool | None = None,
        log: Callable[[str], None] | None = None,
        stage_fns: Mapping[str, StageFn] | None = None,
    ) -> None:
        self.cfg = cfg
        self.out = Path(out_dir)
        self.device = device or cfg["run"]["device"]
        self.progress = cfg["run"]["progress"] if progress is None else progress
        self.log = log if log is not None else (lambda msg: print(msg, flush=True))
        self.stage_fns = dict(STAGE_FUNCTIONS if stage_fns is None else stage_fns)
        self.hashes = stage_hashes(cfg)

    def stage_dir(self, name: str) -> Path:
        return self.out / "stages" / f"{name}-{self.hashes[name]}"

    def is_done(self, name: str) -> bool:
        return (self.stage_dir(name) / "done.json").is_file()

    def run(
        self, only: str | None = None, from_stage: str | None = None, force: tuple[str, ...] | list[str] = ()
    ) -> dict[str, dict[str, Any]]:
        """Run the pipeline; returns each stage's ``done.json`` record.

        ``only``: that stage alone (its upstream must be done). ``from_stage``: redo
        that stage and all after it. ``force``: redo these stages (their directory is
        cleared first; downstream stays cached since stages are deterministic).
        """
        for s in [only, from_stage, *force]:
            if s is not None and s not in STAGES:
                raise NasgcnError(f"unknown stage {s!r}; stages: {', '.join(STAGES)}")
        redo = set(force)
        if from_stage is not None:
            redo |= set(STAGES[STAGES.index(from_stage) :])
        todo = [only] if only else list(STAGES)
        if only:
            missing = [u for u in DEPENDS[only] if not self.is_done(u)]
            if missing:
                raise NasgcnError(
                    f"stage {only!r} needs {', '.join(missing)} done first (run without --only, or --only {missing[0]})"
                )
        self.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            self.out / "pipeline.json",
            {"config": self.cfg.sections, "config_path": self.cfg.path, "stages": self._stage_map()},
        )
        threads = int(self.cfg["run"]["threads"])
        if threads > 0:  # small models on a shared CPU: fewer threads avoid OpenMP oversubscription
            import torch

            torch.set_num_threads(threads)
        records: dict[str, dict[str, Any]] = {}
        for name in todo:
            records[name] = self._run_stage(name, redo=name in redo)
        if "report" in records:
            self._publish_report(records["report"])
        return records

    def _publish_report(self, record: Mapping[str, Any]) -> None:
        """Copy the report stage's files to ``OUT/report/`` (each atomically) for a stable path."""
        from predictor.io import atomic_path

        src, dst = self.stage_dir("report"), self.out / "report"
        dst.mkdir(parents=True, exist_ok=True)
        for name in record["outputs"].get("files", []):
            with atomic_path(dst / name, suffix=Path(name).suffix) as tmp:
                shutil.copyfile(src / name, tmp)

    def _stage_map(self) -> dict[str, str]:
        return {n: str(self.stage_dir(n).relative_to(self.out)) for n in STAGES}

    def _run_stage(self, name: str, redo: bool) -> dict[str, Any]:
        d = self.stage_dir(name)
        marker = d / "done.json"
        if marker.is_file() and not redo:
            self.log(f"[{name}] cached  {d}")
            return json.loads(marker.read_text())
        if redo and d.exists():
            shutil.rmtree(d)
        resumed = d.exists()
        d.mkdir(parents=True, exist_ok=True)
        self.log(f"[{name}] {'resuming' if resumed else 'running'}  {d}")
        ctx = StageContext(
            name=name,
            cfg=self.cfg,
            dir=d,
            upstream={u: self.stage_dir(u) for u in DEPENDS[name]},
            device=self.device,
            seed=int(self.cfg["run"]["seed"]),
            progress=bool(self.progress),
            log=lambda msg, _n=name: self.log(f"[{_n}] {msg}"),
        )
        t0 = time.perf_counter()
        outputs = dict(self.stage_fns[name](ctx) or {})
        record = {
            "stage": name,
            "hash": self.hashes[name],
            "seconds": round(time.perf_counter() - t0, 2),
            "resumed": resumed,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "inputs": {"sections": {s: self.cfg[s] for s in stage_sections(self.cfg, name)}, "upstream": DEPENDS[name]},
            "outputs": outputs,
        }
        write_json_atomic(marker, record)  # last: marks the stage complete
        self.log(f"[{name}] done in {record['seconds']:.1f}s")
        return json.loads(marker.read_text())


# ----------------------------------------------------------------------------------
# stage implementations (heavy imports inside: `nasgcn query` must stay fast)
# ----------------------------------------------------------------------------------
def _dataset_spec(cfg: Config, dataset: str, root: str) -> tuple[str, str | None]:
    """``(name, data_root)`` in the form :func:`supernet.data.load_data` takes."""
    if dataset == "npz":
        if not root:
            raise NasgcnError(f"{cfg.path}: dataset 'npz' needs root = \"FOLDER\" with *train*.npz and *test*.npz")
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
    raise NasgcnError(f"{ctx.cfg.path}: shift.target {wanted!r} is not a query target ({names})")


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
    cands = LookupTable.read_csv(qdir / target["candidates"])
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
    scfg = ShiftingConfig.from_dict({k: v for k, v in c.items() if k not in _SHIFT_PIPELINE_KEYS})
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
        },
    )
    ok = ~np.isnan(before)
    return {
        "space": ctx.space.name,
        "target": target["name"],
        "best_arch": result.best_arch,
        "best_score": result.best_score,
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
    elif ctx.space.name != DEFAULTS["space"]["name"]:  # pragma: no cover - a retrainer without spaces
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
        }
        for r, (_, origin) in zip(records, picks, strict=True)
    ]
    return {"log": "retrain.csv", "results": rows}


def stage_report(ctx: StageContext) -> dict[str, Any]:
    """Markdown (and optional HTML) report with PNG plots of every stage's results."""
    from .report import write_report

    inputs = {name: (ctx.upstream[name], ctx.done(name)) for name in DEPENDS["report"]}
    paths = write_report(ctx.dir, inputs, config=ctx.cfg.sections, html=ctx.cfg["report"]["html"])
    return {"report": paths["markdown"], "files": sorted(paths["files"])}


STAGE_FUNCTIONS: dict[str, StageFn] = {
    "supernet": stage_supernet,
    "label": stage_label,
    "fit": stage_fit,
    "table": stage_table,
    "query": stage_query,
    "shift": stage_shift,
    "retrain": stage_retrain,
    "report": stage_report,
}
