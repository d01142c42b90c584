"""keras-tuner searches over a recipe's declared space, every trial trained by the one trainer.

A recipe declares its space under `tune.space`, keyed by recipe paths:

    tune:
      space:
        model.n: {choice: [2, 4]}
        model.pooling: {choice: [max, average]}
        trainer.learning_rate: {min: 1.0e-4, max: 1.0e-2, sampling: log}
        data.batch_size: {min: 8, max: 32, step: 8}

A recipe without a space searches its model variant's (`register_model(..., tune_space=...)`),
else its family's (`Family.tune_space`).
`RecipeHyperModel` turns a `HyperParameters` sample into recipe overrides (and `build(hp)` into
a model, the keras-tuner HyperModel contract). The tuner's `run_trial` trains the trial's recipe
for `tune.steps_per_trial` steps into its own run directory, so every trial has TensorBoard
scalars and an hparams entry, then reports the task's objective on the test split. The search
minimises or maximises it as its `Metric.goal` says (`tune.goal` overrides).

The space is checked before the first trial (`check_space`): a malformed entry (min above max,
a step that is not positive, log sampling from zero, an empty choice) or a value the recipe
would reject (an unknown key, a learning rate of 0) is one RecipeError naming the entry.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import keras_tuner as kt

from zoo.config import ExperimentConfig, RecipeError
from zoo.io import atomic_write_json

SAMPLINGS = ("linear", "log", "reverse_log")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _spec(key: str, spec: Any) -> dict:
    """One space entry, checked: {choice: [...]} or {min, max[, step][, sampling]}."""
    where = f"tune.space.{key}"
    if isinstance(spec, (list, tuple)):
        spec = {"choice": list(spec)}
    if not isinstance(spec, dict):
        raise RecipeError(f"{where} must be a list or a mapping, got {spec!r}")
    unknown = set(spec) - {"choice", "min", "max", "step", "sampling"}
    if unknown:
        raise RecipeError(f"unknown key(s) {sorted(unknown)} in {where}")
    if "choice" in spec:
        values = spec["choice"]
        if not isinstance(values, (list, tuple)) or not values:
            raise RecipeError(f"{where}.choice must be a non-empty list, got {values!r}")
        if not all(isinstance(v, (bool, int, float, str)) for v in values):
            raise RecipeError(f"{where}.choice must hold numbers, strings or booleans, got {values!r}")
        if len({"number" if _number(v) else type(v).__name__ for v in values}) > 1:
            raise RecipeError(f"{where}.choice mixes kinds of values: {values!r}")
        return spec
    if "min" not in spec or "max" not in spec:
        raise RecipeError(f"{where} needs 'choice' or both 'min' and 'max'")
    lo, hi, step = spec["min"], spec["max"], spec.get("step")
    if not (_number(lo) and _number(hi)):
        raise RecipeError(f"{where}: min and max must be numbers, got {lo!r} and {hi!r}")
    if lo > hi:
        raise RecipeError(f"{where}: min ({lo}) is greater than max ({hi})")
    if step is not None and (not _number(step) or step <= 0):
        raise RecipeError(f"{where}.step must be a number > 0, got {step!r}")
    sampling = spec.get("sampling", "linear")
    if sampling not in SAMPLINGS:
        raise RecipeError(f"{where}.sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
    if sampling != "linear" and lo <= 0:
        raise RecipeError(f"{where}: sampling {sampling} needs min > 0, got {lo}")
    return spec


def check_space(config: ExperimentConfig, space: dict) -> None:
    """Every entry well formed, and its extreme values (each choice; min and max) accepted by
    the recipe: a bad space fails before the first trial, not in the middle of the search."""
    import json

    if not isinstance(space, dict):
        raise RecipeError(f"tune.space must be a mapping, got {space!r}")
    for key, spec in space.items():
        spec = _spec(str(key), spec)
        for value in spec["choice"] if "choice" in spec else (spec["min"], spec["max"]):
            try:
                config.with_overrides([f"{key}={json.dumps(value)}"])
            except RecipeError as e:
                raise RecipeError(f"tune.space.{key} = {value!r}: {e}") from None


def _declare(hp: kt.HyperParameters, key: str, spec: Any):
    name = key
    spec = _spec(key, spec)
    if "choice" in spec:
        return hp.Choice(name, spec["choice"])
    lo, hi = spec["min"], spec["max"]
    sampling = spec.get("sampling", "linear")
    if isinstance(lo, int) and isinstance(hi, int) and not isinstance(spec.get("step", 1), float):
        return hp.Int(name, lo, hi, step=spec.get("step", 1), sampling=sampling)
    return hp.Float(name, float(lo), float(hi), step=spec.get("step"), sampling=sampling)


class RecipeHyperModel(kt.HyperModel):
    """A family's HyperModel: the recipe is the base, the declared space is searched."""

    def __init__(self, config: ExperimentConfig):
        super().__init__(name=config.name, tunable=True)
        from zoo.config import thaw
        from zoo.registry import default_tune_space, family_of_model

        self.base = config
        fam = family_of_model(config.model.name)
        self.space = thaw(config.tune.space) or thaw(default_tune_space(config.model.name))
        if not self.space:
            raise RecipeError(f"tune.space is empty and family {fam.name!r} has no default space")
        check_space(config, self.space)

    def overrides(self, hp: kt.HyperParameters) -> list[str]:
        import json
        return [f"{key}={json.dumps(_declare(hp, key, spec))}" for key, spec in self.space.items()]

    def trial_config(self, hp: kt.HyperParameters, run_dir: Path) -> ExperimentConfig:
        sets = self.overrides(hp) + [f"runtime.run_dir={run_dir}",
                                     f"trainer.max_steps={self.base.tune.steps_per_trial}",
                                     "runtime.progress=false"]
        return self.base.with_overrides(sets)

    def build(self, hp):
        from zoo.registry import create_model

        config = self.base.with_overrides(self.overrides(hp))
        return create_model(config.model.name, build=True, **config.model.kwargs())


