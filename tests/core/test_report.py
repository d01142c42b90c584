"""`zoo report`: the families' declared tables, run keys, claim verdicts, and a real report of
tiny Temporal Order runs (two rows, two seeds) that is killed by SIGTERM in its second run,
resumes from that run's checkpoint, and is read back without training on a third call."""
import json
import math
import os
import signal

import pytest

import zoo  # noqa: F401
from zoo.config import RecipeError, load_recipe
from zoo.report import all_experiments, build_report, plan, select_tables
from zoo.report.render import table_result, verdict
from zoo.report.runner import run_key, unique
from zoo.report.spec import load_experiments, parse_claim


def test_every_family_declares_tables_whose_rows_resolve_at_both_scales(tmp_path):
    experiments = all_experiments()
    assert {e.family for e in experiments} >= {"byte_rcae", "slicenet", "recurrent", "ram"}
    for scale in ("cpu", "paper"):
        planned = plan(select_tables(experiments, []), scale, tmp_path)
        tables = {p.table.id for p in planned}
        for wanted in ("byte_rcae:2", "byte_rcae:3", "byte_rcae:4", "byte_rcae:5", "byte_rcae:6",
                       "slicenet:2", "recurrent:3.1", "recurrent:xu1", "recurrent:xu2", "ram:4.1", "ram:4.2"):
            assert wanted in tables
        for p in planned:   # every run has its own folder named by its key; seeds differ
            assert p.run_dir.name.endswith(p.key) and p.config.runtime.progress is False
    cpu = plan(select_tables(experiments, ["byte_rcae"]), "cpu", tmp_path)
    # Rows of several tables that resolve to the same settings share one run (Table 2's English
    # row is Table 3's and Table 5's recursive model and Table 4's max pooling); Table 6 keeps
    # each row's own n where the CPU scale runs Tables 2-5 at n = 2.
    same = {p.key for p in cpu if p.seed == 0 and (p.table.key, p.row) in
            {("2", "english"), ("4", "max"), ("5", "recursive"), ("3", "recursive")}}
    assert len(same) == 1
    n = {(p.table.key, p.row): p.config.model.args.get("n") for p in cpu if p.seed == 0}
    assert n[("2", "english")] == 2 and [n[("6", f"n{k}")] for k in (2, 4, 8, 16)] == [None, None, None, None]
    assert [p.config.model.name for p in cpu if p.table.key == "6" and p.seed == 0] == [
        "byte_rcae_n2", "byte_rcae_n4", "byte_rcae_n8", "byte_rcae_n16"]
    static = [p for p in cpu if p.row == "static"]
    assert [p.seed for p in static] == [0, 1, 2, 3, 4] and static[0].key != static[1].key
    assert static[1].config.trainer.seed == static[0].config.trainer.seed + 1
    assert static[1].config.data.seed == static[0].config.data.seed + 1
    assert static[0].config.model.name == "byte_rcae_static_n8" and static[0].config.model.args["features"] == 64
    assert static[0].config.model.args["n"] == 2
    # Every report run has op determinism on: its numbers come back from `zoo train` of its recipe.
    assert all(p.config.runtime.deterministic for p in cpu)
    # The paper scale of the attention tables trains the paper_* recipes as written.
    from zoo.training.settings import run_settings
    paper = plan(select_tables(experiments, ["ram:4.1"]), "paper", tmp_path)
    assert [p.row for p in paper] == ["with_context", "without_context"]
    for p, recipe in zip(paper, ("ram/paper_single", "ram/paper_single_no_context")):
        assert run_settings(p.config) == run_settings(load_recipe(recipe, ["runtime.progress=false",
                                                                           "runtime.deterministic=true"]))


def test_run_key_ignores_names_and_folders_but_no_setting():
    base = load_recipe("recurrent/smoke_temporal_order")
    key = run_key(base)
    renamed = base.with_overrides(["name=other", "description=x", "runtime.run_dir=/elsewhere",
                                   "runtime.progress=true"])
    assert run_key(renamed) == key
    for change in ("trainer.seed=1", "data.seed=1", "model.units=9", "trainer.learning_rate=0.02",
                   "task.length=10", "trainer.lr_decay_start_epochs=3"):
        assert run_key(base.with_overrides([change])) != key, change
    # A setting added later, at the value that trains as before, leaves earlier runs' keys alone.
    from zoo.training.settings import run_settings

    assert "lr_decay_start_epochs" not in run_settings(base)["trainer"]
    assert run_settings(base.with_overrides(["trainer.lr_decay_start_epochs=3"]))["trainer"]["lr_decay_start_epochs"] == 3


def test_selecting_unknown_families_or_tables_is_one_clear_error():
    experiments = all_experiments()
    with pytest.raises(RecipeError, match="no experiments for 'nosuch'"):
        select_tables(experiments, ["nosuch"])
    with pytest.raises(RecipeError, match="byte_rcae has no table '9'.*2, 3, 4, 5, 6"):
        select_tables(experiments, ["byte_rcae:9"])
    assert [t.key for _, t in select_tables(experiments, ["ram:4.2", "slicenet"])] == ["4.2", "2"]


