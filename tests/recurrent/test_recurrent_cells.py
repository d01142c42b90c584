"""Recurrent-dropout cells (Semeniuta, "Recurrent Neural Networks for Discriminative and Generative
Learning", ch. 3): the three schemes, mask sampling, inverted
scaling, identity at inference, serialization, RNN/Bidirectional use."""
import keras
import numpy as np
import pytest

from zoo.layers.dropout_rnn import SCHEMES, DropoutGRUCell, DropoutLSTMCell, DropoutRNN, make_cell

RATE = 0.5


def _saturated(cell_kind, units, scheme, sampling, in_dim=3, rnn_class=keras.layers.RNN):
    """A cell whose every step writes exactly its dropout mask into the state.

    LSTM: i = o = 1, f = 0, g = 1, zero weights -> c_t = d(g) (semeniuta) or d(c) (moon) = mask_t,
    h_t = tanh(mask_t). GRU: z = 0, n = 1 -> h_t = d(n) = mask_t. Saturated sigmoid/tanh are
    exactly 0/1 in float32, so the state is the mask itself.
    """
    cell = make_cell(cell_kind, units, recurrent_dropout=RATE, scheme=scheme, mask_sampling=sampling, seed=3)
    rnn = rnn_class(cell, return_sequences=True)
    rnn.build((None, None, in_dim))
    big = 30.0
    if cell_kind == "lstm":
        bias = np.concatenate([np.full(units, big), np.full(units, -big), np.full(units, big), np.full(units, big)])
    else:
        bias = np.concatenate([np.full(units, -big), np.zeros(units), np.full(units, big)])
    cell.kernel.assign(np.zeros(cell.kernel.shape, "float32"))
    cell.recurrent_kernel.assign(np.zeros(cell.recurrent_kernel.shape, "float32"))
    cell.bias.assign(bias.astype("float32"))
    return rnn


def _masks(cell_kind, scheme, sampling, batch=4, steps=6, units=64, rnn_class=keras.layers.RNN):
    rnn = _saturated(cell_kind, units, scheme, sampling, rnn_class=rnn_class)
    h = np.asarray(rnn(np.zeros((batch, steps, 3), "float32"), training=True))
    return np.arctanh(np.clip(h, 0, 0.999999)) if cell_kind == "lstm" else h


# keras.layers.RNN draws per-step masks inside the loop; DropoutRNN draws all T before it.
RNNS = [keras.layers.RNN, DropoutRNN]


@pytest.mark.parametrize("rnn_class", RNNS)
@pytest.mark.parametrize("cell_kind,scheme", [("lstm", "semeniuta"), ("lstm", "moon"), ("gru", "semeniuta"),
                                              ("gru", "moon")])
def test_per_sequence_mask_is_constant_over_time_per_step_mask_varies(cell_kind, scheme, rnn_class):
    seq = _masks(cell_kind, scheme, "per_sequence", rnn_class=rnn_class) > 0.5   # [B, T, units] kept
    assert np.all(seq == seq[:, :1]), "a per-sequence mask must be the same at every step"
    assert not np.all(seq == seq[:1]), "different sequences must get different masks"
    step = _masks(cell_kind, scheme, "per_step", rnn_class=rnn_class) > 0.5
    changed = [not np.array_equal(step[:, t], step[:, t + 1]) for t in range(step.shape[1] - 1)]
    assert all(changed), "a per-step mask must be redrawn at every step"


@pytest.mark.parametrize("rnn_class", RNNS)
@pytest.mark.parametrize("sampling", ["per_step", "per_sequence"])
def test_inverted_scaling_keeps_the_expectation(sampling, rnn_class):
    m = _masks("lstm", "semeniuta", sampling, batch=8, steps=8, units=256, rnn_class=rnn_class)
    kept = m[m > 0.5]
    np.testing.assert_allclose(kept, 1.0 / (1.0 - RATE), rtol=1e-3)   # kept units scaled by 1/p
    assert abs(kept.size / m.size - (1 - RATE)) < 0.03                  # keep probability p
    assert abs(m.mean() - 1.0) < 0.06                                   # E[d(x)] = x


