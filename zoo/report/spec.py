"""The experiments a family declares next to its recipes, in `recipes/<family>/experiments.yaml`.

A file holds the family's scales and tables:

    scales:
      cpu:   {note: "how it is scaled down", seeds: 2, set: {trainer.max_steps: 800, ...}}
      paper: {note: "the paper's sizes", seeds: 1}
    tables:
      "5":
        title: "Table 5: shared vs separate weights"
        metric: error                 # a key of the runs' metrics.json
        better: lower                 # lower | higher
        percent: true                 # show the metric (and paper values) as percentages
        count: test_examples          # optional: metrics key with the number of test items, for
                                      #   a binomial noise estimate of a proportion
        columns: {train loss: train_loss, "after 1": {metric: error_after_1, percent: true}}
        figures: [some_plot.png]      # optional: PNGs of `zoo eval` (the task's analyses), per row
        set: {cpu: {model.width: 64}} # optional: overrides for every row, per scale
        rows:
          shared: {recipe: <family>/table5_shared, paper: 0.0334}
          separate: {recipe: <family>/table5_separate, paper: 0.0805, set: {cpu: {...}}}
        claims: ["shared < separate"]

`set` (scale, table or row) is a mapping of overrides for every scale, or a mapping of scales to
overrides. A row's `recipe` is a recipe name or one per scale ({cpu: x/small, paper: x/large});
its `paper` is the paper's value of the table's metric, or a mapping metric -> value. Overrides
apply in the order scale, table, row. A claim compares two rows (`row[.metric] op row[.metric]`,
op one of < <= > >=) or a row with a number; the metric defaults to the table's.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from zoo.config import REPO_RECIPES, RecipeError

EXPERIMENTS_FILE = "experiments.yaml"
SCALES = ("cpu", "paper")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIDE = r"([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?|(-?[0-9][0-9.]*(?:e-?[0-9]+)?)"
_CLAIM = re.compile(rf"^\s*(?:{_SIDE})\s*(<=|>=|<|>)\s*(?:{_SIDE})\s*$")


@dataclass(frozen=True)
class Scale:
    name: str
    note: str
    seeds: int
    set: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    name: str
    recipe: dict[str, str]          # scale -> recipe name
    paper: dict[str, float]         # metric -> the paper's value
    set: dict[str, tuple[str, ...]]  # scale -> overrides

    def recipe_at(self, scale: str) -> str:
        return self.recipe.get(scale) or self.recipe["*"]


@dataclass(frozen=True)
class Side:
    row: str | None
    metric: str | None
    number: float | None

    def text(self, table: "Table") -> str:
        if self.number is not None:
            return f"{self.number:g}"
        return self.row + ("" if self.metric in (None, table.metric) else f".{self.metric}")


@dataclass(frozen=True)
class Claim:
    text: str
    left: Side
    op: str
    right: Side


@dataclass(frozen=True)
class Table:
    family: str
    key: str
    title: str
    metric: str
    better: str
    percent: bool
    count: str | None
    columns: dict[str, tuple[str, bool]]   # label -> (metrics key, shown as a percentage)
    figures: tuple[str, ...]
    rows: tuple[Row, ...]
    claims: tuple[Claim, ...]
    set: dict[str, tuple[str, ...]]
    seeds: dict[str, int]          # scale -> seeds (overrides the scale's)

    @property
    def id(self) -> str:
        return f"{self.family}:{self.key}"

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)


@dataclass(frozen=True)
class Experiments:
    family: str
    path: Path
    scales: dict[str, Scale]
    tables: tuple[Table, ...]


def _overrides(where: str, value: Any) -> tuple[str, ...]:
    """`{key: value}` as recipe override strings (the value as JSON, which YAML reads back)."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise RecipeError(f"{where}: overrides must be a mapping of section.key: value")
    return tuple(f"{k}={json.dumps(v)}" for k, v in value.items())


