"""One sweep over every registered task, like the sweep over models: a task is tested by being
registered. Per task, on its smoke recipe: one step of every update of every phase on two
replicas (finite loss; the update's variables change, every other variable is bit-identical),
the evaluation loop on one device and on two replicas, the export, and a reload of every
SavedModel in a fresh process that never imports the zoo and of `model.keras` after
`import zoo` (outputs within 1e-5)."""
import json
import os
import pickle
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.config import load_recipe
from zoo.eval.loop import evaluate
from zoo.export import export_model, open_export
from zoo.training.trainer import Trainer

TASKS = zoo.list_tasks()


def _module_variables(module):
    """A Keras layer's weights, a tf.Module's (e.g. `zoo.training.hooks.MovingAverage`) variables."""
    return module.weights if hasattr(module, "weights") else module.variables


def _tracked(trainer):
    """Every variable a phase could touch: the model's and its phases' extra modules' weights."""
    seen, out = set(), []
    for v in list(trainer.model.weights) + [w for s in trainer.phase_states for u in s.phase.updates
                                            for m in u.modules.values() for w in _module_variables(m)]:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def test_every_task_ships_a_smoke_recipe_that_names_it():
    assert set(TASKS) >= {"byte_autoencoder", "translation", "temporal_order", "adding", "seq_mnist",
                          "char_lm", "digit_seq2seq"}
    for name in TASKS:
        assert load_recipe(zoo.task_entry(name).smoke_recipe).task.name == name


# The slowest tasks' sweeps are in the slow tier (each a minute or more on 2 cores: pretraining
# phases, an image pipeline, an encoder-decoder). Their parts stay in the default tier:
# every weight's gradient (tests/core/test_registry.py), one step of every update of the task
# (test_keras_conventions.py's mixed-precision sweep), two-replica training, evaluation and export
# (the session's smoke run of the family: test_cli.py's per-family eval test, test_export.py,
# tests/slicenet/test_slicenet_export.py) and the zoo-free fresh-process reload of the family's
# export (test_every_family_s_export_serves_in_a_process_without_the_zoo below).
# text_vae: its two-replica step and evaluation stay in tests/textvae/test_textvae.py; adding and
# digit_seq2seq: each pretraining phase moving only its layer stays in tests/recurrent/
# test_recurrent_training.py, and the recurrent family's sweep on temporal_order and seq_mnist.
# text_gan (its steps unroll LSTMs over every position, rollouts included): one step of every
# update of every method moving only its weights stays in tests/textgan/test_textgan.py, and
# two-replica training and evaluation in the session's smoke run.
SLOW_SWEEPS = {"byte_autoencoder", "translation", "text_vae", "adding", "digit_seq2seq", "cluttered_mnist",
               "text_gan"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_SWEEPS else n
                                  for n in TASKS])