def _copy_weights(src, dst):
    for a, b in zip(src.weights, dst.weights):
        b.assign(a)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("scheme", ["semeniuta", "gal", "moon"])
@pytest.mark.parametrize("sampling", ["per_step", "per_sequence"])
def test_inference_is_exactly_the_cell_without_dropout(kind, scheme, sampling):
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")
    drop = keras.layers.RNN(make_cell(kind, 6, recurrent_dropout=0.4, dropout=0.3, scheme=scheme,
                                      mask_sampling=sampling), return_sequences=True)
    plain = keras.layers.RNN(make_cell(kind, 6, scheme="none"), return_sequences=True)
    drop.build((None, None, 4))
    plain.build((None, None, 4))
    _copy_weights(drop, plain)
    ref = np.asarray(plain(x))
    np.testing.assert_array_equal(np.asarray(drop(x, training=False)), ref)
    assert not np.allclose(np.asarray(drop(x, training=True)), ref)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_dropout_rnn_computes_the_same_function_as_the_per_step_loop(kind):
    """DropoutRNN's precomputed x@W+b and masks: same outputs and gradients at inference, and in
    training (gal, per sequence, layer norm) the same function of the drawn masks (seeded alike)."""
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(4).normal(size=(3, 6, 4)).astype("float32"))
    args = dict(recurrent_dropout=0.4, scheme="gal", mask_sampling="per_sequence", layer_norm=True)
    fast = DropoutRNN(make_cell(kind, 5, seed=1, **args), return_sequences=True)
    loop = keras.layers.RNN(make_cell(kind, 5, seed=1, **args), return_sequences=True)
    fast.build((None, None, 4))
    loop.build((None, None, 4))
    _copy_weights(fast, loop)
    grads = []
    for layer in (fast, loop):
        with tf.GradientTape() as tape:
            y = layer(x)
            loss = tf.reduce_sum(tf.square(y))
        grads.append([np.asarray(g) for g in tape.gradient(loss, layer.trainable_variables)])
    np.testing.assert_allclose(np.asarray(fast(x)), np.asarray(loop(x)), atol=1e-5)
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, atol=1e-4)
    # Training: given the same per-sequence recurrent mask, the same outputs.
    m = (np.random.default_rng(5).random((3, 5)) > 0.4).astype("float32") / 0.6
    fast.cell.sequence_masks = lambda batch, steps, size, rate: tf.constant(m[:, None, :])
    loop.cell.get_recurrent_dropout_mask = lambda h: tf.constant(m)
    got = np.asarray(fast(x, training=True))
    np.testing.assert_allclose(got, np.asarray(loop(x, training=True)), atol=1e-5)
    assert not np.allclose(got, np.asarray(fast(x)), atol=1e-3)


def test_lstm_cell_matches_keras_lstm_cell_without_dropout():
    """Same equations and gate order as keras.layers.LSTMCell (so the benchmark compares like with like)."""
    x = np.random.default_rng(1).normal(size=(2, 6, 3)).astype("float32")
    ours = keras.layers.RNN(DropoutLSTMCell(5, scheme="none"))
    ref = keras.layers.RNN(keras.layers.LSTMCell(5))
    ours.build((None, None, 3))
    ref.build((None, None, 3))
    for a, b in zip(ours.weights, ref.weights):
        b.assign(a)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(ref(x)), atol=1e-6)


def test_layer_norm_changes_the_cell_and_has_gains():
    cell = DropoutLSTMCell(16, layer_norm=True, seed=0)
    rnn = keras.layers.RNN(cell)
    rnn.build((None, None, 8))
    assert len([w for w in cell.weights if "norm" in w.path]) == 6  # gamma/beta of norm_x, _h, _c
    # A normalised pre-activation is invariant to scaling the input; the plain cell is not.
    x = np.random.default_rng(2).normal(size=(2, 3, 8)).astype("float32")
    np.testing.assert_allclose(np.asarray(rnn(x)), np.asarray(rnn(10 * x)), atol=1e-4)
    plain = keras.layers.RNN(DropoutLSTMCell(16, seed=0))
    assert not np.allclose(np.asarray(plain(x)), np.asarray(plain(10 * x)), atol=1e-2)


