"""A claim's verdict, and each row's "did it train?" gate.

Every claim is judged on the difference d of its two sides, signed so that d > 0 is the claimed
direction, and a 95% interval for d:

- two rows: Welch's t interval (unequal variances, degrees of freedom by Welch-Satterthwaite)
  over the rows' seeds;
- a row and a number: the one-sample t interval over the row's seeds;
- two metrics of one row: the paired t interval over the per-seed differences;
- a share (a metric with a declared denominator, `count` / `counts`): also the binomial interval
  of the pooled counts (normal approximation) and, for a strict claim, Fisher's exact test; the
  verdict takes the wider interval, so neither the seeds' spread nor the test sample's size can
  be mistaken for a result.

A strict claim (< or >) "held" when the interval lies above 0 (and Fisher's p < 0.05 for a share),
"did not hold" when it lies below 0, "within noise" otherwise. A non-strict claim (<= or >=) is
"no worse than, within an equivalence margin m": "held" when the interval lies above -m, "did not
hold" when it lies below -m, "within noise" otherwise. m is the claim's `margin`, else the
table's, else DEFAULT_MARGIN (1 percentage point for a percentage, else 1% of the right side).

No verdict ("not judged ...") when a side's metric is NaN, when a compared row has fewer than
MIN_SEEDS seeds, or when a compared row sits at its trivial baseline ("neither row trained", "X
did not train"), unless that row is the baseline row itself or the source's own value of it sits at
the baseline too (the claim is then about its failing; the verdict says "as in the source").
A row "trained" when it beats its baseline by the gate's margin (by default 10% of the gap from
the baseline to the metric's ideal value: 0 for an error, 100% for an accuracy) and, with
MIN_SEEDS seeds or more, its 95% t interval of the improvement lies above 0 (with fewer seeds, the
binomial interval of a share, else the margin alone: the row's claims are not judged then anyway).
With fewer than MIN_SEEDS seeds the claim's interval is still computed and shown, for information.
"""
from __future__ import annotations

import math

from zoo.config import RecipeError
from zoo.report.spec import DEFAULT_GATE_FRACTION, Claim, Table
from zoo.report.stats import (CONFIDENCE, fisher_exact, interval, mean_std, one_sample, welch,
                              z_quantile)

MIN_SEEDS = 3
DEFAULT_MARGIN_PERCENT = 0.01      # 1 percentage point
DEFAULT_MARGIN_RELATIVE = 0.01     # 1% of the right side's value
STRICT = {"<": True, ">": True, "<=": False, ">=": False}
CATEGORIES = ("held", "did not hold", "within noise", "not judged")
METHODS = ("Welch's t interval (95%, Welch-Satterthwaite df) between two rows; one-sample t "
           "against a number; paired t between two metrics of one row; for shares also the "
           "binomial interval of the pooled counts and Fisher's exact test")


def is_percent(table: Table, metric: str | None) -> bool:
    if metric in (None, table.metric):
        return table.percent
    return any(k == metric and pct for k, pct in table.columns.values())


def category(verdict: str) -> str:
    for c in CATEGORIES:
        if verdict.startswith(c):
            return c
    raise ValueError(verdict)


def _seed_values(table: Table, rows: dict, row: str, metric: str, claim: str | None = None) -> dict[int, float]:
    runs = rows[row]["runs"]
    values = {r["seed"]: float(r["metrics"][metric]) for r in runs if metric in r["metrics"]}
    if runs and not values:
        known = sorted({k for r in runs for k in r["metrics"]})
        what = f"claim {claim!r}" if claim else f"row {row!r}"
        raise RecipeError(f"{table.id}: {what} names metric {metric!r}, which no run of row {row!r} "
                          f"reports (its runs report: {', '.join(known)})")
    return values


def _run_count(table: Table, metrics: dict, spec: str) -> int:
    n = 1.0
    for key in spec.split("*"):
        if key not in metrics:
            raise RecipeError(f"{table.id}: count {spec!r} names {key!r}, which the runs do not report "
                              f"(they report: {', '.join(sorted(metrics))})")
        n *= float(metrics[key])
    return int(round(n))


def _pooled(table: Table, rows: dict, row: str, metric: str) -> tuple[int, int] | None:
    """(items counted, denominator) of a share metric summed over the row's seeds, or None."""
    spec = table.count_of(metric)
    if spec is None:
        return None
    k = n = 0
    for r in rows[row]["runs"]:
        if metric not in r["metrics"]:
            continue
        ni = _run_count(table, r["metrics"], spec)
        k += int(round(float(r["metrics"][metric]) * ni))
        n += ni
    return (k, n) if n > 0 else None


def check_counts(table: Table, rows: dict) -> None:
    """Every declared denominator names metrics the runs report: a typo is an error, not silence."""
    for spec in sorted({table.count, *(table.counts or {}).values()} - {None}):
        for row in rows.values():
            for r in row["runs"]:
                _run_count(table, r["metrics"], spec)


