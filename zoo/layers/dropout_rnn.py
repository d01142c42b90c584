"""LSTM, GRU and vanilla RNN cells with the three recurrent-dropout schemes of S. Semeniuta, "Recurrent Neural
Networks for Discriminative and Generative Learning" (dissertation, 2019), ch. 3.

Schemes (§3.3.3, Figure 3.1), `d` being inverted dropout (kept units scaled by 1/(1-rate), so
inference is the plain cell, eq. 3.3.15):

* ``"semeniuta"`` — drop the cell update: c_t = f*c_{t-1} + i*d(g_t)            (eq. 3.3.10)
* ``"gal"``       — drop the previous hidden state inside every gate: W[x_t, d(h_{t-1})] (3.3.8)
* ``"moon"``      — drop the cell state itself: c_t = d(f*c_{t-1} + i*g_t)        (eq. 3.3.9)
* ``"none"``      — no recurrent dropout.

For the GRU (§3.3.3, last paragraph) the candidate n_t plays the role of g_t ("semeniuta"), the
previous state h_{t-1} is dropped where it enters the gates ("gal"), and the new state h_t is
dropped ("moon"; the GRU's memory is h itself).

For the vanilla (Elman) RNN, h_t = tanh(W x_t + U h_{t-1} + b) is both the update and the memory,
so "semeniuta" and "moon" coincide (the new state is dropped), and "gal" drops h_{t-1} where it
enters U.

Mask sampling: ``"per_step"`` draws a fresh mask at every time step; ``"per_sequence"`` draws one
mask per sequence (per batch row) before the loop and reuses it at every step. The per-sequence
mask rides on Keras's `DropoutRNNCell` protocol: `keras.layers.RNN` asks the cell for its masks
once before its loop and clears them afterwards, so the cells work in `RNN`, `Bidirectional`
(each direction gets its own cell, hence its own masks) and our `StackedRNN`.

Speed: a per-step mask drawn inside the recurrent loop costs a random op (and a seed-state
update) per step, which XLA handles badly. `DropoutRNN`, a drop-in `keras.layers.RNN`, instead
draws all T masks in one call before the loop and projects the whole (masked) input sequence
with one matmul, `x @ W + b`; the loop then only does the recurrent matmul. The cells alone
still work in a plain `keras.layers.RNN` (masks drawn per step inside the loop).

Fused LSTM: where nothing needs the per-step loop body (an LSTM cell without layer norm, no
recurrent dropout in this call, no mask, forward, not stateful or unrolled, float32, TensorFlow on
a machine without a GPU, outside XLA), `DropoutRNN` runs the forward recurrence as TensorFlow's
fused `BlockLSTMV2` kernel and the backward as a lean loop over its saved gates (see
`_fused_lstm`): the same function and gradients as the loop (float32 rounding apart), about 1.6x
faster for a 256-unit LM (benchmarks/bench_lstm_fused.py). Input dropout still applies, its
masks drawn up front as for the loop; recurrent dropout in training (any scheme, per step or per
sequence) keeps the loop, since its masks act inside the step.

Forward dropout on the cell input (`dropout`) uses the same sampling; output dropout is the
model's (`StackedRNN.output_dropout`). Optional layer normalisation (Ba et al., 2016) normalises
the input and recurrent pre-activations of each gate block separately and, for the LSTM, the cell
state before its output nonlinearity.
"""
from __future__ import annotations

import keras
from keras import ops
from keras.src.backend import AutocastScope
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from zoo.layers.checks import check_positive_int, check_rate
from zoo.layers.initializers import uniform, weight_seed
from zoo.registry import serializable

SCHEMES = ("none", "semeniuta", "gal", "moon")
SAMPLINGS = ("per_step", "per_sequence")


