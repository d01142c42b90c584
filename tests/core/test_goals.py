"""Objectives with a direction: a metric says whether it improves downwards or upwards
(`Metric.goal`), and the plateau schedule and the tuner follow it."""
import json

import pytest

import zoo

from tests.helpers import phrase_corpus, tiny_recipe
from zoo.config import RecipeError, load_recipe
from zoo.eval.metrics import Metric
from zoo.models.recurrent.task import AddingTask
from zoo.training.task import Task
from zoo.training.trainer import Trainer


class AccuracyAddingTask(AddingTask):
    """The adding problem judged by its share of answers within tolerance, to be maximised."""
    name = "adding_accuracy"
    objective = "accuracy"
    metrics = {**AddingTask.metrics, "accuracy": Metric("errors", transform=lambda e: 1.0 - e, goal="max")}


def test_a_metric_declares_its_goal():
    assert Task.goal() == "min" and AddingTask.goal() == "min"
    assert AccuracyAddingTask.goal() == "max" and AccuracyAddingTask.goal("loss") == "min"
    assert AccuracyAddingTask.goal("not_declared") == "min"

    class Wrong(Task):
        metrics = {"loss": Metric("loss_sum", goal="up")}

    with pytest.raises(ValueError, match="goal 'up'; choose min or max"):
        Wrong.goal()


# Metric names that grow as a model gets better; any family declaring one must maximise it.
RISING = ("accuracy", "bleu", "neg_log_perplexity")


@pytest.mark.parametrize("task", sorted(zoo.list_tasks()))
def test_every_registered_metric_has_a_goal_and_scores_that_rise_are_maximised(task):
    cls = zoo.task_entry(task).cls
    for name in cls.metrics:
        goal = cls.goal(name)
        if name.endswith(RISING):
            assert goal == "max", f"{task}: {name} rises as the model improves but its goal is {goal}"
    assert cls.objective in cls.metrics, f"{task}: objective {cls.objective!r} is not a declared metric"


def test_plateau_follows_a_maximised_objective(tmp_path):
    config = load_recipe({
        "name": "acc", "model": {"name": "stacked_lstm_adding", "units": 4, "num_layers": 1},
        "task": {"name": "adding", "length": 10, "train_examples": 32, "test_examples": 16},
        "data": {"batch_size": 8},
        "trainer": {"lr_schedule": "plateau", "lr_decay_factor": 0.5, "learning_rate": 0.1},
        "runtime": {"run_dir": str(tmp_path), "strategy": "one_device", "progress": False}})
    trainer = Trainer(config, task=AccuracyAddingTask(config), log=lambda *a, **k: None)
    trainer.load_data()
    trainer.build()
    state = trainer.phase_states[-1]
    opt = state.optimizers[0]
    assert float(state.best.numpy()) == float("-inf")
    trainer._plateau(state, {"accuracy": 0.5})
    trainer._plateau(state, {"accuracy": 0.6})
    assert float(opt.learning_rate.numpy()) == pytest.approx(0.1)   # rising accuracy: kept
    trainer._plateau(state, {"accuracy": 0.55})
    assert float(opt.learning_rate.numpy()) == pytest.approx(0.05)
    assert float(state.best.numpy()) == 0.6


def test_the_tuner_maximises_when_told(tmp_path):
    """tune.goal: max overrides the objective's own goal: the best trial is the one with the
    highest byte error (a min-goal metric, so the override is what picks it)."""
    from zoo.tuning import make_oracle, tune

    config = tiny_recipe(tmp_path / "unused", trainer={"eval_every_steps": 1000},
                         data={"corpus": str(phrase_corpus(tmp_path))}, task={"max_length": 16},
                         model={"max_length": 16}, runtime={"strategy": "one_device"})
    raw = config.to_dict()
    raw["tune"] = {"space": {"trainer.learning_rate": {"choice": [1e-4, 3e-2]}}, "max_trials": 2,
                   "steps_per_trial": 6, "directory": str(tmp_path / "search"), "goal": "max"}
    best = tune(load_recipe(raw))
    scores = [json.loads((t / "metrics.json").read_text())["byte_error"]
              for t in sorted((tmp_path / "search").glob("trial_*"))]
    assert len(scores) == 2 and scores[0] != scores[1]
    assert best["goal"] == "max" and best["score"] == pytest.approx(max(scores))
    kept = json.loads((tmp_path / "search" / "trials.json").read_text())["trials"]
    assert [t["score"] for t in kept] == pytest.approx(sorted(scores, reverse=True))   # best first
    assert make_oracle(load_recipe(raw), "accuracy", "max").objective.direction == "max"
    with pytest.raises(RecipeError, match="tune.goal must be one of '', 'min', 'max'"):
        load_recipe({**raw, "tune": {**raw["tune"], "goal": "maximum"}})


def test_plateau_trains_and_logs_under_two_replicas(tmp_path):
    """The plateau learning rate is a mirrored variable under two replicas: it is logged (this
    crashed at the first log before) and follows the maximised objective."""
    from tests.helpers import scalars

    config = load_recipe({
        "name": "acc", "model": {"name": "stacked_lstm_adding", "units": 4, "num_layers": 1},
        "task": {"name": "adding", "length": 10, "train_examples": 32, "test_examples": 16,
                 "train_metric_examples": 16},
        "data": {"batch_size": 8},
        "trainer": {"lr_schedule": "plateau", "learning_rate": 0.1, "max_steps": 4, "log_every_steps": 2,
                    "eval_every_steps": 2, "text_samples": 0},
        "runtime": {"run_dir": str(tmp_path), "strategy": "mirrored", "progress": False}})
    trainer = Trainer(config, task=AccuracyAddingTask(config), log=lambda *a, **k: None)
    assert trainer.fit()["step"] == 4 and trainer.strategy.num_replicas_in_sync == 2
    assert [s for s, _ in scalars(tmp_path / "tb" / "train", "learning_rate")] == [2, 4]
    assert float(trainer.phase_states[-1].best.numpy()) > float("-inf")   # step 2's accuracy