def test_claims_parse_and_bad_ones_are_named():
    c = parse_claim("a.accuracy >= b", ["a", "b"], "here")
    assert (c.left.row, c.left.metric, c.op, c.right.row, c.right.metric) == ("a", "accuracy", ">=", "b", None)
    assert parse_claim("a < 0.05", ["a"], "here").right.number == 0.05
    with pytest.raises(RecipeError, match="names no row of the table: 'c'"):
        parse_claim("a < c", ["a", "b"], "here")
    with pytest.raises(RecipeError, match="must read"):
        parse_claim("a << b", ["a", "b"], "here")


def _declared(tmp_path, text):
    (tmp_path / "recurrent").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "recurrent" / "experiments.yaml"
    path.write_text(text)
    return load_experiments(path, "recurrent")


TABLE = """
scales:
  cpu: {note: tiny, seeds: 2, set: {trainer.max_steps: 4, trainer.checkpoint_every_steps: 2}}
tables:
  t:
    title: "tiny temporal order"
    metric: error
    percent: true
    count: test_examples
    columns: {train loss: train_loss}
    rows:
      wide: {recipe: recurrent/smoke_temporal_order, paper: 0.1, set: {model.units: 12}}
      narrow: {recipe: recurrent/smoke_temporal_order, paper: 0.2, set: {model.units: 4}}
    claims: ["wide < narrow", "wide <= 0.99"]
"""


def _rows(values: dict, count=1000):
    return {name: {"runs": [{"seed": i, "metrics": {"error": v, **({"test_examples": count} if count else {})}}
                            for i, v in enumerate(vs)]} for name, vs in values.items()}


def test_verdicts_follow_the_t_interval_and_never_judge_fewer_than_three_seeds(tmp_path):
    from zoo.report.stats import t_quantile

    table = _declared(tmp_path, TABLE).tables[0]
    claim = table.claims[0]
    # Two seeds each: no verdict, however far apart (the t quantile at 1 df is 12.7).
    assert verdict(claim, table, _rows({"wide": [0.10, 0.12], "narrow": [0.30, 0.32]}))["verdict"] == \
        "not judged (2 seeds)"
    # Three seeds each: Welch's interval, here with equal spreads (df = 4).
    rows = _rows({"wide": [0.10, 0.12, 0.14], "narrow": [0.30, 0.32, 0.34]})
    v = verdict(claim, table, rows)
    se = math.sqrt(2 * 0.02 ** 2 / 3)
    assert v["verdict"] == "held" and v["difference"] == pytest.approx(0.20) and v["se"] == pytest.approx(se)
    assert v["interval"][0] == pytest.approx(0.20 - t_quantile(0.975, 4) * se, abs=1e-4)
    assert verdict(claim, table, _rows({"wide": [0.30, 0.32, 0.34], "narrow": [0.10, 0.12, 0.14]}))["verdict"] == \
        "did not hold"
    assert verdict(claim, table, _rows({"wide": [0.10, 0.20, 0.30], "narrow": [0.15, 0.25, 0.35]}))["verdict"] == \
        "within noise"
    # One seed, even with a test count: never a verdict.
    assert verdict(claim, table, _rows({"wide": [0.40], "narrow": [0.45]}, count=10000))["verdict"] == \
        "not judged (one seed)"
    # A row against a number (one-sample t), and <= with the default 1-point margin.
    assert verdict(table.claims[1], table, _rows({"wide": [0.5, 0.6, 0.55]}, count=100))["verdict"] == "held"
    at_most = parse_claim("wide <= narrow", ["wide", "narrow"], "here")
    assert verdict(at_most, table, _rows({"wide": [1.0] * 3, "narrow": [1.0] * 3}))["verdict"] == "held"
    assert verdict(at_most, table, _rows({"wide": [0.40, 0.50, 0.45], "narrow": [0.35, 0.45, 0.40]}))["verdict"] == \
        "within noise"
    assert verdict(at_most, table, _rows({"wide": [0.80, 0.81, 0.82], "narrow": [0.35, 0.36, 0.37]}))["verdict"] == \
        "did not hold"


class _Stopper:
    """A progress display that sends this process SIGTERM at step 2 of its second run: the
    trainer's own handler saves a checkpoint and the report stops."""

    def __init__(self):
        self.runs = 0

    def __call__(self, step, total):
        if self.runs == 2 and step == 2:
            os.kill(os.getpid(), signal.SIGTERM)