class _GroupNorm(keras.layers.Layer):
    """Layer norm of each of `groups` blocks of the last axis, with a gain/bias per unit."""

    def __init__(self, groups, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.groups = groups
        self.epsilon = epsilon

    def build(self, input_shape):
        n = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(n,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(n,), initializer="zeros")

    def call(self, x):
        n = x.shape[-1]
        y = ops.reshape(x, (-1, self.groups, n // self.groups))
        mean = ops.mean(y, axis=-1, keepdims=True)
        var = ops.mean(ops.square(y - mean), axis=-1, keepdims=True)
        y = ops.reshape((y - mean) * ops.rsqrt(var + self.epsilon), (-1, n))
        return y * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "epsilon": self.epsilon}


class _DropoutCellBase(keras.layers.Layer, DropoutRNNCell):
    """Shared arguments, validation and mask handling of the two cells.

    Args:
        units: hidden size.
        recurrent_dropout: rate of the recurrent dropout (0 disables it).
        scheme: where the recurrent mask applies: "semeniuta" | "gal" | "moon" | "none".
        mask_sampling: "per_step" (fresh mask each step) or "per_sequence" (one per sequence).
        dropout: forward dropout rate on the cell input x_t.
        layer_norm: normalise gate pre-activations (and the LSTM cell state).
        init_scale: if set, every weight matrix starts U[-init_scale, init_scale] (the greedy
            pretraining paper's random baseline uses 0.003, Xu et al. §4.2), each its own draw;
            else Glorot/orthogonal (as Keras's LSTM starts).
        seed: seed of the dropout masks and (each weight its own, derived) of the initialisers.
    """

    n_blocks = 4

    def __init__(self, units, recurrent_dropout=0.0, scheme="semeniuta", mask_sampling="per_step",
                 dropout=0.0, layer_norm=False, init_scale=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("units", units)
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        if mask_sampling not in SAMPLINGS:
            raise ValueError(f"mask_sampling must be one of {SAMPLINGS}, got {mask_sampling!r}")
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        if scheme == "none" and self.recurrent_dropout > 0:
            raise ValueError("recurrent_dropout > 0 needs a scheme: 'semeniuta', 'gal' or 'moon'")
        if init_scale is not None and not (isinstance(init_scale, (int, float)) and init_scale > 0):
            raise ValueError(f"init_scale must be a positive number or None, got {init_scale!r}")
        self.units = units
        self.scheme = scheme
        self.mask_sampling = mask_sampling
        self.dropout = check_rate("dropout", dropout)
        self.layer_norm = bool(layer_norm)
        self.init_scale = init_scale
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.output_size = units
        # Set by DropoutRNN while its loop runs: inputs are then [x@W + b, recurrent mask?].
        self._prepared = False
        self._prepared_rmask = False

    # -- weights -----------------------------------------------------------------------------
    def _initializers(self):
        # One object and one seed per weight: a shared initializer gives both weights the same
        # values (zoo/layers/initializers.py), e.g. kernel == recurrent_kernel[:input_dim].
        if self.init_scale is not None:
            return (uniform(self.init_scale, self.seed, "kernel"),
                    uniform(self.init_scale, self.seed, "recurrent_kernel"))
        return (keras.initializers.GlorotUniform(seed=weight_seed(self.seed, "kernel")),
                keras.initializers.Orthogonal(seed=weight_seed(self.seed, "recurrent_kernel")))

    def build(self, input_shape):
        k_init, r_init = self._initializers()
        n = self.n_blocks * self.units
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], n), initializer=k_init)
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(self.units, n),
                                                initializer=r_init)
        self.bias = self.add_weight(name="bias", shape=(n,), initializer=self._bias_init())
        if self.layer_norm:
            # The norms share the cell's dtype policy (mixed precision reaches them too).
            self.norm_x = _GroupNorm(self.n_blocks, name="norm_x", dtype=self.dtype_policy)
            self.norm_h = _GroupNorm(self.n_blocks, name="norm_h", dtype=self.dtype_policy)
            self.norm_x.build((None, n))
            self.norm_h.build((None, n))
        self.built = True

    def _bias_init(self):
        return "zeros"

    # -- masks -------------------------------------------------------------------------------
    # Keras's RNN calls these once before its loop: a per-sequence mask is drawn there and
    # cached until the RNN resets it; per-step sampling caches nothing and draws inside `call`.
    def get_dropout_mask(self, step_input):
        if self._prepared or self.mask_sampling != "per_sequence":
            return None
        return super().get_dropout_mask(step_input)

    def get_recurrent_dropout_mask(self, step_input):
        if self._prepared or self.mask_sampling != "per_sequence" or self.scheme == "none":
            return None
        return super().get_recurrent_dropout_mask(step_input)

    def sequence_masks(self, batch, steps, size, rate):
        """All masks of a sequence in one draw: [B, T, size] (per step) or [B, 1, size]."""
        t = steps if self.mask_sampling == "per_step" else 1
        return keras.random.dropout(ops.ones((batch, t, size), self.compute_dtype), rate=rate,
                                    seed=self.seed_generator)

    def _mask(self, like, rate, cached):
        """The inverted-dropout mask for this step: the cached per-sequence one, or a fresh one."""
        if cached is not None:
            return cached
        return keras.random.dropout(ops.ones_like(like), rate=rate, seed=self.seed_generator)

    def _input_and_masks(self, x, h, training):
        rmask = None
        if training and self.dropout > 0:
            x = x * self._mask(x, self.dropout, self.get_dropout_mask(x))
        if training and self.recurrent_dropout > 0:
            rmask = self._mask(h, self.recurrent_dropout, self.get_recurrent_dropout_mask(h))
        return x, rmask

    def input_projection(self, x):
        """x @ W (+ layer norm) + b for any leading shape: the part of a step that needs no h."""
        zx = ops.matmul(x, self.kernel)
        if self.layer_norm:
            n = self.n_blocks * self.units
            zx = ops.reshape(self.norm_x(ops.reshape(zx, (-1, n))), ops.shape(zx))
        return zx + self.bias

    def _step_inputs(self, inputs, h, training):
        """(x_t @ W + b, recurrent mask or None) of this step, precomputed by DropoutRNN or not."""
        if self._prepared:
            n = self.n_blocks * self.units
            return inputs[:, :n], (inputs[:, n:] if self._prepared_rmask else None)
        x, rmask = self._input_and_masks(inputs, h, training)
        return self.input_projection(x), rmask

    def _single_state_inputs(self, inputs, states, training):
        """(h, x W + b, recurrent mask or None, h as it enters U) of a cell whose whole state is
        h (GRU, vanilla RNN); "gal" drops h where it enters U."""
        h = states[0] if isinstance(states, (list, tuple)) else states
        zx, rmask = self._step_inputs(inputs, h, training)
        h_in = h * rmask if rmask is not None and self.scheme == "gal" else h
        return h, zx, rmask, h_in

    def _single_initial_state(self, batch_size):
        return [ops.zeros((batch_size, self.units), self.compute_dtype)]

    def _recurrent_projection(self, h_in):
        zh = ops.matmul(h_in, self.recurrent_kernel)
        return self.norm_h(zh) if self.layer_norm else zh

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "recurrent_dropout": self.recurrent_dropout, "scheme": self.scheme,
                "mask_sampling": self.mask_sampling, "dropout": self.dropout,
                "layer_norm": self.layer_norm, "init_scale": self.init_scale, "seed": self.seed}


