"""`zoo report`'s verdicts on small synthetic report data: the t interval against values computed
independently, Welch-Satterthwaite degrees of freedom, symmetric <= / >= with an equivalence
margin, shares judged on their own denominators (Fisher's exact test), one or two seeds never
judged, the "did it train?" gate, the per-family summary, re-judging a written report without
its runs, and the one-line errors of bad declarations and bad run records."""
import json
import math

import pytest

from zoo.config import RecipeError
from zoo.report.spec import load_experiments
from zoo.report.stats import fisher_exact, t_quantile, welch
from zoo.report.verdicts import paper_at_baseline, row_gate, summary, verdict


def _declare(tmp_path, text, family="recurrent"):
    (tmp_path / family).mkdir(parents=True, exist_ok=True)
    path = tmp_path / family / "experiments.yaml"
    path.write_text(text)
    return load_experiments(path, family)


def _rows(values: dict, **extra):
    """row -> {"runs": [one per seed]} with the metric `error` (and per-seed extra metrics)."""
    out = {}
    for name, vs in values.items():
        runs = []
        for i, v in enumerate(vs):
            m = {"error": v}
            for key, per_row in extra.items():
                x = per_row[name] if isinstance(per_row, dict) else per_row
                m[key] = x[i] if isinstance(x, list) else x
            runs.append({"seed": i, "metrics": m})
        out[name] = {"runs": runs}
    return out


# The head of every declaration below: one CPU scale of 3 seeds, one table `t`.
ONE_TABLE = """
scales:
  cpu: {note: tiny, seeds: 3}
tables:
  t:"""

TABLE = ONE_TABLE + """
    title: "synthetic"
    metric: error
    percent: true
    baseline: {value: 0.9, what: "chance: 10 classes"}
    rows:
      a: {recipe: recurrent/smoke_temporal_order, paper: 0.1}
      b: {recipe: recurrent/smoke_temporal_order, paper: 0.2}
    claims: ["a < b", "a <= b", {claim: "a <= b", margin: 0.05}, "a < 0.5"]
"""


@pytest.fixture
def table(tmp_path):
    return _declare(tmp_path, TABLE).tables[0]


