"""Plan and run the rows of the declared tables: one run folder per (resolved recipe, seed).

A run's folder is named by the hash of its resolved recipe (every setting except the run's name,
description, folder and progress bar), so two rows that resolve to the same settings share one
run, a row whose settings changed gets a new run (the old one stays, never reused), and no name
can bring back a result of other settings. A finished run (metrics.json) is read, an interrupted
one resumes from its last checkpoint (the trainer's own resume).

Seed s of a row adds s to the recipe's `trainer.seed` (initialisation, dropout, shuffling) and
`data.seed` (the data split and any generated data), so seed 0 is the recipe as written.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from zoo.config import ExperimentConfig, load_recipe
from zoo.report.spec import Experiments, Table, overrides_at

RUN_KEY_LENGTH = 12


def run_settings(config: ExperimentConfig) -> dict:
    """What identifies a run: the resolved recipe without its name, description, folder and
    progress bar (none of which changes what is trained)."""
    from zoo.training.settings import run_settings as settings

    return settings(config)


def run_key(config: ExperimentConfig) -> str:
    blob = json.dumps(run_settings(config), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:RUN_KEY_LENGTH]


@dataclass
class PlannedRun:
    table: Table
    row: str
    seed: int
    config: ExperimentConfig
    key: str

    @property
    def run_dir(self) -> Path:
        return Path(self.config.runtime.run_dir)

    def finished(self) -> bool:
        return (self.run_dir / "metrics.json").is_file()

    def metrics(self) -> dict:
        return json.loads((self.run_dir / "metrics.json").read_text())

    def set_aside_unreadable(self, stream=None) -> bool:
        """A metrics.json that does not parse (a run killed while writing it, a disk that filled)
        is moved aside, so the run counts as unfinished and trains again from its last checkpoint.
        True when that happened."""
        path = self.run_dir / "metrics.json"
        if not path.is_file():
            return False
        try:
            if isinstance(json.loads(path.read_text()), dict):
                return False
        except (ValueError, UnicodeDecodeError):
            pass
        aside = path.with_name(f"metrics.json.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
        path.rename(aside)
        (stream or sys.stderr).write(f"zoo report: {path} is unreadable (truncated?); kept as {aside.name}, "
                                     f"rerunning {self.table.id} {self.row} seed {self.seed}\n")
        return True

    def steps(self) -> int | None:
        return self.config.trainer.max_steps


def seeds_for(experiments: Experiments, table: Table, scale: str, seeds: int | None, row=None) -> int:
    """--seeds, else the row's, the table's or the scale's declared number."""
    if seeds:
        return seeds
    return (row.seeds or {}).get(scale) if row is not None and (row.seeds or {}).get(scale) \
        else table.seeds.get(scale) or experiments.scales[scale].seeds


def plan(selected, scale: str, runs: Path, seeds: int | None = None, sets=()) -> list[PlannedRun]:
    """Every (table, row, seed) of `selected` ((Experiments, Table) pairs) with its config."""
    out = []
    for experiments, table in selected:
        for row in table.rows:
            n = seeds_for(experiments, table, scale, seeds, row)
            overrides = [*experiments.scales[scale].set, *overrides_at(table.set, scale),
                         *overrides_at(row.set, scale), *sets]
            base = load_recipe(row.recipe_at(scale), overrides)
            for seed in range(n):
                seeded = [f"trainer.seed={base.trainer.seed + seed}", f"data.seed={base.data.seed + seed}"] if seed else []
                # Op determinism on: a row's numbers then come back from `zoo train` of its recipe.yaml.
                config = base.with_overrides([*seeded, "runtime.progress=false", "runtime.deterministic=true"])
                key = run_key(config)
                name = f"{config.model.name}-{key}"
                config = config.with_overrides([f"name={name}", f"runtime.run_dir={json.dumps(str(runs / name))}"])
                out.append(PlannedRun(table, row.name, seed, config, key))
    return out


def unique(planned: list[PlannedRun]) -> list[PlannedRun]:
    seen, out = set(), []
    for p in planned:
        if p.key not in seen:
            seen.add(p.key)
            out.append(p)
    return out


class Progress:
    """One bar over every run of the report, weighted by steps, with elapsed time and an estimate
    of the rest from this invocation's own pace (a line per run when not on a terminal)."""

    def __init__(self, todo: list[PlannedRun], stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        known = [p.steps() for p in todo if p.steps()]
        fallback = (sum(known) / len(known)) if known else 1000
        self.weights = {p.key: float(p.steps() or fallback) for p in todo}
        self.total = sum(self.weights.values()) or 1.0
        self.done = 0.0
        self.start = time.time()
        self.current = None
        self.count = len(todo)
        self.finished = 0
        self._shown = 0.0

    def begin(self, p: PlannedRun):
        self.current = p
        if not self.tty:
            self._line(f"run {self.finished + 1}/{self.count}: {p.table.id} {p.row} seed {p.seed} -> {p.run_dir}")

    def step(self, step: int, total: int):
        if self.current is None or not total:
            return
        self._step_fraction = min(step / total, 1.0)
        if self.tty and time.time() - self._shown > 1.0:
            self._draw()

    def end(self):
        self.done += self.weights[self.current.key]
        self.finished += 1
        self._step_fraction = 0.0
        if self.tty:
            self._draw()
        else:
            self._line(self._status())
        self.current = None

    def _status(self) -> str:
        partial = self.done + (self.weights[self.current.key] * getattr(self, "_step_fraction", 0.0)
                               if self.current is not None else 0.0)
        frac = partial / self.total
        elapsed = time.time() - self.start
        eta = f"{_clock(elapsed * (1 - frac) / frac)}" if frac > 0.005 else "?"
        bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
        return (f"[{bar}] {100 * frac:5.1f}%  {self.finished}/{self.count} runs  "
                f"elapsed {_clock(elapsed)}  left ~{eta}")

    def _draw(self):
        self._shown = time.time()
        what = f"  {self.current.table.id} {self.current.row} s{self.current.seed}" if self.current else ""
        self.stream.write("\r" + self._status() + what[:40].ljust(40))
        self.stream.flush()

    def _line(self, text: str):
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Interrupted(Exception):
    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def execute(todo: list[PlannedRun], progress: Progress | None = None) -> None:
    """Train every unfinished run in `todo` (deduplicated); an interrupted run raises Interrupted
    (its checkpoint is saved: the next invocation resumes it)."""
    from zoo.training.trainer import Trainer

    for p in todo:
        if p.finished():
            continue
        if progress:
            progress.begin(p)
        trainer = Trainer(p.config, log=lambda *a, **k: None, on_step=progress.step if progress else None)
        result = trainer.fit()
        if result.get("interrupted"):
            raise Interrupted(result.get("signal"))
        if progress:
            progress.end()
        if trainer.stop_signal:  # it came during the final evaluation: the run is finished, stop here
            raise Interrupted(trainer.stop_signal)
