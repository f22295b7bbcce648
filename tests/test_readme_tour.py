"""The README's tour runs as written on a fresh clone.

The blocks run are the ```bash blocks right after a ``<!-- tour -->`` line, in README order;
``<!-- tour-file: NAME -->`` before a fenced block writes that block to NAME first. They run with
bash in a temporary folder that stands for a fresh clone's root: ``../shared/data`` there links to
the reference data when it exists, otherwise the blocks that read it are skipped with the reason.
Each command runs as written except for :data:`SMALL` (fewer epochs, samples, repeats; one process),
so the tour takes about two minutes instead of ten. A static check (fast) also makes sure that
every file a tour command reads is made by an earlier step or lives under ``../shared/data``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
REF = "../shared/data"
MARK = re.compile(r"^<!-- tour(?:-file: (?P<file>\S+))? -->\n```(?P<lang>\w*)\n(?P<body>.*?)^```", re.S | re.M)

#: (pattern, replacement) applied to every command: the tour's settings, shrunk for a test.
SMALL: list[tuple[str, str]] = [
    (r"--epochs \d+", "--epochs 1"),
    (r"--sample \d+", "--sample 24"),
    (r"--ensemble \d+", "--ensemble 1"),
    (r"--repeats \d+", "--repeats 2"),
    (r"--generations \d+", "--generations 1"),
    (r"--jobs \d+", "--jobs 1"),  # one process at a time on a shared CI machine
]
#: Options appended to commands that start with these words (when the option is not given).
EXTRA: dict[str, str] = {
    "nasgcn supernet train": "--max-images 300",
    "nasgcn supernet eval": "--max-images 64",
    "nasgcn supernet retrain": "--epochs 1 --max-images 200",
    "nasgcn supernet split": "--limit-train-batches 2",
    "nasgcn supernet posterior": "--max-val-images 64",
    "nasgcn supernet cluster": "--probe 16",
    "nasgcn fit": "--epochs 5",
    "nasgcn shift": "--population 4 --keep 2 --mutations 1 --crossovers 1 --steps-per-candidate 1 --eval-batches 1",
    "nasgcn latency measure": "--warmup 1",
    "nasgcn latency predict ../shared/data/fbnet": "--method table --loss lsq --correction none",
    "nasgcn search": "--budget 2000",
}
OUTPUT_FLAGS = ("--out", "--log", "--save-model", "--pareto-out", "--plot")
FILE_LIKE = re.compile(r"^[\w./-]+\.(csv|pt|npz|toml|jsonl|json)$|^runs/")


@dataclass
class Block:
    line: int
    body: str
    file: str | None  # a tour-file block: written, not run

    @property
    def reference(self) -> bool:
        return REF in self.body


def tour_blocks(text: str | None = None) -> list[Block]:
    """The marked blocks of the README, in order."""
    text = README.read_text(encoding="utf-8") if text is None else text
    out = []
    for m in MARK.finditer(text):
        if m.group("file") is None and m.group("lang") != "bash":
            raise AssertionError(f"README.md:{text[: m.start()].count(chr(10)) + 1}: a tour block must be ```bash")
        out.append(Block(text[: m.start()].count("\n") + 1, m.group("body"), m.group("file")))
    return out


def commands(body: str) -> list[str]:
    """Logical command lines: continuations joined, comments dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", body)
    out = []
    for line in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            out.append(line)
    return out


def small(cmd: str) -> str:
    """The command with the test's smaller settings."""
    for pat, rep in SMALL:
        cmd = re.sub(pat, rep, cmd)
    for prefix, extra in EXTRA.items():
        if cmd.startswith(prefix):
            opts = [o for o in re.findall(r"--[\w-]+(?: [^-\s]\S*)?", extra) if o.split()[0] not in cmd.split()]
            cmd = " ".join([cmd, *opts])
    return cmd


def _run_blocks(blocks: list[Block], cwd: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("NASGCN_REFERENCE_DATA", None)
    for block in blocks:
        if block.file:
            (cwd / block.file).write_text(block.body, encoding="utf-8")
            continue
        for cmd in commands(block.body):
            run = small(cmd)
            proc = subprocess.run(["bash", "-c", run], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, (
                f"README.md:{block.line}: `{cmd}` failed (ran as `{run}`), rc {proc.returncode}:\n"
                f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
            )


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A folder standing for a fresh clone, with the plain (no reference data) tour run in it."""
    from conftest import reference_dir

    root = tmp_path_factory.mktemp("tour")
    work = root / "clone"
    work.mkdir()
    if reference_dir().is_dir():
        (root / "shared").mkdir()
        (root / "shared" / "data").symlink_to(reference_dir().resolve(), target_is_directory=True)
    _run_blocks([b for b in tour_blocks() if not b.reference], work)
    return work


def test_tour_reads_only_files_it_made_or_the_reference_data():
    """Static: a file argument is an earlier step's output, a tour file, or under ../shared/data."""
    made: set[str] = set()
    blocks = tour_blocks()
    assert len(blocks) >= 8 and sum(len(commands(b.body)) for b in blocks if not b.file) >= 20
    for b in blocks:
        if b.file:
            made.add(b.file)
            continue
        for cmd in commands(b.body):
            words = shlex.split(cmd)
            assert words[0] == "nasgcn", f"README.md:{b.line}: the tour runs nasgcn commands only: {cmd}"
            outs = {words[i + 1] for i, w in enumerate(words[:-1]) if w in OUTPUT_FLAGS}
            for i, w in enumerate(words[1:], start=1):
                if w in outs or words[i - 1] in OUTPUT_FLAGS or not FILE_LIKE.match(w):
                    continue
                if w.startswith(REF):
                    continue
                assert w in made, f"README.md:{b.line}: `{cmd}` reads {w}, which no earlier tour step makes"
            made |= outs


def test_tour_parsing_and_small_settings():
    text = "x\n<!-- tour -->\n```bash\nnasgcn fit a.csv --target y \\\n   --out m.pt  # comment\n```\n"
    (block,) = tour_blocks(text)
    assert commands(block.body) == ["nasgcn fit a.csv --target y --out m.pt"]
    assert small("nasgcn fit a.csv --epochs 50 --ensemble 3") == "nasgcn fit a.csv --epochs 1 --ensemble 1"
    assert small("nasgcn fit a.csv") == "nasgcn fit a.csv --epochs 5"
    with pytest.raises(AssertionError, match="must be ```bash"):
        tour_blocks("<!-- tour -->\n```python\nx = 1\n```\n")


@pytest.mark.slow  # about two minutes of one-thread CLI calls
def test_tour_runs_on_a_fresh_clone(clone):
    for name in ("supernet_evals.csv", "table.csv", "picks.csv", "retrained.csv", "mixed.pt", "next.csv", "cpu.png"):
        assert (clone / name).is_file(), name
    assert (clone / "runs" / "shift").is_dir() and (clone / "spread.csv").is_file()
    assert (clone / "split_evals.csv").is_file() and (clone / "posterior_evals.csv").is_file()


@pytest.mark.slow
def test_tour_steps_on_the_reference_data(clone):
    if not (clone.parent / "shared" / "data").is_dir():
        pytest.skip(f"reference data not found (set NASGCN_REFERENCE_DATA); the README's {REF} steps were not run")
    _run_blocks([b for b in tour_blocks() if b.reference], clone)
    assert (clone / "pixel3.png").is_file() and (clone / "front.csv").is_file()
