"""The byte-level recursive convolutional autoencoder as the paper describes it ("Byte-level
Recursive Convolutional Auto-Encoder for Text", §2)."""
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.models.byte_rcae.data import encode_batch
from zoo.models.byte_rcae import ByteRCAE, ResidualConvStack, recursion_depth


def parameterized_layers_on_path(model, length):
    """Count the convolutions and matmuls actually executed for one input of `length` bytes."""
    fn = tf.function(lambda x: model(x))
    graph = fn.get_concrete_function(tf.TensorSpec([1, length], tf.int32)).graph
    ops = [op.type for op in graph.get_operations()]
    return ops.count("Conv2D") + ops.count("MatMul")


@pytest.mark.parametrize("n, expected", [(2, 40), (4, 80), (8, 160), (16, 320)])
def test_parameterized_layer_count_at_1024_bytes(n, expected):
    # Width does not change the structure; a narrow model keeps the trace fast.
    model = zoo.create_model(f"byte_rcae_n{n}", features=8, build=True)
    assert model.num_parameterized_layers(1024) == expected
    assert parameterized_layers_on_path(model, 1024) == expected


def test_static_model_has_160_distinct_layers():
    import keras
    model = zoo.create_model("byte_rcae_static_n8", features=8, build=True)
    layers = [l for l in model._flatten_layers() if isinstance(l, (keras.layers.Conv1D, keras.layers.Dense))]
    assert len(layers) == 160
    with pytest.raises(ValueError, match="exactly 1024"):
        model.depth_for_length(512)


def expected_parameters(n, f, recursive=True, depth=8):
    conv = 3 * f * f + f
    dense = (4 * f) ** 2 + 4 * f
    groups = 1 if recursive else depth
    enc_prefix = (3 * 256 * f + f) + (n - 1) * conv
    enc_recursion = groups * n * conv
    dec_recursion = groups * ((3 * f * 2 * f + 2 * f) + (n - 1) * conv)
    dec_postfix = (n - 1) * conv + 3 * f * 256 + 256
    return enc_prefix + enc_recursion + 2 * n * dense + dec_recursion + dec_postfix


@pytest.mark.parametrize("name, n, recursive", [("byte_rcae_n2", 2, True), ("byte_rcae_n8", 8, True),
                                                ("byte_rcae_static_n8", 8, False)])
def test_parameter_count_formula(name, n, recursive):
    model = zoo.create_model(name, features=32, build=True)
    assert model.count_params() == expected_parameters(n, 32, recursive)
    assert zoo.create_model("byte_rcae_n8", build=True).count_params() == expected_parameters(8, 256) == 23_290_112


