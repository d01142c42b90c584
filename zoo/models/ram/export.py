"""Serving export of the recurrent attention model: one SavedModel per number of glimpses,
`glimpses_{k}/` for k = 1 .. the trained count — the classifier read out after glimpse k
(Eq. 4.3.4 at step k), so a client trades accuracy for computation.

Signatures of `glimpses_{k}/` (serving_default is `classify`):
    classify {"images": float32 [None, S, S], values in [0, 1]}
        -> {"probabilities": float32 [None, num_classes]}
    attend   {"images": float32 [None, S, S]}
        -> {"center_x", "center_y", "stride_x", "stride_y", "variance", "intensity":
            float32 [None, k] (pixels; pixel 0 is the first column / row),
            "boxes": float32 [None, k, 4] (x0, y0, x1, y1 of each glimpse's region, pixels)}
Images are checked in the graph: shape [batch, S, S], finite, within [0, 1] (MNIST polarity:
strokes bright on a dark background), so 0-255 pixel values are an error, not a wrong answer.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from zoo.export import (Attender, Classifier, ExportClient, ExportError, SavedModelSpec, ServingModule, checked_input,
                        select_served)


class AttentionServing(ServingModule):
    """`classify` and `attend` of a recurrent attention model stopped after `glimpses` steps."""

    def __init__(self, model, glimpses: int):
        super().__init__(model, name=f"ram_glimpses{glimpses}")
        self.glimpses = glimpses
        spec = [tf.TensorSpec([None, model.image_size, model.image_size], tf.float32, name="images")]
        self.classify = tf.function(self._classify, input_signature=spec)
        self.attend = tf.function(self._attend, input_signature=spec)

    def _images(self, images):
        s = self.model.image_size
        return checked_input(images, "images", ["batch", s, s], value_range=(0, 1), finite=True,
                             values="image pixel values")

    def _classify(self, images):
        logits = self.model(self._images(images), training=False, glimpses=self.glimpses)
        return {"probabilities": tf.nn.softmax(tf.cast(logits[:, -1], tf.float32))}

    def _attend(self, images):
        params, boxes = self.model.attention(self._images(images), glimpses=self.glimpses)
        return {**params, "boxes": boxes}


def export_attention(model, task, glimpses):
    """One SavedModel per glimpse count (all 1..model.glimpses when `glimpses` is None)."""
    chosen = select_served(glimpses, range(1, model.glimpses + 1), "glimpse counts",
                           f"this {model.glimpses}-glimpse model")
    classes = None
    if task is not None:
        from zoo.models.ram.data import class_names

        classes = class_names(task.options.problem)
    for k in chosen:
        module = AttentionServing(model, k)
        yield SavedModelSpec(
            name=f"glimpses_{k}", module=module, default="classify",
            signatures={"classify": module.classify, "attend": module.attend},
            info={"glimpses": k, "trained_glimpses": model.glimpses, "image_size": model.image_size,
                  "glimpse_size": model.glimpse_size, "num_classes": model.num_classes,
                  "class_names": classes})


class AttentionClient(ExportClient, Classifier, Attender):
    """Reads a recurrent attention export: `classify(images, glimpses)`, `attend(images, glimpses)`
    through the SavedModel of that glimpse count (default: the trained count), each of one image
    or a batch."""

    family = "ram"
    what = "recurrent attention model"

    @property
    def glimpse_counts(self) -> list[int]:
        return sorted(e["glimpses"] for e in self.entries.values())

    @property
    def image_size(self) -> int:
        return int(next(iter(self.entries.values()))["image_size"])

    @property
    def class_names(self) -> list[str]:
        e = next(iter(self.entries.values()))
        return e.get("class_names") or [str(i) for i in range(e["num_classes"])]

    def _name(self, glimpses: int | None) -> str:
        k = max(self.glimpse_counts) if glimpses is None else glimpses
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k not in self.glimpse_counts:
            raise ExportError(f"this export serves {self.glimpse_counts[0]}..{self.glimpse_counts[-1]} "
                              f"glimpses (trained with {max(self.glimpse_counts)}); got {glimpses!r}")
        return next(n for n, e in self.entries.items() if e["glimpses"] == k)

    def _images(self, images) -> tuple[np.ndarray, bool]:
        """(float32 batch [batch, S, S], whether one image [S, S] was given); anything but an
        array of numbers is an ExportError."""
        s = self.image_size
        if isinstance(images, (str, bytes, dict)) or np.isscalar(images):
            raise ExportError(f"images: expected one image [{s}, {s}] or a batch [batch, {s}, {s}] of "
                              f"numbers in [0, 1] (zoo.models.ram.export.read_image reads a file), "
                              f"got {type(images).__name__}")
        try:
            a = np.asarray(images, np.float32)
        except (TypeError, ValueError):
            raise ExportError(f"images: expected an array of numbers in [0, 1], got "
                              f"{type(images).__name__} that is not one") from None
        return (a[None], True) if a.ndim == 2 else (a, False)

    def classify(self, images, glimpses: int | None = None) -> np.ndarray:
        """Class probabilities after `glimpses` glimpses: [num_classes] for one image [S, S],
        [batch, num_classes] for a batch."""
        batch, one = self._images(images)
        out = self.call(self._name(glimpses), "classify", batch)["probabilities"]
        return out[0] if one else out

    def attend(self, images, glimpses: int | None = None) -> dict[str, np.ndarray]:
        """Glimpse parameters per step and the glimpse boxes ([k, 4] for one image, [batch, k, 4]
        for a batch)."""
        batch, one = self._images(images)
        out = self.call(self._name(glimpses), "attend", batch)
        return {k: v[0] for k, v in out.items()} if one else out

    def example_input(self, path, name, key, spec, rng):
        s = spec["shape"][1]
        return rng.uniform(0.0, 1.0, size=(2, s, s)).astype(np.float32)

    def shape_error(self, path, name, key, axis, got, need):
        return ExportError(f"images must be {need} x {need} pixels for this model (got an image "
                           f"axis of {got}); resize them (zoo attend --resize) or crop")


# Larger images are refused before Pillow decodes them (a 20,000 x 20,000 PNG of a few KB would
# take 400 MB as grey, several GB as RGBA): the model reads tens of pixels a side.
MAX_IMAGE_PIXELS = 2**26
# Greyscale modes whose values go past 8 bits: "L" conversion would clip them at 255.
_WIDE_GREY = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535}


def read_image(path, size: int, resize: bool = False) -> np.ndarray:
    """A PNG / JPEG / any image Pillow reads, as float32 [size, size] in [0, 1].

    Colour and alpha are converted to grey (luminance); 16-bit greyscale is divided by 65,535
    (an 8-bit conversion would clip it); an image of another size is an error unless `resize`
    (bilinear, aspect ratio not kept); images over MAX_IMAGE_PIXELS are refused unread. The
    model expects MNIST's polarity: bright strokes on a dark background."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise ExportError(f"no such image file: {str(p)!r}")
    too_large = None
    try:
        with Image.open(p) as img:
            if img.size[0] * img.size[1] > MAX_IMAGE_PIXELS:
                too_large = img.size
            else:
                img.load()
                mode, grey = img.mode, (img.convert("L") if img.mode not in _WIDE_GREY and img.mode != "F"
                                        else np.asarray(img, np.float64))
    except Image.DecompressionBombError as e:  # past twice Pillow's own limit, refused by Image.open
        raise ExportError(f"{str(p)!r} is over the {MAX_IMAGE_PIXELS:,}-pixel limit of zoo attend ({e}); "
                          f"scale it down first (this model reads {size} x {size})") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ExportError(f"{str(p)!r} is not an image file Pillow can read ({e.__class__.__name__})") from None
    if too_large:
        raise ExportError(f"{str(p)!r} is {too_large[0]} x {too_large[1]} pixels, over the "
                          f"{MAX_IMAGE_PIXELS:,}-pixel limit of zoo attend; scale it down first "
                          f"(this model reads {size} x {size})")
    if mode == "F":
        raise ExportError(f"{str(p)!r} is a floating-point image (mode F): its range is unknown; "
                          f"save it as 8- or 16-bit greyscale")
    if mode in _WIDE_GREY:
        if grey.min() < 0 or grey.max() > _WIDE_GREY[mode]:
            raise ExportError(f"{str(p)!r} holds {mode} values outside 0..{_WIDE_GREY[mode]}")
        grey = Image.fromarray((grey / _WIDE_GREY[mode]).astype(np.float32), "F")
    if grey.size != (size, size):
        if not resize:
            raise ExportError(f"{str(p)!r} is {grey.size[0]} x {grey.size[1]} pixels; this model reads "
                              f"{size} x {size} images (pass --resize to scale it)")
        grey = grey.resize((size, size), Image.BILINEAR)
    if grey.mode == "F":
        return np.clip(np.asarray(grey, np.float32), 0.0, 1.0)
    return np.asarray(grey, np.float32) / 255.0