@serializable
class DropoutLSTMCell(_DropoutCellBase):
    """LSTM cell (eqs. 3.3.5-3.3.7) with recurrent dropout by `scheme`; see the module docstring.

    Gate order in the kernels: i, f, g, o (Keras's order, so weights can be copied from
    `keras.layers.LSTMCell`). The forget-gate bias starts at 1 unless `init_scale` is set.
    """

    n_blocks = 4

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.state_size = [units, units]

    def _bias_init(self):
        if self.init_scale is not None:
            return "zeros"
        u = self.units

        def unit_forget_bias(shape, dtype=None):  # Jozefowicz et al. 2015: forget bias 1
            return ops.concatenate([ops.zeros((u,), dtype), ops.ones((u,), dtype),
                                    ops.zeros((2 * u,), dtype)])
        return unit_forget_bias

    def build(self, input_shape):
        super().build(input_shape)
        if self.layer_norm:
            self.norm_c = keras.layers.LayerNormalization(epsilon=1e-5, name="norm_c",
                                                          dtype=self.dtype_policy)
            self.norm_c.build((None, self.units))

    def call(self, inputs, states, training=False):
        h, c = states[0], states[1]
        zx, rmask = self._step_inputs(inputs, h, training)
        h_in = h * rmask if rmask is not None and self.scheme == "gal" else h
        z = zx + self._recurrent_projection(h_in)
        zi, zf, zg, zo = ops.split(z, 4, axis=-1)
        i, f, o = ops.sigmoid(zi), ops.sigmoid(zf), ops.sigmoid(zo)
        g = ops.tanh(zg)
        if rmask is not None and self.scheme == "semeniuta":
            g = g * rmask
        c_new = f * c + i * g
        if rmask is not None and self.scheme == "moon":
            c_new = c_new * rmask
        h_new = o * ops.tanh(self.norm_c(c_new) if self.layer_norm else c_new)
        return h_new, [h_new, c_new]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), self.compute_dtype) for _ in range(2)]


