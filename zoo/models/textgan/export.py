"""Serving export of the text GANs and their MLE LM (Semeniuta's dissertation §5.4): one
SavedModel, `generator/`, with the SentencePiece tokenizer inside; it needs only TensorFlow (and
tensorflow-text for the pieces). The discriminator is not served: it is a training device.

Signatures (scalar inputs):
    generate {prompt: string, max_tokens: int32, temperature: float32, top_k: int32 (0: off),
              top_p: float32, seed: int64}
             -> {text: string (the continuation), tokens: int32, prompt_tokens: int32,
                 unknown: int32 (prompt pieces read as <unk>), prompt_cut: int32 (always 0)}
    sample   {count: int32, temperature: float32, top_k: int32, top_p: float32, seed: int64}
             -> {texts: string [count], tokens: int32 [count]}: whole sentences
serving_default is `sample`. A sentence is at most `max_length - 1` pieces (the model's rows), so
`generate` refuses `max_tokens` over that or a prompt that leaves no room (a continuation
stops at the end of the row), and the continuous generators (whole
rows from noise, no next-token distribution to condition) refuse a non-empty prompt; sampling
settings are checked as `zoo.eval.decoding` checks them (temperature > 0, top_k >= 0, top_p in
(0, 1]); count in 1..`max_count`. Every refusal is a sentence, raised in the graph before any work.
Continuous generators take the argmax of each position's softmax: temperature, top_k and top_p
only change the discrete generators' draws.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from zoo.export import ExportClient, ExportError, SavedModelSpec, ServingModule, TextGenerator, select_served
from zoo.export.client import texts_in

MAX_COUNT = 10000
MAX_PROMPT_BYTES = 1 << 12


def _assert(ok, *message):
    return tf.debugging.Assert(ok, list(message))


class TextGANServing(ServingModule):
    def __init__(self, model, tokenizer):
        super().__init__(model, name="text_gan")
        self.tokenizer = tokenizer   # a tf.Module: its SentencePiece op is saved inside
        scalar = lambda dtype, name: tf.TensorSpec([], dtype, name=name)  # noqa: E731
        self.generate = tf.function(self._generate, input_signature=[
            scalar(tf.string, "prompt"), scalar(tf.int32, "max_tokens"), scalar(tf.float32, "temperature"),
            scalar(tf.int32, "top_k"), scalar(tf.float32, "top_p"), scalar(tf.int64, "seed")])
        self.sample = tf.function(self._sample, input_signature=[
            scalar(tf.int32, "count"), scalar(tf.float32, "temperature"), scalar(tf.int32, "top_k"),
            scalar(tf.float32, "top_p"), scalar(tf.int64, "seed")])

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_length) - 1

    def _seed(self, seed):
        return tf.stack([tf.math.floormod(seed, 2147483647), tf.constant(7, tf.int64)])

    def _sampler_checks(self, temperature, top_k, top_p):
        return [_assert(tf.logical_and(tf.math.is_finite(temperature), temperature > 0.0),
                        "temperature must be a finite number > 0, got", temperature),
                _assert(top_k >= 0, "top_k must be >= 0 (0: no top-k cut), got", top_k),
                _assert(tf.logical_and(top_p > 0.0, top_p <= 1.0), "top_p must be in (0, 1], got", top_p)]

    def _generate(self, prompt, max_tokens, temperature, top_k, top_p, seed):
        model = self.model
        size = tf.strings.length(prompt)
        checks = [_assert(size <= MAX_PROMPT_BYTES, "the prompt is", size,
                          f"bytes, over this export's max_prompt_bytes ({MAX_PROMPT_BYTES})")]
        with tf.control_dependencies(checks):
            ids = self.tokenizer.tf_encode(tf.reshape(prompt, [1]))[0]
        p = tf.shape(ids)[0]
        unknown = tf.reduce_sum(tf.cast(tf.equal(ids, 1), tf.int32))
        checks = self._sampler_checks(temperature, top_k, top_p) + [
            _assert(tf.logical_and(max_tokens >= 1, max_tokens <= self.max_tokens),
                    f"max_tokens must be in 1..{self.max_tokens} (this generator's sentences are at most "
                    f"{self.max_tokens} pieces), got", max_tokens),
            _assert(p < self.max_tokens, "the prompt is", p, f"pieces; this generator's sentences are at most "
                    f"{self.max_tokens} pieces, so nothing is left to generate")]
        if model.generator_kind in ("deconv", "soft_lstm"):
            checks.append(_assert(tf.equal(p, 0), f"{model.method} draws whole sentences from noise and cannot "
                                  "continue a prompt; give an empty prompt"))
        with tf.control_dependencies(checks):
            p = tf.identity(p)
        prefix = tf.pad(tf.reshape(ids, [1, -1]), [[0, 0], [0, model.max_length - p]])
        if model.generator_kind in ("deconv", "soft_lstm"):
            rows, _ = model.sample(1, self._seed(seed))
        else:
            rows, _ = model.sample(1, self._seed(seed), temperature=temperature, prefix=prefix,
                                   prefix_length=tf.reshape(p, [1]), top_k=top_k, top_p=top_p)
        cont = rows[:, p:p + max_tokens]   # the sentence's room after the prompt, at most max_tokens
        # Up to (not including) the first <eos>.
        cont = tf.ragged.boolean_mask(cont, tf.equal(tf.cumsum(tf.cast(tf.equal(cont, 0), tf.int32), axis=1), 0))
        return {"text": self.tokenizer.tf_decode(cont)[0], "tokens": tf.cast(cont.row_lengths()[0], tf.int32),
                "prompt_tokens": p, "unknown": unknown, "prompt_cut": tf.constant(0, tf.int32)}

    def _sample(self, count, temperature, top_k, top_p, seed):
        checks = self._sampler_checks(temperature, top_k, top_p) + [
            _assert(tf.logical_and(count >= 1, count <= MAX_COUNT),
                    f"count must be in 1..{MAX_COUNT} (this export's max_count), got", count)]
        with tf.control_dependencies(checks):
            count = tf.identity(count)
        model = self.model
        if model.generator_kind in ("deconv", "soft_lstm"):
            rows, _ = model.sample(count, self._seed(seed))
        else:
            rows, _ = model.sample(count, self._seed(seed), temperature=temperature, top_k=top_k, top_p=top_p)
        tokens = tf.reduce_sum(tf.cast(rows > 0, tf.int32), axis=1)
        return {"texts": self.tokenizer.tf_decode(rows), "tokens": tokens}


def export_text_gan(model, task, selection):
    """The generator's SavedModel (one; nothing to select)."""
    select_served(selection, [], "depths", f"a text GAN ({model.method})")
    module = TextGANServing(model, task.tokenizer)
    yield SavedModelSpec(name="generator", module=module, default="sample",
                         signatures={"generate": module.generate, "sample": module.sample},
                         info={"method": model.method, "vocab_size": int(model.vocab_size),
                               "max_length": int(model.max_length), "max_tokens": int(model.max_length) - 1,
                               "max_count": MAX_COUNT, "max_prompt_bytes": MAX_PROMPT_BYTES,
                               "tokenizer": task.tokenizer.kind})


