"""Keras 3 conventions every family's model and layer follows (keras-hub style):

- `keras.Model.export()` traces and serves every model class (id-reading models declare int32
  inputs through `input_dtype`);
- a dtype policy, global or per model, reaches every sub-layer: mixed_bfloat16 / mixed_float16
  train one step of every task with float32 variables and float32 losses;
- Keras's own layer harness (`keras.src.testing.TestCase.run_layer_test`: config round trip,
  build, symbolic and eager call, a fit step, mixed precision) passes for every public layer.
"""
import importlib
import os
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.testing import TestCase

import zoo
from zoo import registry
from zoo.config import load_recipe
from zoo.registry import create_model, create_task, model_entry

MIXED = ("mixed_bfloat16", "mixed_float16")
TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def float32_afterwards():
    """Whatever a test sets, the global dtype policy is float32 again after it."""
    try:
        yield
    finally:
        keras.config.set_dtype_policy("float32")


# -- 1. model.export() ---------------------------------------------------------------------------
# Every registered variant at its registered smoke size (`ModelEntry.smoke`).
MODELS = zoo.list_models()


def _declared(attr):
    """What the test folders declare for these sweeps: tests/core/conventions.py (the shared
    layers of zoo/layers/) and tests/<family>/conventions.py of every registered family, so a new
    family brings its own cases and no central list names it."""
    out = []
    for folder in ["core", *(fam.name for fam in zoo.families())]:
        if (TESTS / folder / "conventions.py").exists():
            out += getattr(importlib.import_module(f"tests.{folder}.conventions"), attr, [])
    return out


def _smoke(name, **extra):
    entry = model_entry(name)
    model = create_model(name, build=True, **{**entry.smoke, **extra})
    return model, entry.example_input(model, 2, np.random.default_rng(4))


@pytest.mark.parametrize("name", MODELS)
def test_keras_export_serves_the_model(name, tmp_path):
    """`model.export(format="tf_saved_model")` traces with the model's own input dtypes (int32
    ids, float features); the reloaded SavedModel serves the Keras model's outputs to 1e-5."""
    model, x = _smoke(name)
    # Models that read ids declare int32 inputs, models that read features float32.
    kinds = {np.asarray(t).dtype.kind for t in tf.nest.flatten(x)}
    assert model.input_dtype == ("int32" if kinds <= {"i", "u"} else "float32"), kinds
    want = np.asarray(model(x, training=False))
    model.export(str(tmp_path / name), format="tf_saved_model", verbose=False)
    served = tf.saved_model.load(str(tmp_path / name))  # held: its variables live as long as it
    specs = tf.nest.flatten(served.signatures["serving_default"].structured_input_signature)
    assert {spec.dtype.name for spec in specs} == {model.input_dtype}
    got = served.serve(tf.nest.map_structure(tf.constant, x))
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)


# -- 2. mixed precision ------------------------------------------------------------------------
def test_a_model_dtype_policy_reaches_every_sub_layer():
    """`dtype=` of a model (not the global policy) reaches every sub-layer: variables float32,
    every layer computing in the mixed dtype, outputs in it. (Both mixed policies go through
    the same `dtype=self.dtype_policy` of each sub-layer; the training sweep runs both.)"""
    policy = "mixed_bfloat16"
    first = {}
    for name in MODELS:   # one variant of each model class
        first.setdefault(model_entry(name).factory, name)
    models = [_smoke(name, dtype=policy) for name in first.values()]
    # The optional layer norms of the recurrent cells are sub-layers made in build().
    models.append(_smoke("stacked_lstm_adding", layer_norm=True, dtype=policy))
    compute = policy.split("_", 1)[1]
    for model, x in models:
        assert keras.config.dtype_policy().name == "float32"
        wrong = [f"{layer.path}: {layer.dtype_policy.name}" for layer in model._flatten_layers()
                 if layer.dtype_policy.name != policy]
        assert not wrong, wrong
        # Float variables stay float32 (an n-gram model's int64 keys are lookup tables).
        assert {v.dtype for v in model.weights} - {"int64"} == {"float32"}
        assert model(x, training=False).dtype == compute
        # from_config keeps the policy (the dtype is in the model's config).
        assert type(model).from_config(model.get_config()).dtype_policy.name == policy


# Every task's smoke recipe, and the model classes no smoke recipe trains as each family's test
# folder declares them (tests/<family>/conventions.py: task, variant at its smoke size, overrides).
# The n-gram model is counted, with no gradient step to take.
TRAINED = [(name, None, []) for name in zoo.list_tasks()] + [
    (task, {"name": model, **model_entry(model).smoke}, overrides)
    for task, model, overrides in _declared("MIXED_PRECISION")]


def test_the_mixed_precision_sweep_covers_every_model_class():
    classes = {model_entry(n).factory for n in zoo.list_models()
               if not getattr(model_entry(n).factory, "counted", False)}
    swept = {model_entry(load_recipe(zoo.task_entry(n).smoke_recipe).model.name).factory for n in zoo.list_tasks()}
    swept |= {model_entry(model["name"]).factory for _, model, _ in TRAINED if model is not None}
    missing = sorted(c.__name__ for c in classes - swept)
    assert not missing, f"{missing}: declare MIXED_PRECISION in tests/<family>/conventions.py"


