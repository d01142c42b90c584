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
        count: test_examples          # optional: metrics key with the number of test items the
                                      #   table's metric is a share of (a binomial noise estimate)
        counts: {mislocalised_errors: error*test_images}   # optional: the denominators of other
                                      #   share metrics (a metrics key or a product of two)
        baseline: {value: 0.9, what: "chance: 10 classes"}  # optional: the trivial baseline of
                                      #   the table's metric (value | metric: KEY | row: ROW |
                                      #   needs: "the task metric it needs"; also: [metrics];
                                      #   ideal: the metric's best value; margin: the gate's;
                                      #   gate: METRIC, better: lower|higher: gate every claim on
                                      #   that metric, e.g. a VAE's bound for claims on its KL)
        margin: 0.01                  # optional: equivalence margin of the <= / >= claims
        columns: {train loss: train_loss, "after 1": {metric: error_after_1, percent: true}}
        figures: [some_plot.png]      # optional: PNGs of `zoo eval` (the task's analyses), per row
        sweep: {x: "length", metrics: [kl], series: {hybrid: {16: h16, 32: h32}}}  # optional: rows
                                      #   as points of curves, drawn in <family>_<table>_sweep.png
        set: {cpu: {model.width: 64}} # optional: overrides for every row, per scale
        rows:
          shared: {recipe: <family>/table5_shared, paper: 0.0334}
          separate: {recipe: <family>/table5_separate, paper: 0.0805, set: {cpu: {...}}}
        claims: ["shared < separate", {claim: "a <= b", margin: 0.02, source: "why, or where from"}]