@serializable
class DropoutGRUCell(_DropoutCellBase):
    """GRU cell (Cho et al. 2014; reset gate applied after the recurrent matmul, as Keras's
    default `reset_after=True`) with recurrent dropout by `scheme`; gate order z, r, n."""

    n_blocks = 3

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.state_size = units

    def call(self, inputs, states, training=False):
        h, zx, rmask, h_in = self._single_state_inputs(inputs, states, training)
        zh = self._recurrent_projection(h_in)
        xz, xr, xn = ops.split(zx, 3, axis=-1)
        hz, hr, hn = ops.split(zh, 3, axis=-1)
        zg = ops.sigmoid(xz + hz)
        r = ops.sigmoid(xr + hr)
        n = ops.tanh(xn + r * hn)
        if rmask is not None and self.scheme == "semeniuta":
            n = n * rmask
        h_new = zg * h + (1.0 - zg) * n
        if rmask is not None and self.scheme == "moon":
            h_new = h_new * rmask
        return h_new, [h_new]

    def get_initial_state(self, batch_size=None):
        return self._single_initial_state(batch_size)


@serializable
class DropoutSimpleRNNCell(_DropoutCellBase):
    """Vanilla RNN cell h_t = tanh(W x_t + U h_{t-1} + b) with recurrent dropout by `scheme`
    (see the module docstring: "semeniuta" and "moon" both drop the new state)."""

    n_blocks = 1

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.state_size = units

    def call(self, inputs, states, training=False):
        _, zx, rmask, h_in = self._single_state_inputs(inputs, states, training)
        h_new = ops.tanh(zx + self._recurrent_projection(h_in))
        if rmask is not None and self.scheme in ("semeniuta", "moon"):
            h_new = h_new * rmask
        return h_new, [h_new]

    def get_initial_state(self, batch_size=None):
        return self._single_initial_state(batch_size)