@pytest.fixture(scope="module")
def loaded_tasks(tmp_path_factory):
    """The tasks of TRAINED with their data loaded once (the data does not depend on the policy)."""
    old = os.environ.get("ZOO_CACHE")
    os.environ["ZOO_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    run = tmp_path_factory.mktemp("run")
    try:
        out = {}
        for name, model, overrides in TRAINED:
            config = load_recipe(zoo.task_entry(name).smoke_recipe, [f"runtime.run_dir={run}", *overrides])
            if model is not None:
                config = load_recipe({**config.to_dict(), "model": model})
            task = create_task(config)
            task.load_data()
            # The model arguments the data decides (a tokenizer's vocabulary), as the trainer adds them.
            config = load_recipe({**config.to_dict(), "model": {**config.to_dict()["model"], **task.model_arguments()}})
            task.config = config
            out[(name, config.model.name)] = (config, task)
        yield out
    finally:
        if old is None:
            os.environ.pop("ZOO_CACHE", None)
        else:
            os.environ["ZOO_CACHE"] = old


@pytest.mark.parametrize("policy", MIXED)
def test_every_task_trains_one_step_in_mixed_precision(policy, loaded_tasks, float32_afterwards):
    """Under a global mixed policy each update of each phase of each task takes one optimizer
    step: float32 variables, the model computing in the mixed dtype, every sum (loss, counts,
    metrics) float32 and finite, every variable of the update moved. The greedy pretraining
    phases (their own decoders and losses) run under mixed_bfloat16 only: the main phase's
    model is the same under both policies."""
    compute = policy.split("_", 1)[1]
    for (name, model_name), (config, task) in loaded_tasks.items():
        keras.config.set_dtype_policy(policy)
        keras.utils.set_random_seed(0)
        model = create_model(model_name, build=True, **config.model.kwargs())
        assert model.compute_dtype == compute and {v.dtype for v in model.weights} == {"float32"}
        batch = next(iter(task.train_dataset(model, 0)))
        phases = list(task.phases(model))
        for phase in phases if policy == "mixed_bfloat16" else phases[-1:]:
            for update in phase.updates:
                where = f"{name}/{model_name}/{phase.name}/{update.name}"
                variables = update.variables()
                before = [v.numpy() for v in variables]
                with tf.GradientTape() as tape:
                    sums = update.sums(model, batch, step=tf.constant(0, tf.int64), training=True)
                    loss = sums[update.loss] / tf.maximum(sums[update.count], 1.0)
                assert {k: v.dtype for k, v in sums.items()} == {k: tf.float32 for k in sums}, where
                assert np.isfinite(float(loss)), where
                grads = tape.gradient(loss, variables)
                keras.optimizers.Adam(0.01).apply_gradients(
                    [(g, v) for g, v in zip(grads, variables) if g is not None])
                assert {v.dtype for v in variables} == {"float32"}, where
                moved = [not np.array_equal(v.numpy(), b) for v, b in zip(variables, before)]
                assert any(moved), f"{where}: no variable moved"


def test_the_trainer_steps_under_a_global_bfloat16_policy(tmp_path, monkeypatch, float32_afterwards):
    """The trainer's distributed step (its float32 normalisation of the summed loss) on a model
    built under mixed_bfloat16."""
    from zoo.training.trainer import Trainer

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    keras.config.set_dtype_policy("mixed_bfloat16")
    config = load_recipe(zoo.task_entry("temporal_order").smoke_recipe, [f"runtime.run_dir={tmp_path}"])
    trainer = Trainer(config, log=lambda *a, **k: None)
    trainer.load_data()
    trainer.build()
    assert trainer.model.compute_dtype == "bfloat16"
    sums = trainer.train_step(next(trainer._batches("train", 0)))
    assert all(v.dtype == tf.float32 for v in sums.values())
    assert np.isfinite(float(sums["loss_sum"]))


# -- 3. Keras's layer harness over every public layer ---------------------------------------------
# The public layers are those registered for serialization (`zoo.registry.public_layers`); their
# cases come from the test folders (tests/<family>/conventions.py, LAYER_CASES).
LAYER_CASES = _declared("LAYER_CASES")


def test_layer_cases_cover_every_public_layer():
    public = set(registry.public_layers())
    covered = {cls for _, cls, _ in LAYER_CASES}
    covered |= {type(args["init_kwargs"]["cell"]) for _, _, args in LAYER_CASES if "cell" in args["init_kwargs"]}
    missing = sorted(f"{c.__module__}.{c.__name__}" for c in public - covered)
    assert not missing, f"no layer case for {missing}: add one to tests/<family>/conventions.py LAYER_CASES"
    assert len({case[0] for case in LAYER_CASES}) == len(LAYER_CASES), "two layer cases share an id"
    # Every layer class defined beside a public layer (in the same module) is public too.
    for module in {sys.modules[cls.__module__] for cls in public}:
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, keras.layers.Layer)
                    and not issubclass(value, keras.Model)
                    and value.__module__ == module.__name__ and not value.__name__.startswith("_")):
                assert value in public, value


# The harness's fit step calls `model.fit(dataset)` with fit's default shuffle=True, which Keras
# then says it ignores (keras/src/testing/test_case.py): Keras's own call, not the zoo's.
@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed, but will be ignored:UserWarning")
@pytest.mark.parametrize("case", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_keras_layer_harness(case):
    _, cls, args = case
    TestCase(methodName="run_layer_test").run_layer_test(cls, **args)