def _per_scale(where: str, value: Any) -> dict[str, tuple[str, ...]]:
    """Overrides for every scale ({key: value}, stored under "*") or per scale ({cpu: {...}})."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecipeError(f"{where}: 'set' is a mapping of overrides, or of scales to overrides")
    if value and set(value) <= set(SCALES):
        return {s: _overrides(f"{where}.set.{s}", v) for s, v in value.items()}
    return {"*": _overrides(f"{where}.set", value)}


def overrides_at(per_scale: dict[str, tuple[str, ...]], scale: str) -> tuple[str, ...]:
    return (*per_scale.get("*", ()), *per_scale.get(scale, ()))


def _side(groups) -> Side:
    row, metric, number = groups
    return Side(row, metric, float(number)) if number is not None else Side(row, metric, None)


def parse_claim(text: str, table_rows, where: str) -> Claim:
    m = _CLAIM.match(str(text))
    if not m:
        raise RecipeError(f"{where}: claim {text!r} must read 'row[.metric] OP row[.metric]' or "
                          f"'row[.metric] OP number' with OP one of < <= > >=")
    g = m.groups()
    left, right = _side(g[0:3]), _side(g[4:7])
    if left.row is None:
        raise RecipeError(f"{where}: claim {text!r} must start with a row")
    for side in (left, right):
        if side.row is not None and side.row not in table_rows:
            raise RecipeError(f"{where}: claim {text!r} names no row of the table: {side.row!r} "
                              f"(rows: {', '.join(table_rows)})")
    return Claim(str(text), left, g[3], right)


def _table(family: str, key: str, raw: Any, where: str) -> Table:
    if not isinstance(raw, dict):
        raise RecipeError(f"{where}: a table is a mapping")
    unknown = set(raw) - {"title", "metric", "better", "percent", "count", "columns", "figures", "rows",
                          "claims", "set", "seeds"}
    if unknown:
        raise RecipeError(f"{where}: unknown table keys {sorted(unknown)}")
    for k in ("title", "metric", "rows"):
        if k not in raw:
            raise RecipeError(f"{where}: a table needs {k!r}")
    if raw.get("better", "lower") not in ("lower", "higher"):
        raise RecipeError(f"{where}: 'better' is lower or higher, not {raw['better']!r}")
    rows = []
    if not isinstance(raw["rows"], dict) or not raw["rows"]:
        raise RecipeError(f"{where}: 'rows' maps row names to {{recipe: ..., paper: ...}}")
    for name, r in raw["rows"].items():
        w = f"{where}.rows.{name}"
        if not _NAME.match(str(name)):
            raise RecipeError(f"{w}: a row name is letters, digits and _, starting with a letter")
        if not isinstance(r, dict) or "recipe" not in r or set(r) - {"recipe", "paper", "set"}:
            raise RecipeError(f"{w}: a row is {{recipe: ..., paper: ..., set: ...}}")
        recipe = r["recipe"]
        recipe = {"*": recipe} if isinstance(recipe, str) else recipe
        if not isinstance(recipe, dict) or not all(isinstance(v, str) for v in recipe.values()) \
                or not set(recipe) <= {"*", *SCALES}:
            raise RecipeError(f"{w}: recipe is a recipe name or a mapping scale -> recipe name")
        paper = r.get("paper")
        paper = {} if paper is None else {raw["metric"]: paper} if not isinstance(paper, dict) else paper
        try:
            paper = {k: float(v) for k, v in paper.items()}
        except (TypeError, ValueError):
            raise RecipeError(f"{w}: paper values are numbers") from None
        rows.append(Row(str(name), recipe, paper, _per_scale(w, r.get("set"))))
    names = [r.name for r in rows]
    columns = {}
    for label, c in (raw.get("columns") or {}).items():
        if isinstance(c, str):
            columns[str(label)] = (c, False)
        elif isinstance(c, dict) and "metric" in c and set(c) <= {"metric", "percent"}:
            columns[str(label)] = (str(c["metric"]), bool(c.get("percent", False)))
        else:
            raise RecipeError(f"{where}: column {label!r} is a metrics key or {{metric: key, percent: true}}")
    claims = tuple(parse_claim(c, names, where) for c in raw.get("claims") or ())
    seeds = raw.get("seeds") or {}
    if not isinstance(seeds, dict) or not all(isinstance(v, int) and v >= 1 for v in seeds.values()):
        raise RecipeError(f"{where}: 'seeds' maps a scale to a number of seeds >= 1")
    return Table(family, str(key), str(raw["title"]), str(raw["metric"]), raw.get("better", "lower"),
                 bool(raw.get("percent", False)), raw.get("count"), dict(columns),
                 tuple(raw.get("figures") or ()), tuple(rows), claims, _per_scale(where, raw.get("set")),
                 dict(seeds))


def load_experiments(path: Path, family: str | None = None) -> Experiments:
    family = family or path.parent.name
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict) or set(raw) - {"scales", "tables"} or "tables" not in raw:
        raise RecipeError(f"{path}: an experiments file holds 'scales' and 'tables'")
    scales = {}
    for name in SCALES:
        s = (raw.get("scales") or {}).get(name) or {}
        seeds = s.get("seeds", 1)
        if not isinstance(seeds, int) or seeds < 1:
            raise RecipeError(f"{path}: scales.{name}.seeds must be an integer >= 1")
        scales[name] = Scale(name, str(s.get("note", "")), seeds, _overrides(f"{path}: scales.{name}", s.get("set")))
    tables = tuple(_table(family, str(k), t, f"{path}: tables.{k}") for k, t in raw["tables"].items())
    return Experiments(family, path, scales, tables)


def all_experiments(root: Path = REPO_RECIPES) -> list[Experiments]:
    """Every family's declaration, in family order (families without one are skipped)."""
    from zoo.registry import families

    out = []
    for fam in families():
        path = root / fam.name / EXPERIMENTS_FILE
        if path.is_file():
            out.append(load_experiments(path, fam.name))
    return out


def select_tables(experiments: list[Experiments], names: list[str] | None) -> list[tuple[Experiments, Table]]:
    """The tables named by FAMILY or FAMILY:TABLE (all when `names` is empty), in declaration order."""
    picked, known = [], {e.family: e for e in experiments}
    for n in names or []:
        fam, _, key = n.partition(":")
        if fam not in known:
            raise RecipeError(f"no experiments for {fam!r}; families with tables: {', '.join(known) or 'none'}")
        if key and key not in [t.key for t in known[fam].tables]:
            raise RecipeError(f"{fam} has no table {key!r}; its tables: "
                              f"{', '.join(t.key for t in known[fam].tables)}")
    for e in experiments:
        for t in e.tables:
            if not names or e.family in names or t.id in names:
                picked.append((e, t))
    return picked