def _fused_lstm(x, h0, c0, kernel, recurrent_kernel, bias):
    """(h, c) over all steps [T, B, units] of an LSTM (gates i, f, g, o, as `DropoutLSTMCell`)
    from time-major x [T, B, in] and the cell's kernel, recurrent kernel and bias.

    Forward: TensorFlow's fused `BlockLSTMV2` kernel, the whole recurrence in one op. It takes its
    gate blocks in the Keras order i, f, c(g), o (its "IFCO" layout, unlike `BlockLSTM`'s i, c, f,
    o), so the weights go in as stored. Backward (given here): TensorFlow 2.21 registers
    `BlockLSTMV2`'s gradient as `BlockLSTMGrad` (rnn_grad.py), the V1 op with the V1 gate layout,
    which gives wrong gradients; and `BlockLSTMGradV2`, the matching op, accumulates the weight
    gradients with one small Eigen product per step, slower on the CPU than the per-step loop.
    So the backward is a lean loop over the kernel's saved gate activations (per step: a few
    elementwise ops and the one recurrent product dz_t U^T), then dx, dW, dU and db from all
    steps' pre-activation gradients dz in one matmul each.
    """
    import tensorflow as tf
    from tensorflow.python.ops import gen_rnn_ops

    @tf.custom_gradient
    def run(x, h0, c0, kernel, recurrent_kernel, bias):
        steps = tf.shape(x)[0]
        peep = tf.zeros(tf.shape(h0)[-1:], x.dtype)   # no peepholes
        i, cs, f, o, g, co, h = gen_rnn_ops.block_lstmv2(
            seq_len_max=tf.cast(steps, tf.int64), x=x, cs_prev=c0, h_prev=h0,
            w=tf.concat([kernel, recurrent_kernel], 0), wci=peep, wcf=peep, wco=peep, b=bias,
            cell_clip=0.0, use_peephole=False)

        def grad(dh_out, dc_out):
            dh_out = tf.zeros_like(h) if dh_out is None else dh_out
            dc_out = tf.zeros_like(cs) if dc_out is None else dc_out
            c_prev = tf.concat([c0[None], cs[:-1]], 0)
            h_prev = tf.concat([h0[None], h[:-1]], 0)
            # Everything of dz_t = d loss / d [zi, zf, zg, zo]_t that needs no recurrence:
            # dz_t = [dc, dc, dc, dh]_t * scale_t, dc_t = dc_out_t + f_{t+1} dc_{t+1} + dh_t * dtanh_t.
            dtanh = o * (1.0 - co * co)
            scale = tf.concat([g * i * (1.0 - i), c_prev * f * (1.0 - f), i * (1.0 - g * g),
                               co * o * (1.0 - o)], -1)

            # U^T once: a MatMul with transpose_b in the loop ran at a quarter of the speed.
            recurrent_t = tf.transpose(recurrent_kernel)

            def body(t, dh_next, dc_next, dzs):
                dh = dh_out[t] + dh_next
                dc = dc_out[t] + dc_next + dh * dtanh[t]
                dz = tf.concat([dc, dc, dc, dh], -1) * scale[t]
                return t - 1, tf.matmul(dz, recurrent_t), dc * f[t], dzs.write(t, dz)

            _, dh0, dc0, dzs = tf.while_loop(
                lambda t, *_: t >= 0, body,
                (steps - 1, tf.zeros_like(h0), tf.zeros_like(c0), tf.TensorArray(x.dtype, size=steps)))
            dz = dzs.stack()
            dz2 = tf.reshape(dz, (-1, tf.shape(dz)[-1]))
            flat = lambda v: tf.reshape(v, (-1, tf.shape(v)[-1]))  # noqa: E731
            return (tf.reshape(tf.matmul(dz2, kernel, transpose_b=True), tf.shape(x)), dh0, dc0,
                    tf.matmul(flat(x), dz2, transpose_a=True), tf.matmul(flat(h_prev), dz2, transpose_a=True),
                    tf.reduce_sum(dz2, 0))

        return (h, cs), grad

    return run(x, h0, c0, kernel, recurrent_kernel, bias)


def _in_xla():
    import tensorflow as tf
    from tensorflow.python.ops import control_flow_util

    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def _no_gpu():
    import tensorflow as tf

    return not tf.config.list_logical_devices("GPU")


