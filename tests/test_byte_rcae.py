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
