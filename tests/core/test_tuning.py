"""keras-tuner search: each trial trained by the one trainer, logged to TensorBoard."""
import json

import keras_tuner as kt
import pytest

from tests.helpers import phrase_corpus, tiny_recipe
from zoo.config import RecipeError, load_recipe
from zoo.tuning import RecipeHyperModel, tune


def test_search_runs_trials_in_their_own_run_dirs(tmp_path):
    config = tiny_recipe(tmp_path / "unused", trainer={"eval_every_steps": 1000},
                         data={"corpus": str(phrase_corpus(tmp_path))}, task={"max_length": 16},
                         model={"max_length": 16}, runtime={"strategy": "one_device"})
    raw = config.to_dict()
    raw["tune"] = {"space": {"model.pooling": {"choice": ["max", "average"]},
                             "trainer.learning_rate": {"min": 1e-3, "max": 1e-2, "sampling": "log"}},
                   "max_trials": 2, "steps_per_trial": 4, "directory": str(tmp_path / "search")}
    best = tune(load_recipe(raw))
    assert best["objective"] == "byte_error" and 0.0 <= best["score"] <= 1.0
    assert best["hyperparameters"]["model.pooling"] in ("max", "average")
    trials = sorted((tmp_path / "search").glob("trial_*"))
    assert len(trials) == 2
    for trial in trials:
        assert (trial / "metrics.json").is_file()
        assert list((trial / "tb" / "train").glob("events.out.tfevents.*"))
        recipe = load_recipe(trial / "recipe.yaml")
        assert recipe.trainer.max_steps == 4
    # trials.json keeps every trial's objective, best first, beside the winner.
    kept = json.loads((tmp_path / "search" / "trials.json").read_text())
    assert kept["trial_id"] == best["trial_id"] and len(kept["trials"]) == 2
    assert kept["trials"][0]["trial_id"] == best["trial_id"]
    assert kept["trials"][0]["score"] <= kept["trials"][1]["score"]
    for t in kept["trials"]:
        want = json.loads((tmp_path / "search" / f"trial_{t['trial_id']}" / "metrics.json").read_text())
        assert t["score"] == pytest.approx(want["byte_error"])
        assert set(t["hyperparameters"]) == {"model.pooling", "trainer.learning_rate"}


def test_hypermodel_builds_the_sampled_model():
    config = tiny_recipe("unused")
    raw = config.to_dict()
    raw["tune"] = {"space": {"model.n": {"choice": [4]}}}
    hm = RecipeHyperModel(load_recipe(raw))
    model = hm.build(kt.HyperParameters())
    assert model.n == 4


def test_bad_space_is_named():
    raw = tiny_recipe("unused").to_dict()
    raw["tune"] = {"space": {"model.n": {"choices": [2]}}}
    with pytest.raises(RecipeError, match="tune.space.model.n"):
        RecipeHyperModel(load_recipe(raw)).build(kt.HyperParameters())


def test_every_shipped_recipe_has_a_tunable_space():
    """Its own `tune.space`, else its variant's or its family's, names keys the recipe's model accepts."""
    from zoo.config import REPO_RECIPES, thaw
    from zoo.report.spec import EXPERIMENTS_FILE
    from zoo.registry import default_tune_space
    from zoo.tuning import check_space

    for path in sorted(p for p in REPO_RECIPES.rglob("*.yaml") if p.name != EXPERIMENTS_FILE):
        config = load_recipe(path)
        space = thaw(config.tune.space) or default_tune_space(config.model.name)
        check_space(config, space)