class TextGANClient(ExportClient, TextGenerator):
    """Reads a text-GAN export: `generate(prompt, ...)` (`zoo generate`) and `sample(count, ...)`."""

    family = "textgan"
    what = "text GAN"

    @property
    def _info(self) -> dict:
        return self.entries["generator"]

    @property
    def max_tokens(self) -> int:
        return int(self._info["max_tokens"])

    @property
    def method(self) -> str:
        return str(self._info["method"])

    def _check(self, temperature, top_k, top_p, seed):
        from zoo.eval.decoding import check_sampler

        try:
            check_sampler(temperature, top_k, top_p, 1, 0.0, seed)
        except ValueError as e:
            raise ExportError(str(e)) from None

    @property
    def default_max_tokens(self) -> int:
        """What `zoo generate` asks for without --max-tokens: the longest sentence."""
        return self.max_tokens

    @texts_in(what="prompt")
    def generate(self, prompt, max_tokens: int = 200, *, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, beam: int | None = None, length_penalty: float = 0.0, seed: int = 0,
                 depth: int | None = None) -> dict | list[dict]:
        """Continue `prompt` (one text, or a list) by sampling, up to `max_tokens` pieces and the
        end of the sentence (at most `max_tokens` of the export: its rows' length)."""
        if beam is not None:
            raise ExportError("a text GAN's generator is sampled; it has no beam search (leave out --beam)")
        if depth is not None:
            raise ExportError("a text GAN export has one generator; it has no depths")
        self._check(temperature, top_k, top_p, seed)
        if not 1 <= int(max_tokens) <= self.max_tokens:
            raise ExportError(f"max_tokens must be in 1..{self.max_tokens} (this generator's sentences are at most "
                              f"{self.max_tokens} pieces), got {max_tokens}")
        answers = []
        for text in prompt:
            inputs = {"prompt": np.array(text, object), "max_tokens": np.int32(max_tokens),
                      "temperature": np.float32(temperature), "top_k": np.int32(top_k),
                      "top_p": np.float32(top_p), "seed": np.int64(seed)}
            out = self.call("generator", "generate", inputs)
            answers.append({k: (v.decode("utf-8", errors="replace") if isinstance(v, bytes) else int(v))
                            for k, v in out.items()})
        return answers

    def sample(self, count: int, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
               seed: int = 0) -> list[str]:
        """`count` whole sentences."""
        self._check(temperature, top_k, top_p, seed)
        if not 1 <= int(count) <= int(self._info["max_count"]):
            raise ExportError(f"count must be in 1..{self._info['max_count']}, got {count}")
        out = self.call("generator", "sample", {"count": np.int32(count), "temperature": np.float32(temperature),
                                                "top_k": np.int32(top_k), "top_p": np.float32(top_p),
                                                "seed": np.int64(seed)})
        return [t.decode("utf-8", errors="replace") for t in np.asarray(out["texts"]).ravel()]

    _EXAMPLES = {"prompt": "", "max_tokens": 3, "temperature": 1.0, "top_k": 0, "top_p": 0.9, "seed": 0,
                 "count": 2}

    def example_input(self, path, name, key, spec, rng):
        if key in self._EXAMPLES:
            return np.array(self._EXAMPLES[key], dtype=object if key == "prompt" else None).astype(
                object if key == "prompt" else spec["dtype"])
        return super().example_input(path, name, key, spec, rng)