def test_report_trains_resumes_after_sigterm_and_reads_back(tmp_path, monkeypatch, capsys):
    from zoo.report import Interrupted
    from zoo.report import runner

    monkeypatch.chdir(tmp_path)
    _declared(tmp_path / "decl", TABLE)
    stopper = _Stopper()
    real_begin = runner.Progress.begin

    def begin(self, p):
        stopper.runs += 1
        self.step = stopper
        real_begin(self, p)

    monkeypatch.setattr(runner.Progress, "begin", begin)
    with pytest.raises(Interrupted) as stopped:
        build_report(["recurrent"], "cpu", out=tmp_path / "out", runs=tmp_path / "runs", root=tmp_path / "decl",
                     sets=["runtime.strategy=one_device"])
    assert stopped.value.signum == signal.SIGTERM
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2 and sum((r / "metrics.json").is_file() for r in runs) == 1
    partial = next(r for r in runs if not (r / "metrics.json").is_file())
    first_checkpoint = partial / "checkpoints" / "ckpt-2.index"
    stamp = first_checkpoint.stat().st_mtime_ns
    monkeypatch.setattr(runner.Progress, "begin", real_begin)

    report = build_report(["recurrent"], "cpu", out=tmp_path / "out", runs=tmp_path / "runs",
                          root=tmp_path / "decl", sets=["runtime.strategy=one_device"])
    table = report["families"]["recurrent"]["tables"]["t"]
    assert table["complete"] and [len(r["runs"]) for r in table["rows"].values()] == [2, 2]
    assert all(r["metrics"]["step"] == 4 for row in table["rows"].values() for r in row["runs"])
    # Each run's provenance rides into report.json (the commit, versions and CPU it was trained on).
    assert all(r["metrics"]["provenance"]["op_determinism"] is True and r["metrics"]["provenance"]["cpu"]
               for row in table["rows"].values() for r in row["runs"])
    # Resumed from step 2, not retrained: the interrupted run's checkpoint was not rewritten.
    assert json.loads((partial / "metrics.json").read_text())["step"] == 4
    assert first_checkpoint.stat().st_mtime_ns == stamp
    [wide, narrow] = table["rows"].values()
    errors = [r["metrics"]["error"] for r in wide["runs"]]
    assert wide["mean"] == pytest.approx(sum(errors) / 2)
    assert wide["std"] == pytest.approx(abs(errors[0] - errors[1]) / math.sqrt(2))
    assert [c["claim"] for c in table["claims"]] == ["wide < narrow", "wide <= 0.99"]
    # Two seeds a row: no verdict, but the interval is there for information.
    assert [c["verdict"] for c in table["claims"]] == ["not judged (2 seeds)"] * 2
    assert table["claims"][0]["method"].startswith("Welch's t") and len(table["claims"][0]["interval"]) == 2
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| wide | `recurrent/smoke_temporal_order` | 10.00% |" in md and "claim `wide < narrow`" in md
    assert json.loads((tmp_path / "out" / "report.json").read_text())["scale"] == "cpu"
    # Each run's evidence beside the report: resolved recipe, metrics and curves as data.
    run0 = wide["runs"][0]
    evidence = json.loads((tmp_path / "out" / run0["evidence"]).read_text())
    assert evidence["metrics"] == run0["metrics"] and evidence["recipe"]["model"]["units"] == 12
    assert evidence["rows"] == ["recurrent:t wide"] and evidence["key"] == run0["key"]
    assert [s for s, _ in evidence["curves"]["train/loss"]][-1] == 4 and "eval/error" in evidence["curves"]
    for png in ("recurrent_t_bars.png", "recurrent_t_curves.png"):
        assert (tmp_path / "out" / png).read_bytes()[:4] == b"\x89PNG"

    # Everything cached: nothing is trained, no run folder is touched.
    stamps = {r: (r / "metrics.json").stat().st_mtime_ns for r in (tmp_path / "runs").iterdir()}
    capsys.readouterr()
    again = build_report(["recurrent"], "cpu", out=tmp_path / "out", runs=tmp_path / "runs",
                         root=tmp_path / "decl", sets=["runtime.strategy=one_device"])
    assert "(4 finished, 0 to train)" in capsys.readouterr().err
    assert {r: (r / "metrics.json").stat().st_mtime_ns for r in (tmp_path / "runs").iterdir()} == stamps
    assert again["families"]["recurrent"]["tables"]["t"]["claims"] == table["claims"]
    # Another setting is another run, never the cached one.
    more = plan(select_tables([_declared(tmp_path / "decl", TABLE)], []), "cpu", tmp_path / "runs",
                sets=["runtime.strategy=one_device", "trainer.max_steps=5"])
    assert not any(p.finished() for p in unique(more))
    assert table_result(more[0].table, more, "cpu")["complete"] is False


def test_cli_report_errors_are_one_line(capsys):
    from zoo.cli import main

    assert main(["report", "nosuch"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zoo: error: no experiments for 'nosuch'") and "\n" not in err
    assert main(["report", "ram", "--seeds", "0"]) == 2
    assert "--seeds must be at least 1" in capsys.readouterr().err


def test_cli_plan_lists_runs_without_training(tmp_path, capsys):
    from zoo.cli import main

    assert main(["report", "ram:4.2", "--plan", "--runs", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "2 runs (0 finished, 2 to train)" in err and err.count("to train") == 3
    assert not (tmp_path / "r").exists()