@serializable
class DropoutRNN(keras.layers.RNN):
    """`keras.layers.RNN` that prepares a `DropoutLSTMCell`/`DropoutGRUCell` sequence up front.

    Before the loop it draws every mask of the sequence in one call (T per-step masks, or one
    per-sequence mask broadcast over time), applies the input masks and computes x @ W + b for
    all steps in one matmul; the loop body then reads that row and its recurrent mask. Same
    function and same mask distribution as `keras.layers.RNN(cell)`; any other cell runs as in
    `keras.layers.RNN`.

    Args:
        fused: let an LSTM call take the fused kernel where it is valid (`fused_route`); False
            always runs the loop (equality tests, benchmarks). A layer argument rather than an
            environment variable: it is per layer, saved in the config, and read at trace time
            like every other argument.
    """

    def __init__(self, cell, fused=True, **kwargs):
        super().__init__(cell, **kwargs)
        self.fused = bool(fused)

    def fused_route(self, mask=None, training=False):
        """Whether this call may run as one `BlockLSTMV2` kernel (see the module docstring).
        Kept conservative: the op has GPU kernels, but they are untested here, and XLA has none."""
        cell = self.cell
        return (self.fused and keras.backend.backend() == "tensorflow"
                and isinstance(cell, DropoutLSTMCell) and not cell.layer_norm
                and not (training and cell.recurrent_dropout > 0) and mask is None
                and not (self.go_backwards or self.unroll or self.stateful)
                and cell.compute_dtype == "float32" and cell.variable_dtype == "float32"
                and _no_gpu() and not _in_xla())

    def _fused_call(self, x, initial_state):
        """The loop's result from `_fused_lstm`, x already input-dropped: output(s) and states."""
        import tensorflow as tf

        cell = self.cell
        if initial_state is None:
            initial_state = cell.get_initial_state(batch_size=ops.shape(x)[0])
        # Tensors, not variables, into the custom gradient: the weights' gradients flow back
        # through these reads.
        h0, c0 = (tf.convert_to_tensor(s, "float32") for s in initial_state)
        weights = (tf.convert_to_tensor(v.value) for v in (cell.kernel, cell.recurrent_kernel, cell.bias))
        h, cs = _fused_lstm(tf.transpose(x, (1, 0, 2)), h0, c0, *weights)
        states = [ops.cast(h[-1], self.compute_dtype), ops.cast(cs[-1], self.compute_dtype)]
        out = ops.cast(ops.transpose(h, (1, 0, 2)), self.compute_dtype) if self.return_sequences else states[0]
        return (out, *states) if self.return_state else out

    def call(self, sequences, initial_state=None, mask=None, training=False):
        cell = self.cell
        if not isinstance(cell, _DropoutCellBase):
            return super().call(sequences, initial_state=initial_state, mask=mask, training=training)
        # The precomputed part of the step runs in the cell's dtype, as its loop body does, even
        # if the cell's dtype policy is not this layer's (a float32 cell in a mixed-precision RNN).
        with AutocastScope(cell.compute_dtype):
            x = ops.convert_to_tensor(sequences, cell.compute_dtype)
            batch, steps = ops.shape(x)[0], ops.shape(x)[1]
            if training and cell.dropout > 0:
                x = x * cell.sequence_masks(batch, steps, x.shape[-1], cell.dropout)
            if self.fused_route(mask, training):
                return self._fused_call(x, initial_state)
            parts = [cell.input_projection(x)]
            rmask = bool(training) and cell.recurrent_dropout > 0
            if rmask:
                m = cell.sequence_masks(batch, steps, cell.units, cell.recurrent_dropout)
                parts.append(ops.broadcast_to(m, (batch, steps, cell.units)))
        cell._prepared, cell._prepared_rmask = True, rmask
        try:
            return super().call(ops.concatenate(parts, axis=-1) if rmask else parts[0],
                                initial_state=initial_state, mask=mask, training=training)
        finally:
            cell._prepared, cell._prepared_rmask = False, False

    def get_config(self):
        return {**super().get_config(), "fused": self.fused}


CELLS = {"lstm": DropoutLSTMCell, "gru": DropoutGRUCell, "rnn": DropoutSimpleRNNCell}


def make_cell(kind: str, units: int, **kwargs):
    """A `DropoutLSTMCell` ("lstm"), `DropoutGRUCell` ("gru") or `DropoutSimpleRNNCell` ("rnn")."""
    if kind not in CELLS:
        raise ValueError(f"cell must be one of {tuple(CELLS)}, got {kind!r}")
    return CELLS[kind](units, **kwargs)
