"""The recurrent attention model of Semeniuta & Barth, "Image classification with recurrent
attention models" (S. Semeniuta's dissertation, 2019, §4.3, Eqs. 4.3.1-4.3.4).

    h2_t = GRU_2([h1_{t-1}, f_context(I)], h2_{t-1})      (4.3.1)  attention state
    g_t  = f_ext(I, h2_t)                                   (4.3.2)  DRAW glimpse (layers.py)
    h1_t = GRU_1(f_glimpse(g_t), h1_{t-1})                  (4.3.3)  what has been seen
    y_t  = f_class(h1_t)                                    (4.3.4)

The second layer is computed before the first (top-down), so the context network — a 3-layer
CNN over the downsampled whole image, connected to the second layer only — places even the
first glimpse. Both states start at zero. The glimpse and classification networks are fully
connected with one hidden layer (256 units for MNIST, §4.4.1).

Input: float images [batch, H, W] with values in [0, 1]. Output: class logits after every
glimpse, [batch, glimpses, num_classes]; `attention(images)` gives the glimpse parameters
per step. `call(images, glimpses=k)` stops after k glimpses (the exports' readouts).
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from zoo.models.ram.layers import PARAMETERS, GlimpseReader, glimpse_box
from zoo.registry import register_model, serializable


def _image_example(model, batch, rng):
    return rng.uniform(0.0, 1.0, size=(batch, model.image_size, model.image_size)).astype("float32")


@serializable
class RecurrentAttentionModel(keras.Model):
    """Args:
        num_classes: classes of the task (10 single digit, 55 pairs, 19 sums).
        image_size: the square input's side in pixels (100 in §4.4.1).
        glimpses: processing steps (4 in §4.4.1).
        glimpse_size: N of the N x N glimpse.
        units: width of both GRU layers.
        hidden: hidden width of the glimpse and classification networks (256).
        context: use the context network (Table 4.1 compares with and without).
        context_downsample: average-pooling factor applied to the image before the context CNN.
        context_filters: filters of the context CNN's three 3x3 stride-2 convolutions.
        relative_shift, max_extent: the pair task's glimpse parametrisation (`GlimpseReader`).
        recurrent_dropout: dropout on the GRUs' recurrent connections (Keras's GRU cell).
    """

    def __init__(self, num_classes: int = 10, image_size: int = 100, glimpses: int = 4,
                 glimpse_size: int = 12, units: int = 256, hidden: int = 256, context: bool = True,
                 context_downsample: int = 4, context_filters=(16, 32, 32), relative_shift: bool = False,
                 max_extent: float | None = None, recurrent_dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        for name, v in (("num_classes", num_classes), ("image_size", image_size), ("glimpses", glimpses),
                        ("units", units), ("hidden", hidden), ("context_downsample", context_downsample)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if len(tuple(context_filters)) != 3:
            raise ValueError(f"context_filters must give the three convolutions' widths, got {context_filters!r}")
        if not 0.0 <= recurrent_dropout < 1.0:
            raise ValueError(f"recurrent_dropout must be in [0, 1), got {recurrent_dropout!r}")
        self.num_classes, self.image_size, self.glimpses = int(num_classes), int(image_size), int(glimpses)
        self.glimpse_size, self.units, self.hidden = int(glimpse_size), int(units), int(hidden)
        self.context, self.context_downsample = bool(context), int(context_downsample)
        self.context_filters = [int(f) for f in context_filters]
        self.relative_shift, self.max_extent = bool(relative_shift), max_extent
        self.recurrent_dropout = float(recurrent_dropout)

        dt = self.dtype_policy   # every sub-layer computes in the model's dtype (mixed precision)
        if self.context:
            self.context_pool = keras.layers.AveragePooling2D(self.context_downsample, padding="same",
                                                              name="context_downsample", dtype=dt)
            self.context_convs = [keras.layers.Conv2D(f, 3, strides=2, padding="same", activation="relu",
                                                      name=f"context_conv{i + 1}", dtype=dt)
                                  for i, f in enumerate(self.context_filters)]
            self.context_flatten = keras.layers.Flatten(name="context_features", dtype=dt)
        self.attention_rnn = keras.layers.GRUCell(self.units, recurrent_dropout=self.recurrent_dropout,
                                                  name="attention_gru", dtype=dt)     # layer 2
        self.reader = GlimpseReader(self.glimpse_size, self.image_size, self.image_size,
                                    relative_shift=self.relative_shift, max_extent=self.max_extent,
                                    name="reader", dtype=dt)
        self.glimpse_hidden = keras.layers.Dense(self.hidden, activation="relu", name="glimpse_hidden", dtype=dt)
        self.glimpse_out = keras.layers.Dense(self.units, activation="relu", name="glimpse_features", dtype=dt)
        self.glimpse_rnn = keras.layers.GRUCell(self.units, recurrent_dropout=self.recurrent_dropout,
                                                name="glimpse_gru", dtype=dt)          # layer 1
        self.class_hidden = keras.layers.Dense(self.hidden, activation="relu", name="class_hidden", dtype=dt)
        self.class_out = keras.layers.Dense(self.num_classes, name="class_logits", dtype=dt)

    def build(self, input_shape=None):
        s = self.image_size
        ctx = 0
        if self.context:
            shape = (None, s, s, 1)
            self.context_pool.build(shape)
            shape = self.context_pool.compute_output_shape(shape)
            for conv in self.context_convs:
                conv.build(shape)
                shape = conv.compute_output_shape(shape)
            ctx = int(np.prod(shape[1:]))
        self.attention_rnn.build((None, self.units + ctx))
        self.reader.build((None, s, s), (None, self.units))
        self.glimpse_hidden.build((None, self.glimpse_size ** 2))
        self.glimpse_out.build((None, self.hidden))
        self.glimpse_rnn.build((None, self.units))
        self.class_hidden.build((None, self.units))
        self.class_out.build((None, self.hidden))
        self.built = True

    def context_features(self, images):
        x = self.context_pool(images[..., None])
        for conv in self.context_convs:
            x = conv(x)
        return self.context_flatten(x)

    def run(self, images, training=False, glimpses: int | None = None):
        """(logits [batch, k, classes], {parameter: [batch, k]} in pixels plus "shift_x",
        "shift_y": each step's centre shift, `GlimpseReader.parameters`) for the first k =
        `glimpses` steps."""
        k = self.glimpses if glimpses is None else int(glimpses)
        if not 1 <= k <= self.glimpses:
            raise ValueError(f"this model was built for 1..{self.glimpses} glimpses, got {glimpses!r}")
        images = tf.cast(tf.convert_to_tensor(images), self.compute_dtype)
        if self.recurrent_dropout:
            # Keras's cells cache their dropout masks between calls: one fresh mask per sequence.
            for cell in (self.attention_rnn, self.glimpse_rnn):
                cell.reset_dropout_mask()
                cell.reset_recurrent_dropout_mask()
        batch = tf.shape(images)[0]
        h1 = tf.zeros([batch, self.units], self.compute_dtype)
        h2 = tf.zeros([batch, self.units], self.compute_dtype)
        ctx = self.context_features(images) if self.context else None
        position = None
        logits, steps = [], []
        for _ in range(k):
            top_in = h1 if ctx is None else tf.concat([h1, ctx], axis=-1)
            h2, _ = self.attention_rnn(top_in, [h2], training=training)               # (4.3.1)
            params, position, shift = self.reader.parameters(h2, position)
            g = self.reader.read(images, params)                                       # (4.3.2)
            feat = self.glimpse_out(self.glimpse_hidden(tf.reshape(g, [batch, self.glimpse_size ** 2])))
            h1, _ = self.glimpse_rnn(tf.cast(feat, self.compute_dtype), [h1], training=training)  # (4.3.3)
            logits.append(self.class_out(self.class_hidden(h1)))                       # (4.3.4)
            steps.append({**params, "shift_x": shift[:, 0], "shift_y": shift[:, 1]})
        out = {name: tf.stack([s[name] for s in steps], axis=1) for name in steps[0]}
        return tf.stack(logits, axis=1), out

    def call(self, images, training=False, glimpses: int | None = None):
        return self.run(images, training=training, glimpses=glimpses)[0]

    def attention(self, images, glimpses: int | None = None):
        """Glimpse parameters per step ({name: [batch, k]}, pixels) and the glimpse boxes
        [batch, k, 4] as (x0, y0, x1, y1) pixels."""
        _, params = self.run(images, training=False, glimpses=glimpses)
        params = {k: params[k] for k in PARAMETERS}
        boxes = glimpse_box(params["center_x"], params["center_y"], params["stride_x"],
                            params["stride_y"], self.glimpse_size)
        return params, boxes

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "image_size": self.image_size,
                "glimpses": self.glimpses, "glimpse_size": self.glimpse_size, "units": self.units,
                "hidden": self.hidden, "context": self.context, "context_downsample": self.context_downsample,
                "context_filters": list(self.context_filters), "relative_shift": self.relative_shift,
                "max_extent": self.max_extent, "recurrent_dropout": self.recurrent_dropout}


_SMOKE = dict(image_size=32, glimpse_size=4, units=8, hidden=8, glimpses=3, context_filters=(4, 4, 4),
              context_downsample=2)

# §4.4.1: 100 x 100 cluttered MNIST, 4 glimpses, glimpse and classification networks with one
# hidden layer of 256; the GRU width is not given (256 here) nor N (12 here).
register_model("ram_mnist", smoke=_SMOKE, example_input=_image_example)(RecurrentAttentionModel)
register_model("ram_mnist_no_context", smoke=_SMOKE, example_input=_image_example,
               context=False)(RecurrentAttentionModel)
# §4.4.1's pair and sum tasks: relative shifts of the centre and a limit on the glimpse size.
register_model("ram_mnist_pair", smoke=_SMOKE, example_input=_image_example, num_classes=55,
               relative_shift=True, max_extent=0.5)(RecurrentAttentionModel)
register_model("ram_mnist_sum", smoke=_SMOKE, example_input=_image_example, num_classes=19,
               relative_shift=True, max_extent=0.5)(RecurrentAttentionModel)