class RecipeTuner(kt.Tuner):
    """keras-tuner Tuner whose trials run the zoo trainer instead of `model.fit`."""

    def __init__(self, hypermodel: RecipeHyperModel, oracle, directory, project_name, strategy=None):
        super().__init__(oracle=oracle, hypermodel=hypermodel, directory=directory,
                         project_name=project_name, overwrite=False)
        self._strategy = strategy

    def run_trial(self, trial, *args, **kwargs):
        from zoo.training.trainer import Trainer

        run_dir = Path(self.project_dir) / f"trial_{trial.trial_id}"
        config = self.hypermodel.trial_config(trial.hyperparameters, run_dir)
        metrics = Trainer(config, strategy=self._strategy, log=lambda *a, **k: None).fit()
        return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


def make_oracle(config: ExperimentConfig, objective: str, goal: str = "min"):
    t = config.tune
    obj = kt.Objective(objective, direction=goal)
    if t.algorithm == "random":
        return kt.oracles.RandomSearchOracle(objective=obj, max_trials=t.max_trials, seed=config.trainer.seed)
    if t.algorithm == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(objective=obj, max_trials=t.max_trials,
                                                     seed=config.trainer.seed)
    if t.algorithm == "hyperband":
        return kt.oracles.HyperbandOracle(objective=obj, max_epochs=3, seed=config.trainer.seed)
    raise RecipeError(f"unknown tune.algorithm {t.algorithm!r}; choose random, bayesian or hyperband")


def trials(directory) -> list[dict]:
    """Every finished trial of a search folder (keras-tuner's trial_*/trial.json): id,
    hyperparameters, score and the trial's final metrics, best first (what a report keeps of a
    search: each trial's objective, not only the winner's)."""
    import json

    out = []
    for path in sorted(Path(directory).glob("trial_*/trial.json")):
        t = json.loads(path.read_text())
        metrics = {k: v["observations"][-1]["value"][0]
                   for k, v in t.get("metrics", {}).get("metrics", {}).items() if v.get("observations")}
        out.append({"trial_id": t["trial_id"], "status": t.get("status"), "score": t.get("score"),
                    "hyperparameters": t["hyperparameters"]["values"], "metrics": metrics})
    finished = [t for t in out if t["score"] is not None]
    return sorted(finished, key=lambda t: t["score"]) + [t for t in out if t["score"] is None]


def tune(config: ExperimentConfig, strategy=None) -> dict:
    """Run the search; returns the best trial's hyperparameters and objective."""
    from zoo.registry import task_entry
    from zoo.training.strategy import make_strategy

    task = task_entry(config.task.name).cls
    objective = config.tune.objective or task.objective
    # The recipe's tune.goal, else the direction the task declares for the metric.
    goal = config.tune.goal or task.goal(objective)
    hypermodel = RecipeHyperModel(config)
    directory = Path(config.tune.directory.format(name=config.name))
    strategy = strategy or make_strategy(config.runtime.strategy, config.runtime.logical_cpus)
    tuner = RecipeTuner(hypermodel, make_oracle(config, objective, goal), str(directory.parent),
                        directory.name, strategy=strategy)
    tuner.search()
    best = tuner.oracle.get_best_trials(1)[0]
    result = {"trial_id": best.trial_id, "objective": objective, "goal": goal, "score": best.score,
              "hyperparameters": best.hyperparameters.values,
              "run_dir": str(Path(tuner.project_dir) / f"trial_{best.trial_id}")}
    # Every trial's objective beside the winner (§5.6.2 reports the spread over trials).
    found = trials(tuner.project_dir)
    if goal == "max":
        found = [t for t in found if t["score"] is not None][::-1] + [t for t in found if t["score"] is None]
    atomic_write_json(Path(tuner.project_dir) / "trials.json", {**result, "trials": found})
    return result
