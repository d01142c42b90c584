"""DropoutRNN's fused LSTM route (TensorFlow's BlockLSTMV2 kernel, zoo/layers/dropout_rnn.py): the
same function and gradients as the per-step loop, and taken exactly where it is valid."""
import copy

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers.dropout_rnn import DropoutLSTMCell, DropoutRNN, make_cell

B, T, IN, U = 3, 7, 4, 5


def _pair(**cell_args):
    """(fused, loop): two DropoutRNNs over equally seeded LSTM cells with the same weights."""
    layers = []
    for fused in (True, False):
        rnn = DropoutRNN(DropoutLSTMCell(U, seed=1, **cell_args), fused=fused, return_sequences=True,
                         return_state=True)
        rnn.build((None, None, IN))
        layers.append(rnn)
    rng = np.random.default_rng(0)
    for w in layers[0].weights:   # non-zero biases everywhere, so every gate's bias gradient matters
        w.assign(rng.normal(scale=0.5, size=w.shape).astype("float32"))
    for a, b in zip(layers[0].weights, layers[1].weights):
        b.assign(a)
    return layers


def _run(rnn, x, h0, c0, training=False):
    """Outputs, final states and gradients w.r.t. x, h0, c0 and the cell's weights."""
    with tf.GradientTape() as tape:
        tape.watch([x, h0, c0])
        y, h, c = rnn(x, initial_state=[h0, c0], training=training)
        # Every output reaches the loss with its own weights: the sequence, h_T and c_T.
        loss = tf.reduce_sum(tf.sin(y)) + tf.reduce_sum(h * h) + tf.reduce_sum(tf.cos(c))
    w = [rnn.cell.kernel, rnn.cell.recurrent_kernel, rnn.cell.bias]
    return [y, h, c, *tape.gradient(loss, [x, h0, c0] + w)]


def _inputs():
    rng = np.random.default_rng(1)
    return [tf.constant(rng.normal(size=s).astype("float32")) for s in ((B, T, IN), (B, U), (B, U))]


NAMES = ["outputs", "h_T", "c_T", "d/dx", "d/dh0", "d/dc0", "d/dkernel", "d/drecurrent_kernel", "d/dbias"]


@pytest.mark.parametrize("mode", ["eager", "tf.function"])
def test_fused_route_equals_the_loop_in_forward_and_gradient(mode):
    fused, loop = _pair(recurrent_dropout=0.3, scheme="gal")   # inference: no recurrent dropout
    x, h0, c0 = _inputs()
    run = _run if mode == "eager" else tf.function(_run, autograph=False)
    got, want = ([np.asarray(v) for v in run(rnn, x, h0, c0)] for rnn in (fused, loop))
    for name, a, b in zip(NAMES, got, want):
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=name)
    assert np.abs(got[6]).max() > 0.1   # the gradients are not trivially zero


def test_fused_route_with_input_dropout_in_training_equals_the_loop():
    """Input dropout's masks are drawn before either route: same seed, same masks, same result."""
    fused, loop = _pair(dropout=0.5, mask_sampling="per_step")
    x, h0, c0 = _inputs()
    got, want = ([np.asarray(v) for v in _run(rnn, x, h0, c0, training=True)] for rnn in (fused, loop))
    for name, a, b in zip(NAMES, got, want):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=name)
    assert not np.allclose(got[0], np.asarray(_run(fused, x, h0, c0)[0]), atol=1e-3)   # dropout did apply


def test_return_sequences_and_state_variants_and_default_state():
    fused, loop = _pair()
    x = _inputs()[0]
    for seqs in (True, False):
        for state in (True, False):
            for rnn in (fused, loop):
                rnn.return_sequences, rnn.return_state = seqs, state
            a, b = fused(x), loop(x)   # zero initial state
            a, b = (a, b) if state else ([a], [b])
            assert len(a) == len(b) == (3 if state else 1)
            for u, v in zip(a, b):
                np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=0, atol=1e-5)


def _graph_ops(rnn, x, training=False, mask=None, jit_compile=False, gradient=False):
    """Op types of the traced graph of one call of `rnn` (and of its gradient if `gradient`)."""
    def f(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = rnn(x, training=training, mask=mask)
            loss = tf.reduce_sum(y)
        return tape.gradient(loss, x) if gradient else y

    graph = tf.function(f, jit_compile=jit_compile).get_concrete_function(x).graph
    types = {op.type for op in graph.get_operations()}
    for fn in graph._functions.values():   # bodies of while loops and nested functions
        types |= {node.op for node in fn.cached_definition.node_def}
    return types


def _layer(fused=True, cell="lstm", **kwargs):
    rnn_args = {k: kwargs.pop(k) for k in ("go_backwards", "unroll") if k in kwargs}
    rnn = DropoutRNN(make_cell(cell, U, seed=2, **kwargs), fused=fused, return_sequences=True, **rnn_args)
    rnn.build((None, None, IN))
    return rnn


def test_fused_route_is_taken_where_valid_and_not_through_the_registered_gradient():
    x = _inputs()[0]
    for layer, training in [(_layer(), False), (_layer(), True), (_layer(dropout=0.3), True),
                            (_layer(recurrent_dropout=0.3, scheme="semeniuta"), False)]:
        forward = _graph_ops(layer, x, training=training)
        assert "BlockLSTMV2" in forward and not {"While", "StatelessWhile"} & forward
        # TensorFlow's registered gradient of BlockLSTMV2 is the V1 op (wrong gate layout): ours.
        assert "BlockLSTMGrad" not in _graph_ops(layer, x, training=training, gradient=True)


@pytest.mark.parametrize("case", ["recurrent_dropout_training", "layer_norm", "mask", "fused_off", "gru",
                                  "go_backwards", "xla"])
def test_fused_route_falls_back_to_the_loop_where_it_is_not_valid(case):
    x = _inputs()[0]
    kwargs, call = {}, {}
    layer = {"recurrent_dropout_training": lambda: _layer(recurrent_dropout=0.3, scheme="semeniuta"),
             "layer_norm": lambda: _layer(layer_norm=True), "fused_off": lambda: _layer(fused=False),
             "gru": lambda: _layer(cell="gru"), "go_backwards": lambda: _layer(go_backwards=True)}.get(case, _layer)()
    if case == "recurrent_dropout_training":
        call["training"] = True
    if case == "mask":
        call["mask"] = tf.constant(np.arange(T)[None, :] < np.array([[T], [T - 2], [3]]))
    if case == "xla":   # XLA has no BlockLSTMV2 kernel: the loop, and the step still compiles
        call["jit_compile"] = True
        np.testing.assert_allclose(np.asarray(tf.function(layer, jit_compile=True)(x)), np.asarray(layer(x)),
                                   rtol=0, atol=1e-5)
    ops = _graph_ops(layer, x, **call, **kwargs)
    assert "BlockLSTMV2" not in ops
    assert "While" in ops or "StatelessWhile" in ops


def test_fused_flag_round_trips_and_old_configs_default_to_fused():
    rnn = _layer(fused=False)
    config = keras.layers.serialize(rnn)
    assert keras.layers.deserialize(copy.deepcopy(config)).fused is False   # from_config pops keys
    del config["config"]["fused"]   # a model.keras written before the flag existed
    assert keras.layers.deserialize(config).fused is True