def _gated(table: Table, b, metric: str) -> tuple[str, bool] | None:
    """(the metric the gate reads, whether lower is better) for a claim on `metric`; None when
    the baseline does not apply to it. A baseline with `on` gates every claim on that metric."""
    if b is None:
        return None
    if b.on is not None:
        return b.on, (b.better or table.better) == "lower"
    if metric != table.metric and metric not in b.also:
        return None
    return metric, table.better == "lower"


def row_gate(table: Table, rows: dict, row: str, metric: str | None = None) -> dict | None:
    """Whether `row` trained: its improvement over its trivial baseline on `metric` (the table's
    when None). None when no baseline is declared for that metric."""
    b = table.baseline_of(row)
    gated = _gated(table, b, metric or table.metric)
    if gated is None:
        return None
    metric, lower = gated
    out = {"what": b.what, "metric": metric}
    if b.needs is not None:
        return {**out, "baseline": None, "needs": b.needs, "trained": None}
    values = _seed_values(table, rows, row, metric)
    if not values:
        return {**out, "baseline": None, "trained": None}
    if b.value is not None:
        base = {s: b.value for s in values}
    elif b.metric is not None:
        base = {r["seed"]: float(r["metrics"][b.metric]) for r in rows[row]["runs"] if b.metric in r["metrics"]}
        if not base:
            raise RecipeError(f"{table.id}: the baseline of row {row!r} is metric {b.metric!r}, which its "
                              f"runs do not report")
    else:
        other = list(_seed_values(table, rows, b.row, metric).values())
        if not other:
            return {**out, "baseline": None, "trained": None}
        base = {s: sum(other) / len(other) for s in values}
    base_mean = sum(base.get(s, 0.0) for s in values) / len(values)
    out["baseline"] = base_mean
    if b.row == row:
        return {**out, "improvement": 0.0, "margin": 0.0, "trained": False, "is_baseline": True}
    improvements = [(base[s] - v) if lower else (v - base[s]) for s, v in values.items() if s in base]
    if any(math.isnan(x) for x in improvements):
        return {**out, "trained": None, "nan": True}
    ideal = b.ideal if b.ideal is not None else 0.0 if lower else 1.0 if is_percent(table, metric) else None
    margin = b.margin if b.margin is not None else (
        DEFAULT_GATE_FRACTION * abs(base_mean - ideal) if ideal is not None else 0.0)
    m = sum(improvements) / len(improvements)
    if len(improvements) >= MIN_SEEDS:
        lo = interval(*one_sample(improvements))[0]
    else:
        pooled = _pooled(table, rows, row, metric)
        if pooled:
            p = pooled[0] / pooled[1]
            lo = m - z_quantile(0.5 + CONFIDENCE / 2) * math.sqrt(max(p * (1 - p), 1e-12) / pooled[1])
        else:
            lo = m
    return {**out, "improvement": m, "improvement_low": lo, "margin": margin,
            "trained": bool(m >= margin and lo > 0)}


def paper_at_baseline(table: Table, row: str, metric: str | None = None) -> bool:
    """Whether the source's own value of `row` sits at the trivial baseline by the gate's rule (a
    fixed baseline, or the baseline row's paper value): a row that failed in the source too is the
    claim's point (Moon et al.'s per-step masks in the dissertation's Table 3.1), not a failed run."""
    b = table.baseline_of(row)
    gated = _gated(table, b, metric or table.metric)
    if gated is None:
        return False
    if table.row(row).fails_in_source:
        return True
    metric, lower = gated
    paper = table.row(row).paper.get(metric)
    base = b.value if b.value is not None else (
        table.row(b.row).paper.get(metric) if b.row is not None else None)
    if paper is None or base is None:
        return False
    ideal = b.ideal if b.ideal is not None else 0.0 if lower else 1.0 if is_percent(table, metric) else None
    margin = b.margin if b.margin is not None else (
        DEFAULT_GATE_FRACTION * abs(base - ideal) if ideal is not None else 0.0)
    return ((base - paper) if lower else (paper - base)) < margin


def _margin(claim: Claim, table: Table, right: float) -> float:
    if claim.margin is not None:
        return claim.margin
    if table.margin is not None:
        return table.margin
    if is_percent(table, claim.left.metric):
        return DEFAULT_MARGIN_PERCENT
    return DEFAULT_MARGIN_RELATIVE * abs(right)


def _not_judged(out: dict, reason: str) -> dict:
    return {**out, "verdict": f"not judged{reason}", "category": "not judged"}