`set` (scale, table or row) is a mapping of overrides for every scale, or a mapping of scales to
overrides. A row's `recipe` is a recipe name or one per scale ({cpu: x/small, paper: x/large});
its `paper` is the paper's value of the table's metric, or a mapping metric -> value. Overrides
apply in the order scale, table, row. A row may declare its own `baseline` (as the table's) and
its own `seeds` ({cpu: 1} for a row no claim compares).
A row the source shows failing without a value to quote (a curve) may say where:
`fails_in_source: "§5.5, Figure 5.4"`; the gate then treats it as a row whose paper value sits at
the baseline. A claim compares two rows (`row[.metric] op row[.metric]`, op one of < <= > >=) or a row with a
number; the metric defaults to the table's. A claim the paper does not make says so in its
`source`. A key written twice in one mapping is an error (YAML would keep the last silently).
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
DEFAULT_GATE_FRACTION = 0.1     # a row "trained" when it closes 10% of the baseline's gap to ideal
SCALES = ("cpu", "paper")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIDE = r"([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?|(-?[0-9][0-9.]*(?:e-?[0-9]+)?)"
_CLAIM = re.compile(rf"^\s*(?:{_SIDE})\s*(<=|>=|<|>)\s*(?:{_SIDE})\s*$")


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key written twice in one mapping (two rows of one name)."""


def _unique_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise RecipeError(f"line {key_node.start_mark.line + 1}: {key!r} is written twice in one mapping")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


@dataclass(frozen=True)
class Baseline:
    """A row's trivial baseline: a number, a key of the runs' metrics, another row's value, or a
    task metric the zoo does not report yet (`needs`)."""
    what: str
    value: float | None = None
    metric: str | None = None
    row: str | None = None
    needs: str | None = None
    ideal: float | None = None
    margin: float | None = None
    also: tuple[str, ...] = ()
    on: str | None = None           # gate on this metric whatever a claim compares (a VAE's bound
    better: str | None = None       # for claims on its KL term); `better`: that metric's direction


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
    baseline: Baseline | None = None
    seeds: dict[str, int] = None     # scale -> seeds (a row no claim compares may need fewer)
    fails_in_source: str | None = None  # where the source says this row fails (no value to read:
                                        # a figure), so its failing here is the claim, not a bad run

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
    margin: float | None = None     # equivalence margin of <= / >= (None: the table's or default)
    source: str | None = None       # where the claim comes from, when not the table's paper


@dataclass(frozen=True)
class Sweep:
    """Rows that are points of curves: each series maps a value of `x` to a row; the report draws
    a panel per metric, a line per series, mean and std over seeds (posterior collapse against
    window length, alpha or depth in the text VAE's §5.5 experiments)."""
    x: str
    metrics: tuple[str, ...]
    series: dict[str, tuple[tuple[float, str], ...]]   # label -> ((x, row), ...) sorted by x


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
    baseline: Baseline | None = None
    counts: dict[str, str] = None   # share metric -> denominator ("key" or "key*key")
    margin: float | None = None
    sweep: Sweep | None = None

    def baseline_of(self, row: str) -> Baseline | None:
        return self.row(row).baseline or self.baseline

    def count_of(self, metric: str) -> str | None:
        """The denominator of a share metric: `counts`, or `count` for the table's metric."""
        if self.counts and metric in self.counts:
            return self.counts[metric]
        return self.count if metric == self.metric else None

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


def _number(where: str, what: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecipeError(f"{where}: {what} is a number, not {value!r}")
    return float(value)


def parse_claim(text, table_rows, where: str) -> Claim:
    """A claim: its text, or {claim: text, margin: number, source: text}."""
    margin = source = None
    if isinstance(text, dict):
        if "claim" not in text or set(text) - {"claim", "margin", "source"}:
            raise RecipeError(f"{where}: a claim is a text or {{claim: ..., margin: ..., source: ...}}")
        margin = _number(where, "a claim's margin", text.get("margin"))
        source = None if text.get("source") is None else str(text["source"])
        text = text["claim"]
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
    if margin is not None and g[3] in ("<", ">"):
        raise RecipeError(f"{where}: claim {text!r}: a margin belongs to <= and >= claims only")
    return Claim(str(text), left, g[3], right, margin, source)


def _seeds(where: str, raw) -> dict[str, int]:
    seeds = raw or {}
    if not isinstance(seeds, dict) or not set(seeds) <= set(SCALES) \
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in seeds.values()):
        raise RecipeError(f"{where}: 'seeds' maps a scale ({', '.join(SCALES)}) to a number of seeds >= 1")
    return dict(seeds)


def _baseline(where: str, raw) -> Baseline | None:
    if raw is None:
        return None
    kinds = ("value", "metric", "row", "needs")
    if not isinstance(raw, dict) or set(raw) - {*kinds, "what", "ideal", "margin", "also", "gate", "better"} \
            or sum(k in raw for k in kinds) != 1 or "what" not in raw:
        raise RecipeError(f"{where}: a baseline is {{what: ..., and one of value: NUMBER, metric: KEY, "
                          f"row: ROW, needs: TEXT; optional ideal, margin, also, gate, better}}")
    also = raw.get("also") or ()
    if not isinstance(also, (list, tuple)) or not all(isinstance(a, str) for a in also):
        raise RecipeError(f"{where}: a baseline's 'also' is a list of metrics")
    on, better = raw.get("gate"), raw.get("better")
    if on is not None and (not isinstance(on, str) or also):
        raise RecipeError(f"{where}: a baseline's 'gate' is the one metric the gate reads for every claim "
                          f"(then 'also' has no use)")
    if better is not None and (on is None or better not in ("lower", "higher")):
        raise RecipeError(f"{where}: a baseline's 'better' (lower | higher) is the direction of its 'gate' metric")
    return Baseline(str(raw["what"]), _number(where, "a baseline's value", raw.get("value")),
                    None if raw.get("metric") is None else str(raw["metric"]),
                    None if raw.get("row") is None else str(raw["row"]),
                    None if raw.get("needs") is None else str(raw["needs"]),
                    _number(where, "a baseline's ideal", raw.get("ideal")),
                    _number(where, "a baseline's margin", raw.get("margin")), tuple(also), on, better)


def _table(family: str, key: str, raw: Any, where: str) -> Table:
    if not isinstance(raw, dict):
        raise RecipeError(f"{where}: a table is a mapping")
    unknown = set(raw) - {"title", "metric", "better", "percent", "count", "counts", "columns", "figures", "sweep",
                          "rows", "claims", "set", "seeds", "baseline", "margin"}
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
        if not isinstance(r, dict) or "recipe" not in r \
                or set(r) - {"recipe", "paper", "set", "baseline", "seeds", "fails_in_source"}:
            raise RecipeError(f"{w}: a row is {{recipe: ..., paper: ..., set: ..., baseline: ..., seeds: ..., "
                              f"fails_in_source: ...}}")
        if r.get("fails_in_source") is not None and not (isinstance(r["fails_in_source"], str)
                                                          and r["fails_in_source"].strip()):
            raise RecipeError(f"{w}: fails_in_source is the text saying where the source shows the row failing")
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
        rows.append(Row(str(name), recipe, paper, _per_scale(w, r.get("set")), _baseline(w, r.get("baseline")),
                        _seeds(w, r.get("seeds")), r.get("fails_in_source")))
    names = [r.name for r in rows]
    for r in rows:
        b = r.baseline or _baseline(where, raw.get("baseline"))
        if b is not None and b.row is not None and b.row not in names:
            raise RecipeError(f"{where}: the baseline of row {r.name!r} names no row of the table: {b.row!r}")
    counts = raw.get("counts") or {}
    if not isinstance(counts, dict) or not all(isinstance(v, str) and re.match(r"^\w+(\*\w+)?$", v)
                                               for v in counts.values()):
        raise RecipeError(f"{where}: 'counts' maps a share metric to its denominator, a metrics key or KEY*KEY")
    if raw.get("count") is not None and not isinstance(raw["count"], str):
        raise RecipeError(f"{where}: 'count' is a metrics key")
    columns = {}
    for label, c in (raw.get("columns") or {}).items():
        if isinstance(c, str):
            columns[str(label)] = (c, False)
        elif isinstance(c, dict) and "metric" in c and set(c) <= {"metric", "percent"}:
            columns[str(label)] = (str(c["metric"]), bool(c.get("percent", False)))
        else:
            raise RecipeError(f"{where}: column {label!r} is a metrics key or {{metric: key, percent: true}}")
    claims = tuple(parse_claim(c, names, where) for c in raw.get("claims") or ())
    seeds = _seeds(where, raw.get("seeds"))
    sweep = _sweep(where, raw.get("sweep"), names, str(raw["metric"]))
    return Table(family, str(key), str(raw["title"]), str(raw["metric"]), raw.get("better", "lower"),
                 bool(raw.get("percent", False)), raw.get("count"), dict(columns),
                 tuple(raw.get("figures") or ()), tuple(rows), claims, _per_scale(where, raw.get("set")),
                 dict(seeds), _baseline(where, raw.get("baseline")), dict(counts),
                 _number(where, "'margin'", raw.get("margin")), sweep)


def _sweep(where: str, raw, names: list[str], metric: str) -> Sweep | None:
    if raw is None:
        return None
    usage = (f"{where}: a sweep is {{x: LABEL, metrics: [KEY, ...] (optional), series: {{LABEL: {{X: ROW, ...}}}}}} "
             f"with numbers for X and rows of the table")
    if not isinstance(raw, dict) or set(raw) - {"x", "metrics", "series"} or "x" not in raw \
            or not isinstance(raw.get("series"), dict) or not raw["series"]:
        raise RecipeError(usage)
    metrics = raw.get("metrics") or [metric]
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise RecipeError(usage)
    series = {}
    for label, points in raw["series"].items():
        if not isinstance(points, dict) or not points:
            raise RecipeError(usage)
        try:
            pts = sorted((float(x), str(r)) for x, r in points.items())
        except (TypeError, ValueError):
            raise RecipeError(usage) from None
        missing = [r for _, r in pts if r not in names]
        if missing:
            raise RecipeError(f"{where}: sweep series {label!r} names rows the table does not have: {missing}")
        series[str(label)] = tuple(pts)
    return Sweep(str(raw["x"]), tuple(metrics), series)


def load_experiments(path: Path, family: str | None = None) -> Experiments:
    family = family or path.parent.name
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {e}") from None
    except RecipeError as e:
        raise RecipeError(f"{path}: {e}") from None
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