def test_task_sweep(name, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    config = load_recipe(zoo.task_entry(name).smoke_recipe,
                         [f"runtime.run_dir={tmp_path / 'run'}", "runtime.strategy=mirrored"])
    trainer = Trainer(config, log=lambda *a, **k: None)
    assert trainer.strategy.num_replicas_in_sync == 2   # two logical CPUs (conftest)
    trainer.load_data()
    keras.utils.set_random_seed(0)
    trainer.build()
    model, task = trainer.model, trainer.task

    # -- one step of every update of every phase, on two replicas --------------------------------
    variables = _tracked(trainer)
    for state in trainer.phase_states:
        for i, update in enumerate(state.phase.updates):
            own = {id(v) for v in update.variables()}
            assert own, f"{state.phase.name}/{update.name} updates no variable"
            # The modules an update trains (or its `after` hook moves) are its own too.
            own |= {id(w) for m in update.modules.values() for w in _module_variables(m)}
            others = [v for v in variables if id(v) not in own]
            before = [np.array(v.numpy()) for v in others]
            start = {id(v): np.array(v.numpy()) for v in update.variables()}
            batches = trainer._batches("train", 0)
            # A batch may route no gradient to some variables (e.g. recursion groups at depth 0);
            # a few steps reach every one.
            for _ in range(4):
                sums = state.steps[i](next(batches), tf.constant(0, tf.int64))
                loss = float(sums[update.loss]) / float(sums[update.count])
                assert np.isfinite(loss), (state.phase.name, update.name, loss)
                for v, b in zip(others, before):
                    np.testing.assert_array_equal(v.numpy(), b,
                                                  err_msg=f"{getattr(v, 'path', v.name)} moved in {update.name}")
                if all(not np.array_equal(v.numpy(), start[id(v)]) for v in update.variables()):
                    break
            unchanged = [v.path for v in update.variables() if np.array_equal(v.numpy(), start[id(v)])]
            assert not unchanged, f"{state.phase.name}/{update.name} left {unchanged} unchanged"

    # -- the evaluation loop ---------------------------------------------------------------------
    metrics = evaluate(task, model)
    assert set(task.metrics) <= set(metrics) and task.objective in metrics
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    # The trainer evaluates on its two replicas: the same metrics (integer counts exactly, float
    # sums to their rounding), or one device where the task says its eval batches hand on a state.
    replicated = evaluate(task, model, strategy=trainer.strategy)
    assert replicated.keys() == metrics.keys()
    for k, v in metrics.items():
        assert replicated[k] == pytest.approx(v, rel=1e-5, abs=1e-7), k

    # -- export, then a reload in a fresh process --------------------------------------------------
    task.save_artifacts(tmp_path / "artifacts")
    out = export_model(model, config, tmp_path / "export", task=task, artifacts=tmp_path / "artifacts")
    client = open_export(out)
    manifest = client.manifest
    assert manifest["task"] == name and manifest["family"] == zoo.task_entry(name).family
    saved = tmp_path / "artifacts"
    assert manifest["artifacts"] == (sorted(p.name for p in saved.iterdir()) if saved.exists() else [])
    fam = zoo.family(manifest["family"])
    inputs, expected = {}, {}
    for spec in fam.exporter(model, task, None):   # the in-memory serving functions
        for sig, fn in spec.signatures.items():
            feed = client.example_inputs(spec.name, sig)
            got = fn(**{k: tf.constant(v) for k, v in feed.items()})
            key = f"{client.entry(spec.name)['path']}/{sig}"   # the SavedModel's (version) folder
            inputs[key] = {k: _jsonable(v) for k, v in feed.items()}
            expected[key] = {k: np.asarray(v.numpy()) for k, v in got.items()}
    entry = zoo.model_entry(config.model.name)
    example = entry.example_input(model, 2, np.random.default_rng(5))
    _served_in_a_fresh_process_as_here(out, model, example, inputs, expected, tmp_path)


@pytest.mark.parametrize("family", [f.name for f in zoo.families()])
def test_every_family_s_export_serves_in_a_process_without_the_zoo(family, smoke_run, tmp_path):
    """The session's smoke export of each family: every signature of every SavedModel serves in
    a fresh process that never imports the zoo what it serves here, and its model.keras (after
    `import zoo` there) gives the outputs it gives here."""
    export = smoke_run(family).export
    client = open_export(export)
    inputs, expected = {}, {}
    for name, entry in client.entries.items():
        for sig in entry["signatures"]:
            feed = client.example_inputs(name, sig)
            got = client.savedmodel(name).signatures[sig](**{k: tf.constant(v) for k, v in feed.items()})
            key = f"{entry['path']}/{sig}"
            inputs[key] = {k: _jsonable(v) for k, v in feed.items()}
            expected[key] = {k: np.asarray(v.numpy()) for k, v in got.items()}
    assert expected, "the export has no signature"
    model = keras.models.load_model(export / "model.keras")
    example = zoo.model_entry(client.manifest["model"]).example_input(model, 2, np.random.default_rng(5))
    _served_in_a_fresh_process_as_here(export, model, example, inputs, expected, tmp_path)


def _jsonable(a):
    return {"dtype": str(a.dtype), "values": [x.decode() if isinstance(x, bytes) else x for x in a.ravel().tolist()],
            "shape": list(a.shape)}


# SavedModels first, with nothing of the zoo imported; then `import zoo` and model.keras.
_RELOAD = textwrap.dedent("""
    import json, pathlib, pickle, sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (SentencePiece ops of translation exports; not the zoo)
    export, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    inputs = json.loads((work / "inputs.json").read_text())
    out, loaded = {}, {}
    for key, feed in inputs.items():
        path, sig = key.rsplit("/", 1)
        if path not in loaded:
            loaded[path] = tf.saved_model.load(str(export / path))
        args = {k: tf.constant(np.array(v["values"], dtype=object if v["dtype"] == "object" else v["dtype"]
                                        ).reshape(v["shape"])) for k, v in feed.items()}
        for k, v in loaded[path].signatures[sig](**args).items():
            out[f"{key}/{k}"] = np.asarray(v.numpy())
    assert not any(m == "zoo" or m.startswith("zoo.") for m in sys.modules), "SavedModels must not need the zoo"
    import keras
    import zoo  # noqa: F401  (registers the zoo's classes for model.keras)
    example = pickle.loads((work / "keras_in.pkl").read_bytes())
    out["keras"] = np.asarray(keras.models.load_model(export / "model.keras")(example, training=False))
    np.savez(work / "served.npz", **out)
""")


def _served_in_a_fresh_process_as_here(export, model, example, inputs, expected, tmp_path):
    """Every signature fed `inputs` in a fresh process that never imports the zoo gives the
    `expected` outputs, and the export's model.keras (after `import zoo` there) gives `model`'s."""
    (tmp_path / "keras_in.pkl").write_bytes(pickle.dumps(example))
    keras_expected = np.asarray(model(example, training=False))
    (tmp_path / "inputs.json").write_text(json.dumps(inputs))
    proc = subprocess.run([sys.executable, "-c", _RELOAD, str(export), str(tmp_path)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = np.load(tmp_path / "served.npz", allow_pickle=True)
    for key, outputs in expected.items():
        for k, want in outputs.items():
            got = served[f"{key}/{k}"]
            if want.dtype.kind in "fc":
                np.testing.assert_allclose(got, want, atol=1e-5, err_msg=f"{key}/{k}")
            else:
                np.testing.assert_array_equal(got, want, err_msg=f"{key}/{k}")
    np.testing.assert_allclose(served["keras"], keras_expected, atol=1e-5)
