"""SliceNet layers (Kaiser et al., "Depthwise Separable Convolutions for Neural Machine
Translation"): Table 1 weight counts, equivalence of each convolution type with
its definition, causality, timing signal, attention, ConvModule, model causality."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.models.slicenet import (AttentionModule, ConvModule, SliceConv1D, attend, table1_weights,
                                 timing_signal)
from zoo.models.slicenet.layers import step_groups
from zoo.models.slicenet.model import GO, PAD

RNG = np.random.default_rng(0)


def _conv(sep, c, k, g=1, d=1, padding="same", filters=None):
    layer = SliceConv1D(filters or c, k, d, padding, sep, g)
    layer.build((None, None, c))
    return layer


@pytest.mark.parametrize("k", [3, 7, 15])
@pytest.mark.parametrize("c,g", [(12, 2), (12, 3), (24, 4), (36, 6), (48, 16)])
@pytest.mark.parametrize("sep", ["none", "full", "sub", "super"])
def test_table1_weight_counts(sep, k, c, g):
    layer = _conv(sep, c, k, g)
    expected = {"none": k * c * c, "full": k * c + c * c, "sub": k * c * c // g + c * c,
                "super": k * c + c * c // g}[sep]
    assert layer.table1_weight_count() == expected == table1_weights(sep, k, c, g)
    assert layer.count_params() == expected + c  # the bias is counted separately


def _x(c, T=11, B=2):
    return tf.constant(RNG.normal(size=(B, T, c)), tf.float32)


@pytest.mark.parametrize("padding", ["same", "causal"])
@pytest.mark.parametrize("d", [1, 3])
def test_regular_and_separable_match_keras_definitions(padding, d):
    c, k, x = 8, 3, _x(8)
    reg = _conv("none", c, k, d=d, padding=padding)
    ref = keras.layers.Conv1D(c, k, dilation_rate=d, padding=padding)
    ref.build((None, None, c))
    ref.set_weights([reg.kernel.numpy(), reg.bias.numpy()])
    np.testing.assert_allclose(reg(x), ref(x), atol=1e-5)

    sep = _conv("full", c, k, d=d, padding=padding)
    sep.bias.assign(RNG.normal(size=c))
    # Keras' SeparableConv1D has no causal mode: left-pad by (k-1)*d and convolve "valid".
    ref = keras.layers.SeparableConv1D(c, k, dilation_rate=d, padding="same" if padding == "same" else "valid")
    ref.build((None, None, c))
    ref.set_weights([sep.depthwise.numpy()[:, :, None], sep.pointwise.numpy()[None], sep.bias.numpy()])
    xr = x if padding == "same" else tf.pad(x, [[0, 0], [(k - 1) * d, 0], [0, 0]])
    np.testing.assert_allclose(sep(x), ref(xr), atol=1e-5)


def _block_diag(blocks):
    g, i, o = blocks.shape[-3:]
    out = np.zeros(blocks.shape[:-3] + (g * i, g * o), np.float32)
    for j in range(g):
        out[..., j * i:(j + 1) * i, j * o:(j + 1) * o] = blocks[..., j, :, :]
    return out


def test_sub_separable_is_grouped_conv_then_mix():
    c, k, g, x = 12, 5, 3, _x(12)
    sub = _conv("sub", c, k, g, d=2)
    reg = _conv("none", c, k, d=2)
    reg.kernel.assign(_block_diag(np.transpose(sub.kernel.numpy(), (1, 0, 2, 3))))
    mixed = tf.einsum("btc,cd->btd", reg(x), sub.pointwise) + sub.bias
    np.testing.assert_allclose(sub(x), mixed, atol=1e-5)


def test_super_separable_is_groupwise_separable_concatenated():
    c, k, g, x = 12, 5, 3, _x(12)
    sup = _conv("super", c, k, g, padding="causal")
    parts = []
    for j, xj in enumerate(tf.split(x, g, axis=-1)):  # §2.2: SepConv per group, concatenated
        sep = _conv("full", c // g, k, padding="causal")
        sep.depthwise.assign(sup.depthwise.numpy()[:, j * 4:(j + 1) * 4])
        sep.pointwise.assign(sup.pointwise.numpy()[j])
        parts.append(sep(xj))
    np.testing.assert_allclose(sup(x), tf.concat(parts, -1), atol=1e-5)


@pytest.mark.parametrize("sep", ["none", "full", "sub", "super"])
def test_causal_padding_never_looks_ahead(sep):
    c, t = 12, 6
    layer = _conv(sep, c, 5, 2, d=2, padding="causal")
    same = _conv(sep, c, 5, 2, d=2, padding="same")
    x = _x(c, T=12).numpy()
    x2 = x.copy()
    x2[:, t] += 1.0
    for lay, leaks in ((layer, False), (same, True)):
        y, y2 = lay(x).numpy(), lay(x2).numpy()
        assert np.abs(y[:, t] - y2[:, t]).max() > 1e-4
        assert (np.abs(y[:, :t] - y2[:, :t]).max() > 1e-4) == leaks


def test_timing_signal_follows_the_formula():
    s = timing_signal(50, 16).numpy()
    for t, d in [(0, 0), (7, 1), (31, 5), (49, 7)]:
        assert s[t, 2 * d] == pytest.approx(math.sin(t / 10000 ** (2 * d / 16)), abs=1e-5)
        assert s[t, 2 * d + 1] == pytest.approx(math.cos(t / 10000 ** (2 * d / 16)), abs=1e-5)


def test_attend_is_scaled_softmax_and_ignores_padding():
    src, tgt = RNG.normal(size=(1, 5, 4)), RNG.normal(size=(1, 3, 4))
    w = np.exp(tgt[0] @ src[0].T / 2.0)
    w /= w.sum(-1, keepdims=True)
    np.testing.assert_allclose(attend(tf.constant(src, tf.float32), tf.constant(tgt, tf.float32))[0],
                               w @ src[0], atol=1e-5)
    mask = np.array([[1, 1, 1, 0, 0]])
    changed = src.copy()
    changed[:, 3:] = 100.0
    a = attend(tf.constant(src, tf.float32), tf.constant(tgt, tf.float32), mask)
    b = attend(tf.constant(changed, tf.float32), tf.constant(tgt, tf.float32), mask)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_conv_module_structure_dropout_and_super_groups():
    m = ConvModule(12, separability="super", dropout=0.5)
    x = _x(12, T=20)
    m.build(x.shape)
    assert [s.conv.groups for s in m.steps] == [2, 3, 2, 3]
    assert [s.conv.kernel_size for s in m.steps] == [3, 3, 15, 15]
    assert [s.conv.dilation_rate for s in m.steps] == [1, 1, 1, 8]
    np.testing.assert_allclose(m(x), m(x))  # inference: no dropout
    assert np.mean(m(x, training=True).numpy() == 0) > 0.3  # training: dropout 0.5
    assert step_groups("sub", 16, 3) == 16 and step_groups("full", 16, 0) == 1
    with pytest.raises(ValueError, match="one length"):
        ConvModule(12, kernel_sizes=[3, 3], dilations=[1])


def test_attention_module_kernels_and_shapes():
    a = AttentionModule(12, separability="full")
    src, tgt = _x(12, T=7), _x(12, T=4)
    a.build(tgt.shape)
    assert (a.step1.conv.kernel_size, a.step2.conv.kernel_size) == (5, 5)
    assert (a.step1.conv.dilation_rate, a.step2.conv.dilation_rate) == (1, 4)
    assert a(src, tgt).shape == (2, 4, 12)


@pytest.mark.parametrize("name", ["slicenet_full_k15", "slicenet_bytenet", "slicenet_super"])
def test_model_is_causal_in_the_targets(name):
    model = zoo.create_model(name, vocab_size=30, filters=24, encoder_modules=1, decoder_modules=2,
                             build=True, dropout=0.0)
    src = RNG.integers(4, 30, size=(2, 9)).astype("int32")
    tgt = RNG.integers(4, 30, size=(2, 12)).astype("int32")
    tgt[:, 0] = GO
    base = model({"source": src, "target_in": tgt}).numpy()
    for t in (3, 8):
        changed = tgt.copy()
        changed[:, t] = (changed[:, t] + 7) % 26 + 4
        out = model({"source": src, "target_in": changed}).numpy()
        np.testing.assert_allclose(out[:, :t], base[:, :t], atol=1e-5)
        assert np.abs(out[:, t:] - base[:, t:]).max() > 1e-4
    # Extra source padding changes nothing (masking), so batched decoding equals single decoding.
    padded = np.concatenate([src, np.full((2, 5), PAD, "int32")], 1)
    np.testing.assert_allclose(model({"source": padded, "target_in": tgt}), base, atol=1e-4)


def test_separable_models_have_fewer_non_embedding_parameters():
    common = dict(vocab_size=50, filters=48, encoder_modules=1, decoder_modules=1, build=True)
    counts = {n: zoo.create_model(n, **common).non_embedding_parameters()
              for n in ("slicenet_bytenet", "slicenet_full_dil", "slicenet_sub16", "slicenet_super")}
    assert counts["slicenet_full_dil"] < counts["slicenet_sub16"] < counts["slicenet_bytenet"]
    # Same kernels and dilations: only the convolutions differ, by Table 1's formulas per conv.
    full = zoo.create_model("slicenet_full_dil", **common)
    assert full.count_params() - full.non_embedding_parameters() == 50 * 48
