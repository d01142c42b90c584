"""Sizes that cannot fit are refused, with their size, before anything is allocated
(zoo/training/memory.py); what runs out of memory anyway is one line."""
import re
import resource

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.training.memory import (MAX_LAYERS, OutOfMemory, machine_memory, optimizer_slots,
                                 out_of_memory_message, symbolic_weights)
from zoo.config import load_recipe
from tests.core.test_faults import run_cli, small_recipe


def _peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_a_model_too_big_for_this_machine_is_refused_with_its_size_and_nothing_allocated(capsys, tmp_path):
    recipe = small_recipe(tmp_path / "r.yaml", tmp_path / "run", max_steps=2)
    before = _peak_rss_bytes()
    code, _, err = run_cli(capsys, "train", recipe, "--set", "model.features=100000")
    assert code == 2 and err.count("\n") == 1
    m = re.fullmatch(r"zoo: error: model '(\w+)' \(model\.features=100000, model\.max_length=16\) cannot be trained here: its "
                     r"([\d,]+) parameters take ([\d.]+) (GB|TB|PB), .* with their gradients and adam's 2 "
                     r"values per weight \(largest weight ([\w/]+) \[\d+, \d+(, \d+)*\]\), before any "
                     r"activation; this machine has [\d.]+ \w+: make the model smaller\n", err)
    assert m, err
    # The count is the model's: at a size that fits, the shapes-only build equals the real one.
    small = symbolic_weights(m.group(1), {"features": 16, "max_length": 16})
    real = zoo.create_model(m.group(1), build=True, features=16, max_length=16)
    assert [s for _, s, _ in small] == [tuple(v.shape) for v in real.weights]
    parameters = int(m.group(2).replace(",", ""))
    assert parameters * 4 > machine_memory()
    assert _peak_rss_bytes() - before < 1 << 30   # no weight was ever allocated
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_million_layers_is_refused_before_they_are_made(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "lm/smoke", "--run-dir", tmp_path / "run",
                           "--set", "model.num_layers=1000000")
    assert code == 2
    assert err == (f"zoo: error: model 'lstm_lm' with these settings makes more than {MAX_LAYERS:,} layers "
                   "(the largest registered model has about 200); make it smaller\n")


@pytest.mark.parametrize("name, settings, message", [
    ("wavenet_lm", {"layers_per_stack": 40}, r"receptive field of 2\.2e\+12 tokens; at most 2\^31 - 1"),
    ("wavenet_lm", {"stacks": 10 ** 6}, r"make 7,000,000 residual blocks; at most 1,024"),
    ("tcn_lm", {"levels": 40}, r"receptive field of 4\.4e\+12 tokens"),
])
def test_convolutional_lms_refuse_structures_beyond_int32_shapes_or_a_thousand_blocks(name, settings, message):
    # layers_per_stack=40 used to pad by 2^25 positions (2^39 wrapped around in int32), silently.
    with pytest.raises(ValueError, match=message):
        zoo.create_model(name, **settings)
    ok = zoo.create_model(name, **{k: (2 if k != "levels" else 3) for k in settings})
    assert ok.receptive_field < 2 ** 31


def test_cluttered_mnist_refuses_canvases_it_cannot_hold(capsys, tmp_path):
    before = _peak_rss_bytes()
    code, _, err = run_cli(capsys, "train", "ram/smoke", "--run-dir", tmp_path / "run",
                           "--set", "model.image_size=100000")
    assert code == 2
    assert re.fullmatch(r"zoo: error: \d+ cluttered MNIST images of 100000 x 100000 pixels would take "
                        r"[\d.]+ [GT]B; this machine has [\d.]+ GB: lower model\.image_size, task\.train_examples "
                        r"or task\.test_examples\n", err), err
    assert _peak_rss_bytes() - before < 1 << 30


@pytest.mark.parametrize("optimizer, sets, slots", [
    ("adam", [], 2), ("sgd", ["trainer.momentum=0.0"], 0), ("sgd", ["trainer.momentum=0.9"], 1),
    ("rmsprop", [], 1),
])
def test_optimizer_slots_are_counted_on_the_recipes_own_optimizer(optimizer, sets, slots):
    cfg = load_recipe("lm/smoke", [f"trainer.optimizer={optimizer}", *sets])
    assert optimizer_slots(cfg.trainer) == slots


def test_an_allocation_that_fails_anyway_is_one_line_with_its_size():
    with pytest.raises(tf.errors.ResourceExhaustedError) as tf_oom:
        tf.zeros([2 ** 41])   # 8.8 TB of float32: refused by the allocator at once
    assert out_of_memory_message(tf_oom.value) == (
        "out of memory: a tensor of shape [2199023255552] (float, 8.8 TB) could not be allocated; a "
        "smaller batch (data.batch_size) or model needs less; the checkpoints saved so far are kept")
    with pytest.raises(MemoryError) as np_oom:
        np.empty(2 ** 60, np.uint8)
    assert out_of_memory_message(np_oom.value).startswith("out of memory: Unable to allocate 1.00 EiB")
    assert out_of_memory_message(ValueError("no")) is None
    assert issubclass(OutOfMemory, MemoryError)


@pytest.mark.parametrize("name", ["lstm_temporal_order", "stacked_lstm_adding", "byte_rcae_n2", "wavenet_lm",
                                  "hybrid_vae", "seqgan_reinforce"])
def test_the_shapes_only_build_leaves_no_trace_on_the_real_one(name):
    # It once drew from Python's random state (Keras seeds unseeded SeedGenerators from it), so a
    # run's initial weights and masks depended on whether the shapes were cached in the process.
    import keras
    from zoo.registry import model_entry
    from zoo.training.memory import _symbolic_weights

    smoke = model_entry(name).smoke
    keras.utils.set_random_seed(3)
    plain = zoo.create_model(name, build=True, **smoke)
    keras.utils.set_random_seed(3)
    _symbolic_weights(name, smoke)
    after = zoo.create_model(name, build=True, **smoke)
    assert [w.path.split("/", 1)[1] for w in after.weights] == [w.path.split("/", 1)[1] for w in plain.weights]
    for a, b in zip(plain.get_weights(), after.get_weights()):
        np.testing.assert_array_equal(a, b)
    import random
    keras.utils.set_random_seed(3)
    expected = random.random()
    keras.utils.set_random_seed(3)
    _symbolic_weights(name, smoke)
    assert random.random() == expected
