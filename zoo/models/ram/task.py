"""The cluttered-MNIST task of the recurrent attention model (Semeniuta, dissertation 2019,
§4.4.1): classify 100 x 100 images with one digit (10 classes), an unordered pair (55) or the
sum of two digits (19), from a few glimpses.

Loss: cross-entropy of the prediction after every glimpse, averaged over the glimpses
(`supervise: all`; §4.3 leaves the choice open, "last" supervises the final glimpse only),
plus, for models that place glimpses by relative shifts (the pair and sum tasks), the
regulariser R = a exp(-(dcx^2 + dcy^2) / b) on the shift of glimpse `regularizer_step`'s centre
from the previous one, in the [-1, 1] image coordinates (Eq. 4.4.1: a = b = 0.1, step 3), which
pushes the model to look elsewhere after two glimpses.

Metrics (test images, made of digits never seen in training): `error` / `accuracy` after the
last glimpse, `error_after_k` after glimpse k, and where the last glimpse looked —
`mislocalised`: share of images whose last glimpse is not on the target digit — its box
covers less than `cover_threshold` of the digit's ink box, or its centre lies outside that box
(a glimpse spanning the whole image covers every digit but reads none; single digit, Table
4.1's discussion), `mislocalised_errors`: the
share of the misclassified images that are mislocalised, and for two digits `missed_digit`:
images where some digit has no glimpse on it (same test).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from zoo.config import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Probability, RecipeError
from zoo.data.errors import ZooDataError
from zoo.eval.metrics import Metric
from zoo.registry import register_task, resolved_model_args
from zoo.training.task import Task


@dataclass(frozen=True)
class ClutteredMnistOptions:
    problem: Literal["single", "pair", "sum"] = "single"
    clutter: NonNegativeInt = 8               # 8 x 8 fragments per image (none for "sum")
    train_examples: PositiveInt = 10_000      # images per pass
    fresh_train_images: bool = True           # new positions and clutter every pass (same digits)
    test_examples: PositiveInt = 2000
    supervise: Literal["all", "last"] = "all"
    regularizer_scale: NonNegativeFloat = 0.1   # a of Eq. 4.4.1 (relative-shift models only)
    regularizer_width: PositiveFloat = 0.1      # b of Eq. 4.4.1
    regularizer_step: PositiveInt = 3           # the glimpse whose shift is regularised
    cover_threshold: Probability = 0.5          # share of a digit's ink box a glimpse must cover
    samples_in_figures: PositiveInt = 6         # test images drawn with their glimpses (zoo eval)


def on_target(glimpse_boxes, digit_boxes, threshold: float):
    """Whether each glimpse box is on its digit: it covers at least `threshold` of the digit's
    ink box and its centre lies inside that box (pixel edges included); both [..., 4]."""
    import tensorflow as tf

    g = tf.cast(glimpse_boxes, tf.float32)
    d = tf.cast(digit_boxes, tf.float32)
    cx, cy = (g[..., 0] + g[..., 2]) / 2.0, (g[..., 1] + g[..., 3]) / 2.0
    inside = ((cx >= d[..., 0] - 0.5) & (cx <= d[..., 2] + 0.5) & (cy >= d[..., 1] - 0.5) & (cy <= d[..., 3] + 0.5))
    return inside & (box_coverage(g, d) >= threshold)


def box_coverage(glimpse_boxes, digit_boxes):
    """Share of each digit's ink box (x0, y0, x1, y1, inclusive pixels) inside the glimpse box
    (continuous coordinates); both [..., 4]. A pixel p spans [p - 0.5, p + 0.5]."""
    import tensorflow as tf

    d = tf.cast(digit_boxes, tf.float32) + tf.constant([-0.5, -0.5, 0.5, 0.5])
    g = tf.cast(glimpse_boxes, tf.float32)
    w = tf.maximum(0.0, tf.minimum(g[..., 2], d[..., 2]) - tf.maximum(g[..., 0], d[..., 0]))
    h = tf.maximum(0.0, tf.minimum(g[..., 3], d[..., 3]) - tf.maximum(g[..., 1], d[..., 1]))
    return w * h / ((d[..., 2] - d[..., 0]) * (d[..., 3] - d[..., 1]))


@register_task("cluttered_mnist", smoke_recipe="ram/smoke")
class ClutteredMnistTask(Task):
    Options = ClutteredMnistOptions
    objective = "error"
    # The metrics of every problem; __init__ adds those of its glimpse count and problem.
    metrics = {"loss": Metric("loss_sum"), "nll": Metric("nll_sum"), "error": Metric("errors"),
               "accuracy": Metric("correct", goal="max")}

    def __init__(self, config):
        super().__init__(config)
        from zoo.models.ram.data import NUM_CLASSES

        args = resolved_model_args(config.model)
        if not {"image_size", "glimpses", "num_classes"} <= set(args):
            raise RecipeError(f"task cluttered_mnist needs a recurrent attention model (ram_mnist, "
                              f"ram_mnist_no_context, ram_mnist_pair, ram_mnist_sum); got {config.model.name}")
        self.image_size, self.glimpses = int(args["image_size"]), int(args["glimpses"])
        self.num_classes = NUM_CLASSES[self.options.problem]
        metrics = dict(ClutteredMnistTask.metrics)
        metrics.update({f"error_after_{k}": Metric(f"errors_{k}") for k in range(1, self.glimpses)})
        if self.options.problem == "single":
            metrics.update(mislocalised=Metric("mislocalised"),
                           mislocalised_errors=Metric("mislocalised_wrong", "errors"))
        else:
            metrics["missed_digit"] = Metric("missed")
        self.metrics = metrics

    # -- data ----------------------------------------------------------------------------------
    def load_data(self):
        from zoo.models.ram.data import shipped_digits, split_digits

        d = self.config.data
        self.digits, self.digit_labels = shipped_digits()
        self.train_pool, self.test_pool = split_digits(self.digit_labels, d.test_fraction, d.seed)
        self.test = self._images(self.test_pool, self.options.test_examples, d.seed + 1_000_003)
        if self.options.train_examples < d.batch_size:
            raise ZooDataError(f"task.train_examples ({self.options.train_examples}) is fewer than one "
                               f"batch of {d.batch_size}")

    def restore(self, folder):
        self.load_data()   # a pure function of the recipe and the shipped digits
        return True

    def _images(self, pool, n, seed):
        from zoo.models.ram.data import cluttered_mnist

        o = self.options
        return cluttered_mnist(self.digits, self.digit_labels, pool, n, problem=o.problem,
                               size=self.image_size, clutter=0 if o.problem == "sum" else o.clutter, seed=seed)

    def train_images(self, pass_index: int):
        seed = self.config.data.seed + (pass_index if self.options.fresh_train_images else 0)
        return self._images(self.train_pool, self.options.train_examples, seed)

    def data_summary(self):
        return {"train_digits": int(len(self.train_pool)), "test_digits": int(len(self.test_pool)),
                "train_images_per_pass": self.options.train_examples, "test_images": len(self.test),
                "image_size": self.image_size, "problem": self.options.problem}

    def check_model(self, model):
        if getattr(model, "num_classes", None) != self.num_classes or model.image_size != self.image_size:
            raise RecipeError(f"task cluttered_mnist ({self.options.problem}) needs a recurrent attention "
                              f"model with num_classes={self.num_classes} and image_size={self.image_size}; "
                              f"got num_classes={getattr(model, 'num_classes', None)}, "
                              f"image_size={getattr(model, 'image_size', None)}")
        if self.options.regularizer_step > model.glimpses and model.relative_shift and self.options.regularizer_scale:
            raise RecipeError(f"task.regularizer_step ({self.options.regularizer_step}) is past the "
                              f"model's {model.glimpses} glimpses")

    def _dataset(self, data, shuffle_seed=None):
        import tensorflow as tf

        ds = tf.data.Dataset.from_tensor_slices((data.images, data.labels, data.boxes))
        if shuffle_seed is not None:
            ds = ds.shuffle(len(data), seed=shuffle_seed, reshuffle_each_iteration=False)
        ds = ds.batch(self.config.data.batch_size, drop_remainder=shuffle_seed is not None)
        return ds.map(lambda x, y, b: (tf.cast(x, tf.float32) / 255.0, y, b)).prefetch(2)

    def train_dataset(self, model, pass_index):
        self.check_model(model)
        return self._dataset(self.train_images(pass_index), self.config.data.seed + pass_index)

    def eval_dataset(self, model):
        self.check_model(model)
        return self._dataset(self.test)

    # -- loss and metrics ----------------------------------------------------------------------
    def batch_sums(self, model, batch, *, step, training):
        import tensorflow as tf

        from zoo.models.ram.layers import glimpse_box

        images, labels, boxes = batch
        logits, params = model.run(images, training=training)
        logits = tf.cast(logits, tf.float32)
        labels = tf.cast(labels, tf.int32)
        k = logits.shape[1]
        steps = tf.tile(labels[:, None], [1, k])
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=steps, logits=logits)   # [b, k]
        per_image = tf.reduce_mean(nll, axis=1) if self.options.supervise == "all" else nll[:, -1]
        right = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), steps), tf.float32)
        wrong = 1.0 - right[:, -1]
        o = self.options
        penalty = tf.zeros_like(per_image)
        if model.relative_shift and o.regularizer_scale and o.regularizer_step <= k:
            i = o.regularizer_step - 1
            d2 = tf.square(params["shift_x"][:, i]) + tf.square(params["shift_y"][:, i])
            penalty = o.regularizer_scale * tf.exp(-d2 / o.regularizer_width)
        sums = {"loss_sum": tf.reduce_sum(per_image + penalty), "nll_sum": tf.reduce_sum(per_image),
                "count": tf.cast(tf.shape(labels)[0], tf.float32),
                "errors": tf.reduce_sum(wrong), "correct": tf.reduce_sum(right[:, -1])}
        for j in range(1, k):
            sums[f"errors_{j}"] = tf.reduce_sum(1.0 - right[:, j - 1])
        gbox = glimpse_box(params["center_x"], params["center_y"], params["stride_x"], params["stride_y"],
                           model.glimpse_size)                                                  # [b, k, 4]
        if o.problem == "single":
            off = 1.0 - tf.cast(on_target(gbox[:, -1], boxes[:, 0], o.cover_threshold), tf.float32)
            sums["mislocalised"] = tf.reduce_sum(off)
            sums["mislocalised_wrong"] = tf.reduce_sum(off * wrong)
        else:
            covered = on_target(gbox[:, :, None, :], boxes[:, None, :, :], o.cover_threshold)  # [b, k, 2]
            found = tf.reduce_any(covered, axis=1)                                                  # [b, 2]
            sums["missed"] = tf.reduce_sum(1.0 - tf.cast(tf.reduce_all(found, axis=1), tf.float32))
        return sums

    # -- reporting -----------------------------------------------------------------------------
    def sample_images(self, count: int):
        """The first `count` test images as float [count, H, W] and their cluttered-MNIST record."""
        count = min(count, len(self.test))
        return self.test.images[:count].astype(np.float32) / 255.0, self.test

    def write_samples(self, model, step):
        import tensorflow as tf

        from zoo.models.ram.plots import boxes_drawn_tf

        k = self.config.trainer.text_samples
        if not k:
            return
        images, _ = self.sample_images(k)
        _, boxes = model.attention(images)
        tf.summary.image("glimpses", boxes_drawn_tf(images, boxes.numpy()), step=step, max_outputs=k)

    def final_metrics(self, model):
        return self.data_summary()

    def analyze(self, model, out_dir):
        from zoo.models.ram.data import class_names
        from zoo.models.ram.plots import plot_glimpses

        images, data = self.sample_images(self.options.samples_in_figures)
        params, boxes = model.attention(images)
        probs = softmax(model(images, training=False)[:, -1])
        names = class_names(self.options.problem)
        titles = [f"true {names[t]}, predicted {names[int(p)]}" for t, p in
                  zip(data.labels[: len(images)], probs.argmax(-1))]
        path = plot_glimpses(images, boxes.numpy(), titles, out_dir / "glimpses.png",
                             digit_boxes=data.boxes[: len(images)])
        return {**self.data_summary(), "figures": [path.name]}


def softmax(logits) -> np.ndarray:
    x = np.asarray(logits, np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)