def test_code_is_1024_dimensional_at_every_depth():
    model = zoo.create_model("byte_rcae_n2", build=True)
    for length in (4, 8, 64, 256):
        ids = encode_batch([b"x" * (length // 2)], length=length)
        assert model.encode(ids).shape == (1, 1024)
        assert model(ids).shape == (1, length, 256)
        assert recursion_depth(length) == int(np.log2(length // 4))


def test_decoder_subpixel_interleave_matches_figure_3():
    """Positions 2t and 2t+1 of the expanded representation both come from input position t."""
    f, length = 4, 8
    stack = ResidualConvStack(2, features=f, expand=True)
    stack.build((None, length, f))
    eye = np.eye(f, dtype="float32")
    k0 = np.zeros((3, f, 2 * f), "float32")
    k0[1, :, :f], k0[1, :, f:] = eye, eye          # centre tap: [x, x] ...
    b0 = np.concatenate([np.zeros(f), np.ones(f)]).astype("float32")  # ... + [0, 1]
    k1 = np.zeros((3, f, f), "float32")
    k1[1] = eye                                      # identity second layer
    stack.convs[0].set_weights([k0, b0])
    stack.convs[1].set_weights([k1, np.zeros(f, "float32")])
    x = np.random.default_rng(0).uniform(0, 1, (1, length, f)).astype("float32")
    y = np.asarray(stack(x))
    assert y.shape == (1, 2 * length, f)
    # conv path [x_t | x_t + 1] reshaped, plus the repeated shortcut x_t.
    np.testing.assert_allclose(y[0, 0::2], 2 * x[0], atol=1e-6)
    np.testing.assert_allclose(y[0, 1::2], 2 * x[0] + 1, atol=1e-6)


def test_padding_is_the_all_zero_vector():
    """-1 one-hot encodes to zeros (the paper's padding); the EOS null byte is a real one-hot."""
    model = zoo.create_model("byte_rcae_n2", features=16, build=True)
    ids = encode_batch([b"abc"], length=8)
    assert list(ids[0]) == [97, 98, 99, 0, -1, -1, -1, -1]
    onehot = np.asarray(tf.one_hot(ids, 256))
    assert onehot[0, 4:].sum() == 0 and onehot[0, 3, 0] == 1
    eos_as_pad = ids.copy()
    eos_as_pad[0, 3] = -1  # the EOS is information; turning it into padding changes the code
    assert not np.allclose(model.encode(ids), model.encode(eos_as_pad))


@pytest.mark.parametrize("pooling", ["max", "average", "l2"])
def test_pooling_variants(pooling):
    from zoo.models.byte_rcae.layers import TemporalPool
    x = np.array([[[3.0], [4.0], [0.0], [-2.0]]], "float32")
    y = np.asarray(TemporalPool(pooling)(x))[0, :, 0]
    expected = {"max": [4.0, 0.0], "average": [3.5, -1.0], "l2": [5.0, 2.0]}[pooling]
    np.testing.assert_allclose(y, expected, atol=1e-3)


def test_dynamic_length_graph_matches_static_unrolling():
    """A SavedModel-style signature with an unknown length runs the same recursion as eager."""
    model = zoo.create_model("byte_rcae_n2", features=16, max_length=64, build=True)
    fn = tf.function(lambda x: model(x), input_signature=[tf.TensorSpec([None, None], tf.int32)])
    for length in (4, 16, 64):
        ids = encode_batch([b"q" * (length // 2)], length=length)
        np.testing.assert_allclose(fn(ids), model(ids), atol=1e-5)


def test_odd_n_and_bad_length_are_rejected():
    with pytest.raises(ValueError, match="even"):
        ByteRCAE(n=3)
    model = zoo.create_model("byte_rcae_n2", features=8, max_length=64, build=True)
    with pytest.raises(ValueError, match="exceeds"):
        model.depth_for_length(128)
    with pytest.raises(ValueError, match="power of two"):
        model.depth_for_length(24)


# -- initialisation ("zero_residual": He layers, residual branches starting at zero) ----------
def _scale_profile(model, length=1024, seed=0):
    """Standard deviation after every group application (and of the logits) on random bytes,
    and of the first layer's output."""
    ids = np.random.default_rng(seed).integers(1, 256, size=(1, length)).astype("int32")
    first = float(tf.math.reduce_std(model.enc_prefix.convs[0](tf.one_hot(ids, 256))))
    return first, [(name, float(tf.math.reduce_std(x))) for name, x in model.group_outputs(ids)]


@pytest.mark.parametrize("features", [256, 64])
def test_zero_residual_scale_is_bounded_and_depth_independent_at_init(features):
    """n = 2 ... 16 at 1,024 bytes: every group stays within 0.3-3x of the first layer's scale and
    the logits within 5x (LeCun logits of a non-negative input scale with its root mean square, not
    its deviation), and the profile does not depend on n. With 256 features the bound is 10x: the
    one-hot input passes its identity pair unchanged, and max-pooling it 8 times densifies the
    sparse indicator (std 0.06 -> 0.5, never above 1)."""
    import keras
    profiles = {}
    for n in (2, 4, 8, 16):
        keras.utils.set_random_seed(0)
        model = zoo.create_model(f"byte_rcae_n{n}", features=features, init="zero_residual", build=True)
        first, profile = _scale_profile(model)
        assert len(profile) == 2 * (2 + 8) and profile[-1][0] == "dec_postfix"
        ratios = np.array([s for _, s in profile]) / first
        groups, logits = ratios[:-1], ratios[-1]
        assert 0.3 <= ratios.min() and groups.max() <= (10 if features == 256 else 3), (n, ratios)
        assert logits <= (10 if features == 256 else 5), (n, ratios)
        profiles[n] = ratios
    for n in (4, 8, 16):  # the same profile at every depth, up to the draw of the weights
        np.testing.assert_allclose(profiles[n], profiles[2], rtol=0.5)


def test_depth_scaled_scale_grows_only_with_the_recursion_never_with_n():
    """The default init at 1,024 bytes, n = 2 ... 16: each group application multiplies the scale
    by at most 1.5 (max-pooling decorrelated features, the same at every n), never by the pairs
    inside a group, so the logits stay below 100x the first layer's for every n (Glorot: up to
    1e12x), and n = 16's profile is within 2x of n = 2's."""
    import keras
    profiles = {}
    for n in (2, 4, 8, 16):
        keras.utils.set_random_seed(0)
        model = zoo.create_model(f"byte_rcae_n{n}", features=64, build=True)
        assert model.init == "depth_scaled"
        first, profile = _scale_profile(model)
        stds = np.array([first] + [s for _, s in profile])
        growth = stds[1:] / stds[:-1]
        assert growth.max() <= 1.5 and 0.3 <= growth.min(), (n, growth)
        assert stds[-1] / first <= 100, (n, stds / first)
        profiles[n] = stds / first
    for n in (4, 8, 16):
        assert np.all(np.abs(np.log(profiles[n] / profiles[2])) <= np.log(2.0)), (n, profiles[n], profiles[2])


def test_glorot_init_explodes_with_depth():
    """Why the zoo chose: under Keras's default the logits grow geometrically with n."""
    import keras
    stds = []
    for n in (2, 8):
        keras.utils.set_random_seed(0)
        model = zoo.create_model(f"byte_rcae_n{n}", features=64, init="glorot", build=True)
        stds.append(_scale_profile(model)[1][-1][1])
    assert stds[1] > 1e3 * stds[0]


def test_residual_pairs_start_as_the_identity():
    """Every pair with a shortcut has a zero second layer: the stack returns its (ReLU) input."""
    from zoo.models.byte_rcae import ResidualDenseStack
    x = np.random.default_rng(0).uniform(0, 2, (2, 16, 8)).astype("float32")
    for stack in (ResidualConvStack(4, features=8), ResidualConvStack(4, features=8, expand=True)):
        stack.build(x.shape)
        assert all(not np.any(c.kernel.numpy()) for c in stack.convs[1::2])
        assert np.abs(stack.convs[0].kernel.numpy()).max() > 0
        expected = np.repeat(x, 2, axis=1) if stack.expand else x
        np.testing.assert_array_equal(np.asarray(stack(x)), expected)
    dense = ResidualDenseStack(4, units=8)
    np.testing.assert_array_equal(np.asarray(dense(x[:, 0])), x[:, 0])
    # No shortcut (one-hot 256 -> 16 features; 16 features -> 256 logits): nothing starts at zero.
    narrow = zoo.create_model("byte_rcae_n2", features=16, max_length=64, build=True)
    assert all(np.abs(c.kernel.numpy()).max() > 0 for c in (narrow.enc_prefix.convs + narrow.dec_postfix.convs))
    with pytest.raises(ValueError, match="init must be one of"):
        ByteRCAE(n=2, init="orthogonal")


# Slow tier; default tier: the initialisation bounds at depth
# (test_depth_scaled_scale_grows_only_with_the_recursion_never_with_n) and SGD steps with shared
# gradients divided (tests/core/test_trainer.py).
@pytest.mark.slow
def test_paper_scale_n8_trains_with_sgd(tmp_path):
    """byte_rcae_n8 at 256 features under the paper's SGD settings (momentum 0.9, lr 0.001, weight
    decay 1e-5, batch 1, shared gradients divided) on the default corpus: a short run lowers the
    held-out loss and never produces a NaN (training stops on one: TrainingDiverged)."""
    from zoo.config import load_recipe
    from zoo.training.trainer import Trainer

    cfg = load_recipe("byte_rcae/table6_n8").with_overrides([
        f"runtime.run_dir={tmp_path / 'run'}", "runtime.progress=false", "runtime.strategy=one_device",
        "model.max_length=256",
        "task.max_length=256", "trainer.max_steps=150", "trainer.steps_per_epoch=null",
        "data.max_test_paragraphs=40", "trainer.eval_every_steps=100000", "trainer.log_every_steps=50",
        "trainer.checkpoint_every_steps=100000", "trainer.text_samples=0"])
    trainer = Trainer(cfg, log=lambda *a, **k: None)
    trainer.load_data()
    trainer.build()
    before = trainer.evaluate()["loss"]
    metrics = trainer.fit()
    print(f"held-out loss {before:.3f} -> {metrics['loss']:.3f}, byte error {metrics['byte_error']:.3f}")
    assert np.isfinite(metrics["loss"]) and metrics["loss"] < before - 0.5, (before, metrics["loss"])