def verdict(claim: Claim, table: Table, rows: dict, min_seeds: int = MIN_SEEDS) -> dict:
    sides = []
    for side in (claim.left, claim.right):
        if side.number is not None:
            sides.append(None)
        else:
            metric = side.metric or table.metric
            sides.append((side.row, metric, _seed_values(table, rows, side.row, metric, claim.text)))
    means = [s if side is None else sum(side[2].values()) / max(len(side[2]), 1)
             for s, side in zip((claim.left.number, claim.right.number), sides)]
    a, b = means
    sign = -1.0 if claim.op in ("<", "<=") else 1.0
    d = sign * (a - b)
    out = {"claim": claim.text, "source": claim.source, "op": claim.op, "left": a, "right": b,
           "difference": d, "interval": None, "se": None, "df": None, "method": None}
    if not STRICT[claim.op]:
        out["margin"] = _margin(claim, table, b)
    if any(math.isnan(v) for side in sides if side for v in side[2].values()):
        return _not_judged(out, ": metric is NaN")
    row_sides = [s for s in sides if s]
    check_counts(table, {name: rows[name] for name, _, _ in row_sides})
    seeds = {name: len(vals) for name, _, vals in row_sides}
    out["seeds"] = seeds
    gates, failed = {}, set()
    for name, metric, _ in row_sides:
        g, gated = row_gate(table, rows, name, metric), metric
        if g is None and metric != table.metric:
            g, gated = row_gate(table, rows, name, table.metric), table.metric
        gates[f"{name}.{metric}"] = g
        if g is not None and g["trained"] is False and not g.get("is_baseline"):
            failed.add((name, paper_at_baseline(table, name, gated)))
    out["gate"] = {k: (None if g is None else g["trained"]) for k, g in gates.items()}
    # One untrained side is enough to void the comparison: beating (or losing to) a row that sits
    # at its trivial baseline says nothing about the source's claim, where both sides trained. Two
    # exemptions: the baseline row itself (a claim against it is the gate's own question), and a
    # row whose source value sits at the baseline too (its failure is what the claim is about).
    untrained = sorted({n for n, as_source in failed if not as_source})
    as_in_source = sorted({n for n, as_source in failed if as_source} - set(untrained))
    few = min(seeds.values())
    if few >= 2:
        out.update(_interval(claim, table, rows, sides, b, sign))
    seeds_note = "one seed" if few == 1 else f"{few} seeds"
    if untrained:
        names = {n for n, _, _ in row_sides}
        who = ("the row did not train" if len(names) == 1 else "neither row trained"
               if set(untrained) == names else f"{' and '.join(untrained)} did not train")
        return _not_judged(out, f": {who}" + (f" ({seeds_note})" if few < min_seeds else ""))
    if few < min_seeds:
        return _not_judged(out, f" ({seeds_note})")
    lo, hi = out["interval"]
    if STRICT[claim.op]:
        significant = out.get("fisher_p", 0.0) < 1 - CONFIDENCE
        v = "held" if lo > 0 and significant else "did not hold" if hi < 0 and significant else "within noise"
    else:
        m = out["margin"]
        v = "held" if lo > -m else "did not hold" if hi < -m else "within noise"
    note = f" ({' and '.join(as_in_source)} at the baseline, as in the source)" if as_in_source else ""
    return {**out, "verdict": v + note, "category": v}


def _interval(claim: Claim, table: Table, rows: dict, sides: list, b: float, sign: float) -> dict:
    """The 95% interval of the claim's signed difference (see the module's docstring)."""
    out = {}
    (l_row, l_metric, lv), right = sides[0], sides[1]
    if right is None:
        diff, se, df = one_sample(list(lv.values()))
        diff -= b
        out["method"] = "one-sample t"
    elif right[0] == l_row:
        common = sorted(set(lv) & set(right[2]))
        diff, se, df = one_sample([lv[s] - right[2][s] for s in common])
        out["method"] = "paired t over seeds"
    else:
        diff, se, df = welch(list(lv.values()), list(right[2].values()))
        out["method"] = "Welch's t"
    lo, hi = interval(diff, se, df)
    out.update(se=se, df=None if math.isinf(df) else df)
    # Shares: the binomial interval of the pooled counts, and Fisher's exact test.
    pl = _pooled(table, rows, l_row, l_metric)
    pr = None if right is None else _pooled(table, rows, right[0], right[1])
    if pl and (right is None or (pr and right[0] != l_row)):
        p1 = pl[0] / pl[1]
        var = max(p1 * (1 - p1), 1e-12) / pl[1]
        if pr:
            p2 = pr[0] / pr[1]
            var += max(p2 * (1 - p2), 1e-12) / pr[1]
            if STRICT[claim.op]:     # an equivalence claim is judged on its interval alone
                out["fisher_p"] = fisher_exact(pl[0], pl[1], pr[0], pr[1])
            out["counts"] = [list(pl), list(pr)]
        else:
            p2 = b
            out["counts"] = [list(pl)]
        half = z_quantile(0.5 + CONFIDENCE / 2) * math.sqrt(var)
        lo, hi = min(lo, p1 - p2 - half), max(hi, p1 - p2 + half)
        out["method"] += " and binomial (pooled counts)"
    out["interval"] = [lo, hi] if sign > 0 else [-hi, -lo]
    return out


def summary(claims: list[dict]) -> dict[str, int]:
    counts = {c: 0 for c in CATEGORIES}
    for c in claims:
        counts[c.get("category") or category(c["verdict"])] += 1
    return counts


def std_of(values: list[float]) -> float:
    return mean_std(values)[1]