def test_t_quantiles_match_the_printed_tables_and_scipy():
    # Student's t, 97.5% quantiles, as printed in every statistics table.
    for df, value in ((1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (10, 2.2281), (30, 2.0423)):
        assert t_quantile(0.975, df) == pytest.approx(value, abs=1e-4)
    assert t_quantile(0.975, math.inf) == pytest.approx(1.95996, abs=1e-5)
    scipy_t = pytest.importorskip("scipy.stats").t
    for df in (1.0, 1.7, 2.5, 7.3, 55.0):
        for p in (0.9, 0.975, 0.995):
            assert t_quantile(p, df) == pytest.approx(scipy_t.ppf(p, df), rel=1e-8)


def test_welch_satterthwaite_and_fisher_exact_against_hand_computation():
    a, b = [1.0, 2.0, 3.0], [2.0, 4.0, 7.0, 9.0]
    va, vb = 1.0 / 3, (sum((x - 5.5) ** 2 for x in b) / 3) / 4
    d, se, df = welch(a, b)
    assert d == pytest.approx(-3.5) and se == pytest.approx(math.sqrt(va + vb))
    assert df == pytest.approx((va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 3))
    # Fisher's lady tasting tea: 3 of 4 right each way, two-sided p = 34/70.
    assert fisher_exact(3, 4, 1, 4) == pytest.approx(34 / 70)
    assert fisher_exact(0, 10, 10, 10) == pytest.approx(2 / math.comb(20, 10))


def test_a_strict_claim_needs_its_t_interval_to_exclude_zero(table):
    claim = table.claims[0]        # a < b
    rows = _rows({"a": [0.10, 0.12, 0.14], "b": [0.30, 0.32, 0.34]})
    v = verdict(claim, table, rows)
    d, se, df = welch([0.30, 0.32, 0.34], [0.10, 0.12, 0.14])
    half = t_quantile(0.975, df) * se
    assert v["verdict"] == "held" and v["method"] == "Welch's t" and v["df"] == pytest.approx(4.0)
    assert v["interval"] == pytest.approx([d - half, d + half])
    assert verdict(claim, table, _rows({"a": [0.30, 0.32, 0.34], "b": [0.10, 0.12, 0.14]}))["verdict"] == "did not hold"
    # d = 2.45 se: beyond the old fixed 2-se cut, inside t(4 df) = 2.776 se: within noise.
    close = _rows({"a": [0.10, 0.11, 0.12], "b": [0.12, 0.13, 0.14]})
    d, se, df = welch([0.12, 0.13, 0.14], [0.10, 0.11, 0.12])
    assert 2 * se < d < t_quantile(0.975, df) * se
    assert verdict(claim, table, close)["verdict"] == "within noise"


def test_at_most_and_at_least_are_judged_symmetrically_with_a_margin(table):
    default, wide = table.claims[1], table.claims[2]     # a <= b (margin 1 point), a <= b (5 points)
    same = _rows({"a": [0.5, 0.5, 0.5], "b": [0.5, 0.5, 0.5]})
    assert verdict(default, table, same)["verdict"] == "held" and verdict(default, table, same)["margin"] == 0.01
    # a is worse by 2 points, tightly: not within 1 point (did not hold), within 5 points (held).
    worse = _rows({"a": [0.520, 0.521, 0.519], "b": [0.500, 0.501, 0.499]})
    assert verdict(default, table, worse)["verdict"] == "did not hold"
    assert verdict(wide, table, worse)["verdict"] == "held"
    # a better by 3 points but seeds spread 20 points: the interval crosses -margin both ways,
    # so within noise (the old rule said held whenever a <= b on the means).
    spread = _rows({"a": [0.37, 0.47, 0.57], "b": [0.40, 0.50, 0.60]})
    v = verdict(default, table, spread)
    assert v["difference"] > 0 and v["verdict"] == "within noise"
    # >= is the mirror image.
    from zoo.report.spec import parse_claim
    at_least = parse_claim("b >= a", ["a", "b"], "here")
    assert verdict(at_least, table, worse)["verdict"] == "did not hold"
    assert verdict(at_least, table, same)["verdict"] == "held"


def test_one_or_two_seeds_give_no_verdict_and_a_row_against_a_number_is_one_sample_t(table):
    for seeds, note in ((1, "one seed"), (2, "2 seeds")):
        v = verdict(table.claims[0], table, _rows({"a": [0.1, 0.11][:seeds], "b": [0.8, 0.81][:seeds]}))
        assert v["verdict"] == f"not judged ({note})" and v["category"] == "not judged"
    v = verdict(table.claims[3], table, _rows({"a": [0.40, 0.42, 0.44], "b": [0.8] * 3}))
    half = t_quantile(0.975, 2) * 0.02 / math.sqrt(3)
    assert v["method"] == "one-sample t" and v["interval"] == pytest.approx([0.08 - half, 0.08 + half])
    assert v["verdict"] == "held"


def test_a_nan_metric_is_not_judged(table):
    v = verdict(table.claims[0], table, _rows({"a": [0.1, float("nan"), 0.1], "b": [0.5, 0.5, 0.5]}))
    assert v["verdict"] == "not judged: metric is NaN"
    from zoo.report.render import table_markdown, table_result
    rows = _rows({"a": [float("nan")] * 3, "b": [0.5, 0.5, 0.5]})
    result = table_result(table, [], "cpu", {n: (r["runs"], 3) for n, r in rows.items()})
    md = table_markdown(table, result, "cpu")
    assert "| a | `recurrent/smoke_temporal_order` | 10.00% | NaN | – |" in md and "nan%" not in md
    assert "claim `a < b`: **not judged: metric is NaN**" in md


SHARES = ONE_TABLE + """
    title: "shares"
    metric: error
    percent: true
    count: test_images
    counts: {mislocalised_errors: error*test_images}
    columns: {mislocalised (share of errors): {metric: mislocalised_errors, percent: true}}
    rows:
      a: {recipe: recurrent/smoke_temporal_order}
      b: {recipe: recurrent/smoke_temporal_order}
    claims: ["a.mislocalised_errors < b.mislocalised_errors"]
"""


def test_a_share_is_judged_on_its_own_denominator(tmp_path):
    table = _declare(tmp_path, SHARES).tables[0]
    # 2,000 images and 6% / 8% errors: the share of errors is of 120 / 160 errors, not 2,000.
    rows = _rows({"a": [0.06] * 3, "b": [0.08] * 3}, test_images=2000,
                 mislocalised_errors={"a": [0.035, 0.04, 0.045], "b": [0.055, 0.06, 0.065]})
    v = verdict(table.claims[0], table, rows)
    assert v["counts"] == [[4 + 5 + 5, 360], [9 + 10 + 10, 480]]   # round(share x errors) per seed
    assert v["fisher_p"] == pytest.approx(fisher_exact(14, 360, 29, 480))
    assert v["fisher_p"] > 0.05 and v["verdict"] == "within noise"
    # The same shares of 3 x 2,000 images would have been "significant": the denominator matters.
    assert fisher_exact(round(0.04 * 6000), 6000, round(0.06 * 6000), 6000) < 0.001


BASELINES = ONE_TABLE + """
    title: "gate"
    metric: error
    percent: true
    baseline: {metric: unigram_baseline_error, what: unigram}
    rows:
      a: {recipe: recurrent/smoke_temporal_order}
      b: {recipe: recurrent/smoke_temporal_order}
      c: {recipe: recurrent/smoke_temporal_order}
    claims: ["b < a", "c < a"]
  lm:
    title: "row baseline"
    metric: bits_per_char
    baseline: {row: n1, what: "unigram (n1)"}
    rows:
      n1: {recipe: recurrent/smoke_temporal_order}
      n3: {recipe: recurrent/smoke_temporal_order}
    claims: ["n3 < n1"]
"""


def test_claims_between_rows_that_never_trained_are_not_judged(tmp_path):
    gate, lm = _declare(tmp_path, BASELINES).tables
    # unigram 85.7%: rows at 84.9-85.1% sit at it; c at 60% trained (the gate's margin is 8.57 points).
    rows = _rows({"a": [0.851, 0.852, 0.853], "b": [0.849, 0.848, 0.847], "c": [0.60, 0.61, 0.62]},
                 unigram_baseline_error=0.857)
    assert row_gate(gate, rows, "a")["trained"] is False and row_gate(gate, rows, "c")["trained"] is True
    assert row_gate(gate, rows, "c")["margin"] == pytest.approx(0.0857)
    assert verdict(gate.claims[0], gate, rows)["verdict"] == "not judged: neither row trained"
    # One side at the baseline voids the claim too: c "beats" a only because a never trained.
    assert verdict(gate.claims[1], gate, rows)["verdict"] == "not judged: a did not train"
    trained = _rows({"a": [0.70, 0.71, 0.72], "c": [0.60, 0.61, 0.62]}, unigram_baseline_error=0.857)
    assert verdict(gate.claims[1], gate, trained)["verdict"] == "held"
    # A row below the baseline by less than the margin has not trained, however tight its seeds.
    near = _rows({"a": [0.851] * 3, "b": [0.80, 0.80, 0.80], "c": [0.6] * 3}, unigram_baseline_error=0.857)
    assert row_gate(gate, near, "b")["trained"] is False
    # The baseline may be another row: the row itself is the baseline, the others are gated on it.
    lm_rows = {"n1": {"runs": [{"seed": i, "metrics": {"bits_per_char": 4.6}} for i in range(3)]},
               "n3": {"runs": [{"seed": i, "metrics": {"bits_per_char": 3.0 + i / 100}} for i in range(3)]}}
    assert row_gate(lm, lm_rows, "n1")["is_baseline"] and row_gate(lm, lm_rows, "n3")["trained"]
    assert verdict(lm.claims[0], lm, lm_rows)["verdict"] == "held"
    # ...and a claim against the baseline row is voided only by the other side not training.
    lm_rows["n3"]["runs"] = [{"seed": i, "metrics": {"bits_per_char": 4.5 - i / 100}} for i in range(3)]
    assert verdict(lm.claims[0], lm, lm_rows)["verdict"] == "not judged: n3 did not train"


AS_IN_SOURCE = ONE_TABLE + """
    title: "a row that fails in the source too"
    metric: accuracy
    better: higher
    percent: true
    baseline: {value: 0.25, what: "chance: 4 classes"}
    rows:
      fails: {recipe: recurrent/smoke_temporal_order, paper: 0.25}
      works: {recipe: recurrent/smoke_temporal_order, paper: 1.0}
      other: {recipe: recurrent/smoke_temporal_order, paper: 0.99}
    claims: ["works > fails", "works > other"]
"""


def test_a_row_at_the_baseline_in_the_source_too_does_not_void_its_claim(tmp_path):
    (t,) = _declare(tmp_path, AS_IN_SOURCE).tables
    assert paper_at_baseline(t, "fails") and not paper_at_baseline(t, "works")
    acc = lambda vs: [{"seed": i, "metrics": {"accuracy": v}} for i, v in enumerate(vs)]
    rows = {"fails": {"runs": acc([0.25, 0.26, 0.24])}, "works": {"runs": acc([0.90, 0.92, 0.91])},
            "other": {"runs": acc([0.26, 0.25, 0.27])}}
    # The source's "fails" sits at chance: reproducing that is the claim, and it is judged.
    assert verdict(t.claims[0], t, rows)["verdict"] == "held (fails at the baseline, as in the source)"
    assert verdict(t.claims[0], t, rows)["category"] == "held"
    # The source's "other" trained (99%): here it did not, so the comparison is void.
    assert verdict(t.claims[1], t, rows)["verdict"] == "not judged: other did not train"


GATED_ELSEWHERE = ONE_TABLE + """
    title: "claims on a VAE's KL, gated on its bound"
    metric: kl
    better: higher
    baseline: {metric: unigram_bits_per_char, what: unigram, gate: bits_per_char, better: lower}
    rows:
      hybrid: {recipe: recurrent/smoke_temporal_order}
      lstm: {recipe: recurrent/smoke_temporal_order}
      collapsed: {recipe: recurrent/smoke_temporal_order, fails_in_source: "§5.5, Figure 5.6"}
    claims: ["hybrid > lstm", "hybrid > 1", "hybrid > collapsed"]
"""


def test_a_gate_on_another_metric_reads_it_for_every_claim(tmp_path):
    (t,) = _declare(tmp_path, GATED_ELSEWHERE).tables
    run = lambda kl, bpc: [{"seed": i, "metrics": {"kl": k, "bits_per_char": b, "unigram_bits_per_char": 4.5}}
                           for i, (k, b) in enumerate(zip(kl, bpc))]
    rows = {"hybrid": {"runs": run([9.0, 10.0, 11.0], [2.1, 2.2, 2.0])},
            "lstm": {"runs": run([0.1, 0.2, 0.1], [2.3, 2.4, 2.3])},
            "collapsed": {"runs": run([0.0, 0.0, 0.0], [4.6, 4.5, 4.55])}}
    # The gate reads the bound (lower is better), not the KL the claim compares (higher is better).
    g = row_gate(t, rows, "lstm")
    assert g["metric"] == "bits_per_char" and g["trained"] and g["baseline"] == 4.5
    assert row_gate(t, rows, "lstm", "kl") == g
    assert verdict(t.claims[0], t, rows)["category"] == "held"
    assert verdict(t.claims[1], t, rows)["category"] == "held"
    # A bound at the unigram's: the row did not train, whatever its KL says...
    rows["lstm"]["runs"] = run([0.1, 0.2, 0.1], [4.4, 4.5, 4.6])
    assert row_gate(t, rows, "lstm")["trained"] is False
    assert verdict(t.claims[0], t, rows)["verdict"] == "not judged: lstm did not train"
    # ...unless the source shows that row failing (a curve, no value): then its failure is the claim.
    assert paper_at_baseline(t, "collapsed") and not paper_at_baseline(t, "hybrid")
    assert verdict(t.claims[2], t, rows)["verdict"] == "held (collapsed at the baseline, as in the source)"
    with pytest.raises(RecipeError, match="'better' .* direction of its 'gate' metric"):
        _declare(tmp_path / "x", GATED_ELSEWHERE.replace("gate: bits_per_char, better: lower", "better: lower"))
    with pytest.raises(RecipeError, match="fails_in_source is the text"):
        _declare(tmp_path / "y", GATED_ELSEWHERE.replace('"§5.5, Figure 5.6"', "true"))


SWEEP = ONE_TABLE + """
    title: "a metric against a setting"
    metric: error
    percent: true
    sweep:
      x: "length"
      metrics: [error, kl]
      series:
        conv: {16: c16, 64: c64, 32: c32}
        lstm: {16: l16}
    rows:
      c16: {recipe: recurrent/smoke_temporal_order}
      c32: {recipe: recurrent/smoke_temporal_order}
      c64: {recipe: recurrent/smoke_temporal_order}
      l16: {recipe: recurrent/smoke_temporal_order}
"""


def test_a_sweep_draws_each_series_over_x_from_the_rows_seeds(tmp_path):
    from zoo.report.render import sweep_figure, sweep_points, table_result

    (t,) = _declare(tmp_path, SWEEP).tables
    runs = lambda errs, kl: [{"seed": i, "metrics": {"error": e, "kl": kl}} for i, e in enumerate(errs)]  # noqa: E731
    recorded = {"c16": (runs([0.2, 0.4], 3.0), 2), "c32": (runs([0.5], float("nan")), 1),
                "c64": (runs([0.6, 0.6, 0.6], 1.0), 3), "l16": ([], 1)}
    result = table_result(t, [], "cpu", recorded)
    points = sweep_points(t, result)
    xs, means, stds = points["error"]["conv"]
    assert xs == [16.0, 32.0, 64.0]                      # sorted by x, whatever the declared order
    assert means == pytest.approx([30.0, 50.0, 60.0]) and stds[1:] == [0.0, 0.0] and stds[0] > 0
    assert points["kl"]["conv"][0] == [16.0, 64.0]       # a NaN is left out, not drawn as 0
    assert points["error"]["lstm"] == ([], [], [])       # no finished run: no point
    png = sweep_figure(t, result, tmp_path / "sweep.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for bad, message in (("16: c16, 64: c64, 32: c32", "names rows the table does not have"),
                         ("16: c16, 64: c64, 32: c32", "numbers for X")):
        text = SWEEP.replace(bad, "16: c16, 64: nope" if "rows" in message else "sixteen: c16")
        with pytest.raises(RecipeError, match=message):
            _declare(tmp_path / message[:5], text)


def test_summary_counts_each_category():
    claims = [{"verdict": v} for v in ("held", "held", "within noise", "not judged (2 seeds)",
                                        "not judged: neither row trained", "did not hold")]
    assert summary(claims) == {"held": 2, "did not hold": 1, "within noise": 1, "not judged": 2}


def test_bad_declarations_and_records_are_one_line_errors(tmp_path, table):
    dup = TABLE.replace("      b: {recipe", "      a: {recipe: x}\n      b: {recipe")
    with pytest.raises(RecipeError, match=r"experiments.yaml: line \d+: 'a' is written twice") as e:
        _declare(tmp_path / "dup", dup)
    assert "\n" not in str(e.value)
    with pytest.raises(RecipeError, match="names metric 'accuracy', which no run of row 'a' reports"):
        from zoo.report.spec import parse_claim
        verdict(parse_claim("a.accuracy < b", ["a", "b"], "here"), table,
                _rows({"a": [0.1] * 3, "b": [0.2] * 3}))
    typo = _declare(tmp_path / "typo", SHARES.replace("count: test_images", "count: test_imgs")).tables[0]
    with pytest.raises(RecipeError, match="count 'test_imgs' names 'test_imgs', which the runs do not report"):
        verdict(typo.claims[0], typo, _rows({"a": [0.06] * 3, "b": [0.08] * 3}, test_images=2000,
                                            mislocalised_errors=0.05))
    from zoo.report.render import table_result
    recorded = {n: ([{"seed": 0, "metrics": {"error": 0.1, "test_images": 10}}], 1) for n in ("a", "b")}
    with pytest.raises(RecipeError, match="count 'test_imgs'"):       # a table without claims too
        table_result(typo, [], "cpu", recorded)
    with pytest.raises(RecipeError, match="a margin belongs to <= and >= claims only"):
        _declare(tmp_path / "m", TABLE.replace('"a < b",', '{claim: "a < b", margin: 0.1},'))
    with pytest.raises(RecipeError, match="a baseline is"):
        _declare(tmp_path / "b", TABLE.replace("baseline: {value: 0.9,", "baseline: {value: 0.9, row: a,"))


def test_rejudge_rewrites_a_report_from_its_recorded_values(tmp_path, capsys):
    from zoo.cli import main
    from zoo.report import rejudge

    decl = tmp_path / "decl"
    _declare(decl, TABLE)
    out = tmp_path / "out"
    out.mkdir()
    runs = lambda vs: [{"seed": i, "key": f"k{v}", "run": f"runs/report/x-k{v}", "metrics": {"error": v}}
                       for i, v in enumerate(vs)]
    old = {"scale": "cpu", "command": "zoo report --scale cpu", "families": {"recurrent": {
        "scale_note": "tiny", "declared_in": "experiments.yaml", "train_seconds": 1.0, "runs_finished": 5,
        "runs_planned": 5, "tables": {"t": {"claims": [{"claim": "a < b", "verdict": "held"}], "rows": {
            "a": {"runs": runs([0.10, 0.11, 0.12])}, "b": {"runs": runs([0.30, 0.31])}}}}}}}
    (out / "report.json").write_text(json.dumps(old))
    report = rejudge(out, root=decl, command="zoo report --rejudge")
    claims = report["families"]["recurrent"]["tables"]["t"]["claims"]
    assert [c["verdict"] for c in claims] == ["not judged (2 seeds)"] * 3 + ["held"]
    md = (out / "report.md").read_text()
    assert "| recurrent | 1 | 0 | 0 | 3 |" in md                    # the summary, at the top
    assert md.index("**Claims**") < md.index("## recurrent")
    assert ("| a | `recurrent/smoke_temporal_order` | 10.00% | 11.00% ± 1.00 | 1.1× | "
            "90.00% (chance: 10 classes) | yes |") in md
    evidence = json.loads((out / "runs" / "x-k0.1.json").read_text())
    assert evidence["metrics"] == {"error": 0.1} and evidence["recipe"] is None   # keys of no real run
    # An evidence file written by the run itself holds its curves: re-judging keeps it as it was.
    kept = {**evidence, "curves": {"train/loss": [[50, 1.0], [100, 0.5]]}}
    (out / "runs" / "x-k0.11.json").write_text(json.dumps(kept))
    rejudge(out, root=decl)
    assert json.loads((out / "runs" / "x-k0.11.json").read_text())["curves"] == kept["curves"]
    # Re-judging again is stable; a folder without a report is one line.
    assert rejudge(out, root=decl)["families"]["recurrent"]["tables"]["t"]["claims"] == claims
    capsys.readouterr()
    assert main(["report", "--rejudge", "--out", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zoo: error:") and "no report to re-judge" in err and "\n" not in err
    assert main(["report", "ram", "--rejudge", "--out", str(out)]) == 2
    assert "--rejudge re-judges the whole report" in capsys.readouterr().err


TINY = """
scales:
  cpu: {note: tiny, seeds: 1, set: {trainer.max_steps: 4, trainer.checkpoint_every_steps: 2}}
tables:
  t:
    title: "tiny"
    metric: error
    rows:
      a: {recipe: recurrent/smoke_temporal_order}
"""


def test_an_unreadable_metrics_file_is_set_aside_and_the_run_reruns(tmp_path, capsys):
    from zoo.report import build_report

    _declare(tmp_path / "decl", TINY)
    kw = dict(out=tmp_path / "out", runs=tmp_path / "runs", root=tmp_path / "decl",
              sets=["runtime.strategy=one_device"])
    build_report(["recurrent"], "cpu", **kw)
    [run] = list((tmp_path / "runs").iterdir())
    text = (run / "metrics.json").read_text()
    (run / "metrics.json").write_text(text[:20])          # a run killed while writing it
    capsys.readouterr()
    report = build_report(["recurrent"], "cpu", **kw)
    err = capsys.readouterr().err
    assert "metrics.json is unreadable (truncated?); kept as metrics.json.unreadable-" in err
    assert "rerunning recurrent:t a seed 0" in err and "(0 finished, 1 to train)" in err
    # Resumed from its last checkpoint: the same metrics again, and the broken file kept.
    rerun = report["families"]["recurrent"]["tables"]["t"]["rows"]["a"]["runs"][0]["metrics"]
    assert rerun["error"] == json.loads(text)["error"] and rerun["step"] == 4
    assert [p.name for p in run.iterdir() if p.name.startswith("metrics.json.unreadable-")]


TWO = TINY + """
  u:
    title: "tiny too"
    metric: error
    rows:
      b: {recipe: recurrent/smoke_temporal_order, set: {model.units: 4}}
"""


def test_a_rerun_of_one_table_replaces_it_and_keeps_the_others(tmp_path, capsys):
    from zoo.cli import main
    from zoo.report import build_report

    _declare(tmp_path / "decl", TWO)
    out = tmp_path / "out"
    kw = dict(out=out, runs=tmp_path / "runs", root=tmp_path / "decl")
    first = build_report(["recurrent"], "cpu", sets=["runtime.strategy=one_device"], **kw)
    old_t = first["families"]["recurrent"]["tables"]["t"]
    [old_u_run] = first["families"]["recurrent"]["tables"]["u"]["rows"]["b"]["runs"]
    t_evidence = (out / old_t["rows"]["a"]["runs"][0]["evidence"]).read_text()
    assert (out / old_u_run["evidence"]).is_file()
    # Table u again, with two seeds and another setting (so other runs): t is kept as it was. First
    # the report written before any of u's new runs finished (a command stopped there): the old
    # evidence stays until the new runs replace it, and a resumed command still removes it.
    from zoo.report import all_experiments, plan, select_tables, write_report

    sets = ["runtime.strategy=one_device", "trainer.max_steps=3"]
    selected = select_tables(all_experiments(tmp_path / "decl"), ["recurrent:u"])
    stopped = write_report(selected, plan(selected, "cpu", tmp_path / "runs", 2, sets), "cpu", out,
                           figures=False, existing=json.loads((out / "report.json").read_text()),
                           root=tmp_path / "decl")
    assert stopped["families"]["recurrent"]["tables"]["t"]["rows"]["a"]["mean"] == old_t["rows"]["a"]["mean"]
    assert old_u_run["evidence"] in stopped["families"]["recurrent"]["tables"]["u"]["stale_files"]
    assert (out / old_u_run["evidence"]).is_file()
    report = build_report(["recurrent:u"], "cpu", seeds=2, command="zoo report recurrent:u", sets=sets, **kw)
    fam = report["families"]["recurrent"]
    assert list(fam["tables"]) == ["t", "u"]
    t = fam["tables"]["t"]
    assert t["rows"]["a"]["runs"] == old_t["rows"]["a"]["runs"] and t["rows"]["a"]["mean"] == old_t["rows"]["a"]["mean"]
    assert (out / t["rows"]["a"]["runs"][0]["evidence"]).read_text() == t_evidence   # curves kept
    u_runs = fam["tables"]["u"]["rows"]["b"]["runs"]
    assert [r["seed"] for r in u_runs] == [0, 1] and all(r["metrics"]["step"] == 3 for r in u_runs)
    assert old_u_run["key"] not in {r["key"] for r in u_runs}
    assert not (out / old_u_run["evidence"]).exists()                                # stale evidence gone
    assert all((out / r["evidence"]).is_file() for r in u_runs)
    assert fam["runs_finished"] == 3 and fam["runs_planned"] == 3        # t's one run and u's two
    seconds = [r["metrics"]["train_seconds"] for r in [*t["rows"]["a"]["runs"], *u_runs]]
    assert fam["train_seconds"] == pytest.approx(sum(seconds), abs=0.1)
    assert t["source"]["command"] == "" and fam["tables"]["u"]["source"]["command"] == "zoo report recurrent:u"
    assert json.loads((out / "report.json").read_text())["families"]["recurrent"]["tables"].keys() == {"t", "u"}
    md = (out / "report.md").read_text()
    assert md.index("tiny") < md.index("tiny too")
    assert "Tables recurrent:u were run by this command. The other 1 tables were kept" in md
    assert "| recurrent | 3/3 |" in md
    # A report of another scale in --out is refused in one line, and left as it was.
    before = (out / "report.json").read_text()
    capsys.readouterr()
    assert main(["report", "recurrent:3.1", "--scale", "paper", "--plan", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zoo: error:") and "a report of the cpu scale, not paper" in err and "\n" not in err
    assert (out / "report.json").read_text() == before
