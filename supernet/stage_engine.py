"""The stage engine: a registry where each stage is declared once, input hashing, caching, resume.

A stage is a function decorated with :func:`stage`, which names what it reads: the stages
whose outputs it uses (``depends``), its own config section and that section's options
(``options``; they become part of the config schema), and other sections it reads
(``reads``). The order of the pipeline is the order of declaration (a stage can only depend on
stages declared before it), so the CLI's stage names, the schema and the hashes all come from
one place.

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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from predictor.errors import NasgcnError
from predictor.io import dumps, write_json_atomic

if TYPE_CHECKING:
    from .config_schema import Config

STAGE_VERSION = 2  # bump when a stage's outputs change meaning (2: spaces)
STAGES_MODULE = "supernet.stages"  # where the built-in stages are declared (imported on first use)


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


@dataclass(frozen=True)
class Stage:
    """A declared stage: its function and everything the engine and the schema derive from it."""

    name: str
    fn: StageFn
    depends: tuple[str, ...] = ()
    section: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    reads: tuple[str, ...] = ()
    large_space_reads: tuple[str, ...] = ()

    @property
    def sections(self) -> tuple[str, ...]:
        """Config sections hashed into the stage: ``space`` (always: a changed space never reuses
        another space's outputs), the sections it reads and its own."""
        own = (self.section,) if self.section else ()
        return ("space", *self.reads, *own)


_REGISTRY: dict[str, Stage] = {}


def stage(
    name: str,
    *,
    depends: tuple[str, ...] = (),
    section: str | None = None,
    options: Mapping[str, Any] | None = None,
    reads: tuple[str, ...] = (),
    large_space_reads: tuple[str, ...] = (),
) -> Callable[[StageFn], StageFn]:
    """Declare a pipeline stage (the only place a stage is declared).

    ``depends``: stages whose outputs it reads (declared before it). ``section``/``options``:
    its own config section and ``{key: default or Opt}``. ``reads``: other sections whose values
    it uses. ``large_space_reads``: sections it reads only on a space that cannot be enumerated.
    """

    def deco(fn: StageFn) -> StageFn:
        if name in _REGISTRY:
            raise ValueError(f"stage {name!r} is declared twice")
        missing = [d for d in depends if d not in _REGISTRY]
        if missing:
            raise ValueError(f"stage {name!r} depends on {', '.join(missing)}, which must be declared before it")
        _REGISTRY[name] = Stage(
            name, fn, tuple(depends), section, dict(options or {}), tuple(reads), tuple(large_space_reads)
        )
        return fn

    return deco


def stage_registry() -> dict[str, Stage]:
    """The declared stages in pipeline order (the built-in ones are declared on first use)."""
    import_module(STAGES_MODULE)
    return _REGISTRY


def stage_names() -> tuple[str, ...]:
    return tuple(stage_registry())


def stage_sections(cfg: Config, name: str) -> tuple[str, ...]:
    """Config sections whose values a stage reads (hashed; recorded in its ``done.json``)."""
    st = stage_registry()[name]
    extra = () if cfg.space.enumerable else st.large_space_reads
    return st.sections + extra


def stage_hashes(cfg: Config) -> dict[str, str]:
    """12-hex-digit hash of each stage's inputs: its sections, the seed, upstream hashes."""
    out: dict[str, str] = {}
    for name, st in stage_registry().items():
        payload = {
            "stage": name,
            "version": STAGE_VERSION,
            "seed": cfg["run"]["seed"],
            "sections": {s: cfg[s] for s in stage_sections(cfg, name)},
            "upstream": {u: out[u] for u in st.depends},
        }
        blob = json.dumps(json.loads(dumps(payload)), sort_keys=True, separators=(",", ":"))
        out[name] = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return out


class Pipeline:
    """Runs the stages of a :class:`Config` under ``out_dir`` with caching and resume.

    The run folder is locked (:mod:`supernet.runlock`) while it runs: a second run into the
    same ``out_dir`` stops at once, naming the first.
    """

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
        self.registry = stage_registry()
        self.names = tuple(self.registry)
        self.device = device or cfg["run"]["device"]
        self.progress = cfg["run"]["progress"] if progress is None else progress
        self.log = log if log is not None else (lambda msg: print(msg, flush=True))
        fns = {n: st.fn for n, st in self.registry.items()}
        self.stage_fns = dict(fns if stage_fns is None else stage_fns)
        self.hashes = stage_hashes(cfg)

    def stage_dir(self, name: str) -> Path:
        return self.out / "stages" / f"{name}-{self.hashes[name]}"

    def is_done(self, name: str) -> bool:
        return (self.stage_dir(name) / "done.json").is_file()

    def plan(
        self, only: str | None = None, from_stage: str | None = None, force: tuple[str, ...] | list[str] = ()
    ) -> tuple[list[str], set[str]]:
        """(stages to visit, stages to redo); refuses unknown stages and a missing upstream."""
        for s in [only, from_stage, *force]:
            if s is not None and s not in self.registry:
                raise NasgcnError(f"unknown stage {s!r}; stages: {', '.join(self.names)}")
        redo = set(force)
        if from_stage is not None:
            redo |= set(self.names[self.names.index(from_stage) :])
        todo = [only] if only else list(self.names)
        if only:
            missing = [u for u in self.registry[only].depends if not self.is_done(u)]
            if missing:
                raise NasgcnError(
                    f"stage {only!r} needs {', '.join(missing)} done first (run without --only, or --only {missing[0]})"
                )
        return todo, redo

    def preflight(self, todo: list[str], redo: set[str]) -> None:
        """Checks that need the run's plan: the data folder, when a stage that reads it will run."""
        from .config_schema import check_data

        to_run = [n for n in todo if n in redo or not self.is_done(n)]
        read = {s for n in to_run for s in stage_sections(self.cfg, n)}
        check_data(self.cfg, [s for s in ("data", "shift") if s in read])

    def run(
        self, only: str | None = None, from_stage: str | None = None, force: tuple[str, ...] | list[str] = ()
    ) -> dict[str, dict[str, Any]]:
        """Run the pipeline; returns each stage's ``done.json`` record.

        ``only``: that stage alone (its upstream must be done). ``from_stage``: redo
        that stage and all after it. ``force``: redo these stages (their directory is
        cleared first; downstream stays cached since stages are deterministic).
        Nothing is created before the plan and the data check pass.
        """
        from .runlock import RunLock

        todo, redo = self.plan(only, from_stage, force)
        self.preflight(todo, redo)
        with RunLock(self.out, f"nasgcn run {self.cfg.path}"):
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
        return {n: str(self.stage_dir(n).relative_to(self.out)) for n in self.names}

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
        depends = self.registry[name].depends
        ctx = StageContext(
            name=name,
            cfg=self.cfg,
            dir=d,
            upstream={u: self.stage_dir(u) for u in depends},
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
            "inputs": {"sections": {s: self.cfg[s] for s in stage_sections(self.cfg, name)}, "upstream": depends},
            "outputs": outputs,
        }
        write_json_atomic(marker, record)  # last: marks the stage complete
        self.log(f"[{name}] done in {record['seconds']:.1f}s")
        return json.loads(marker.read_text())