def test_keras_round_trip_in_bidirectional(tmp_path):
    inp = keras.Input((None, 3))
    fwd = keras.layers.RNN(DropoutLSTMCell(4, recurrent_dropout=0.25, scheme="gal",
                                           mask_sampling="per_sequence", layer_norm=True))
    y = keras.layers.Bidirectional(fwd)(inp)
    y = keras.layers.RNN(DropoutGRUCell(3, recurrent_dropout=0.25, scheme="moon"))(
        keras.layers.Reshape((1, 8))(y))
    model = keras.Model(inp, y)
    x = np.random.default_rng(3).normal(size=(2, 5, 3)).astype("float32")
    ref = np.asarray(model(x))
    assert ref.shape == (2, 3)
    # Each direction owns its cell, hence its own masks.
    bi = model.layers[1]
    assert bi.forward_layer.cell is not bi.backward_layer.cell
    assert not np.allclose(np.asarray(model(x, training=True)), ref)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), ref, atol=1e-6)
    cell = loaded.layers[1].forward_layer.cell
    assert isinstance(cell, DropoutLSTMCell)
    assert (cell.scheme, cell.mask_sampling, cell.recurrent_dropout, cell.layer_norm) == (
        "gal", "per_sequence", 0.25, True)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="scheme must be one of"):
        DropoutLSTMCell(4, scheme="zaremba")
    with pytest.raises(ValueError, match="mask_sampling"):
        DropoutGRUCell(4, mask_sampling="per_batch")
    with pytest.raises(ValueError, match=r"recurrent_dropout must be a number in \[0, 1\)"):
        DropoutLSTMCell(4, recurrent_dropout=1.0)
    with pytest.raises(ValueError, match="needs a scheme"):
        DropoutLSTMCell(4, recurrent_dropout=0.3, scheme="none")
    with pytest.raises(ValueError, match="units must be a positive integer"):
        DropoutLSTMCell(0)
    with pytest.raises(ValueError, match="cell must be one of"):
        make_cell("elman", 4)
    assert SCHEMES == ("none", "semeniuta", "gal", "moon")


def test_init_scale_bounds_every_weight():
    cell = DropoutLSTMCell(16, init_scale=0.003)
    keras.layers.RNN(cell).build((None, None, 8))
    for w in (cell.kernel, cell.recurrent_kernel):
        v = np.asarray(w)
        assert np.abs(v).max() <= 0.003 and v.std() > 0.001
    assert np.all(np.asarray(cell.bias) == 0)


def test_the_vanilla_cell_is_tanh_of_the_two_projections_and_its_schemes_drop_where_they_say():
    from zoo.layers.dropout_rnn import DropoutSimpleRNNCell

    rng = np.random.default_rng(0)
    x, h = rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(3, 5)).astype("float32")
    cell = DropoutSimpleRNNCell(5, seed=1)
    cell.build((None, 4))
    want = np.tanh(x @ cell.kernel.numpy() + h @ cell.recurrent_kernel.numpy() + cell.bias.numpy())
    np.testing.assert_allclose(cell(x, [h])[0].numpy(), want, atol=1e-6)
    for scheme in ("semeniuta", "moon", "gal"):
        c = DropoutSimpleRNNCell(5, recurrent_dropout=0.5, scheme=scheme, mask_sampling="per_sequence", seed=1)
        c.build((None, 4))
        for w, v in zip(c.weights, cell.weights):
            w.assign(v)
        mask = np.where(np.arange(5) % 2 == 0, 2.0, 0.0).astype("float32")[None, :].repeat(3, 0)
        c._recurrent_dropout_mask = mask   # what keras.layers.RNN caches for a sequence
        got = c(x, [h], training=True)[0].numpy()
        if scheme == "gal":   # the previous state is dropped where it enters U
            ref = np.tanh(x @ c.kernel.numpy() + (h * mask) @ c.recurrent_kernel.numpy() + c.bias.numpy())
        else:                 # semeniuta and moon coincide: the new state is dropped
            ref = want * mask
        np.testing.assert_allclose(got, ref, atol=1e-6)
