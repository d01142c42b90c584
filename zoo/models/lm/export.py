"""Serving export of the language models: a SavedModel that reads and writes text, with its
tokenizer inside (tables in the graph), usable with only `import tensorflow` (and
`tensorflow_text` for a SentencePiece tokenizer). Recurrent stacks get one SavedModel per depth
(`depth_{d}/`, the first d layers and the head), every other model one (`lm/`).

Signatures (all inputs are scalars but `texts`):
    generate  {prompt: string, max_tokens: int32, temperature: float32, top_k: int32 (0: off),
               top_p: float32, seed: int64}
              -> {text: string (the continuation), tokens: int32, prompt_tokens: int32,
                  unknown: int32 (prompt units mapped to <unk>), prompt_cut: int32 (prompt tokens
                  beyond the model's context, not read)}
              Its sampling loop is compiled by XLA (but the n-gram model's): ~7x faster per
              token for the char LSTM, the first call of a loaded export compiles (~1 s);
              benchmarks/bench_lstm_generate.py.
    search    {prompt: string, max_tokens: int32, beam_size: int32 (1: greedy), length_penalty: float32}
              -> the same outputs (beam search, GNMT length penalty)
    score     {texts: string [B]} -> {log_prob: float32 [B] (natural log, the text and its end
              from the beginning of text), tokens: int32 [B], characters: int32 [B],
              bits_per_char: float32 [B]}
serving_default is `score`. Errors raised in the graph, before any work: `max_tokens` above the
export's `max_generate_tokens`, a temperature <= 0, top_k < 0, top_p outside (0, 1], beam_size
outside 1..`max_beam_size`, a length penalty that is negative or not finite, a prompt over
`max_prompt_bytes`, a `score` call over `max_score_tokens` padded tokens (texts x (longest + 1));
the limits are in the manifest (the n-gram model's `score` looks up each target's probability
in bounded memory, so its limit is larger: `LOOKUP_SCORE_TOKENS`). `LMClient.score` groups texts
of similar length into calls within that limit (a long text is not padded against many short
ones), in the caller's order.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from zoo.export import ExportClient, ExportError, SavedModelSpec, ServingModule, select_served
from zoo.export.client import texts_in
from zoo.export.contracts import TextGenerator, TextScorer
from zoo.models.lm.generate import generate_ids, score_ids
from zoo.models.lm.ngram import NGramIndex, NGramLM

MAX_GENERATE_TOKENS = 4096
# Limits of the serving graphs (issue 28: a 1 MB text made `score` take 3.3 GB, beam 10^6 ran
# past 6 GB): checked in the graph before any work, stated in the manifest.
MAX_BEAM_SIZE = 64
MAX_PROMPT_BYTES = 1 << 16
# `score` holds the padded batch's logits [texts, tokens, vocab] and the model's activations at
# once: the padded tokens per call are bounded so that they stay near 512 MiB of float32.
SCORE_BUDGET_FLOATS = 1 << 27


# The n-gram model's `score` looks up each target's probability (`NGramLM.score_texts`), in
# chunks of positions: its memory grows with the ids alone (tens of bytes a token), not with the
# vocabulary, so a call may take texts of a few MB.
LOOKUP_SCORE_TOKENS = 1 << 22


def max_score_tokens(vocab_size: int, lookup: bool = False) -> int:
    """Padded tokens (texts x (longest + 1)) one `score` call may take, by vocabulary size
    (`lookup`: a model that scores by lookups, the n-gram model)."""
    if lookup:
        return LOOKUP_SCORE_TOKENS
    return int(max(4096, min(1 << 20, SCORE_BUDGET_FLOATS // (int(vocab_size) + 1024))))


def scores_by_lookup(model) -> bool:
    """Whether `score` looks up the targets' probabilities (`NGramLM.score_texts`) rather than
    reading them from the model's distributions over the vocabulary (`score_ids`)."""
    return isinstance(model, NGramLM)


def _assert(ok, *message):
    """An in-graph check whose message the export client passes on as one line."""
    return tf.debugging.Assert(ok, list(message))


class LMServing(ServingModule):
    def __init__(self, model, tokenizer, depth=None, max_generate_tokens: int = MAX_GENERATE_TOKENS,
                 xla: bool = True):
        super().__init__(model, name="lm" if depth is None else f"lm_depth{depth}")
        self.tokenizer = tokenizer   # a tf.Module: its vocabulary tables are saved inside
        self.depth, self.max_generate_tokens = depth, int(max_generate_tokens)
        self.max_score_tokens = max_score_tokens(model.vocab_size, scores_by_lookup(model))
        # The n-gram model's keys in hash tables (saved with the variables) for `score`.
        self.index = NGramIndex(model) if scores_by_lookup(model) else None
        # `generate`'s loop compiled by XLA (`generate_ids`' xla_capacity): the n-gram model's
        # hash-table lookups cannot be compiled, every other model's step can.
        self.xla = bool(xla) and self.index is None
        scalar = lambda dtype, name: tf.TensorSpec([], dtype, name=name)  # noqa: E731
        self.generate = tf.function(self._generate, input_signature=[
            scalar(tf.string, "prompt"), scalar(tf.int32, "max_tokens"), scalar(tf.float32, "temperature"),
            scalar(tf.int32, "top_k"), scalar(tf.float32, "top_p"), scalar(tf.int64, "seed")])
        self.search = tf.function(self._search, input_signature=[
            scalar(tf.string, "prompt"), scalar(tf.int32, "max_tokens"), scalar(tf.int32, "beam_size"),
            scalar(tf.float32, "length_penalty")])
        self.score = tf.function(self._score, input_signature=[tf.TensorSpec([None], tf.string, name="texts")])

    def _prompt(self, prompt):
        size = tf.strings.length(prompt)
        check = _assert(size <= MAX_PROMPT_BYTES, "the prompt is", size, "bytes, over this export's "
                        f"max_prompt_bytes ({MAX_PROMPT_BYTES})")
        with tf.control_dependencies([check]):
            prompt = tf.identity(prompt)
        ids = self.tokenizer.tf_encode(tf.reshape(prompt, [1]))[0]
        unknown = tf.reduce_sum(tf.cast(tf.equal(ids, 1), tf.int32))
        return tf.reshape(ids, [1, -1]), unknown

    def _limit(self, max_tokens):
        ok = tf.logical_and(max_tokens >= 1, max_tokens <= self.max_generate_tokens)
        check = tf.debugging.Assert(ok, [f"max_tokens must be in 1..{self.max_generate_tokens} "
                                         "(this export's max_generate_tokens), got", max_tokens])
        with tf.control_dependencies([check]):
            return tf.identity(max_tokens)

    def _outputs(self, ids, seqs, cut, unknown):
        keep = seqs > 0                                    # drop <eos> and the -1 padding
        ragged = tf.ragged.boolean_mask(seqs, keep)
        return {"text": self.tokenizer.tf_decode(ragged)[0], "tokens": tf.cast(ragged.row_lengths()[0], tf.int32),
                "prompt_tokens": tf.shape(ids)[1], "unknown": unknown, "prompt_cut": cut}

    def _generate(self, prompt, max_tokens, temperature, top_k, top_p, seed):
        ids, unknown = self._prompt(prompt)
        seed_pair = tf.stack([tf.cast(seed % 2147483647, tf.int32), tf.constant(0)])
        # With XLA the first call of a loaded SavedModel pays the compilation (see benchmarks/README.md).
        seqs, _, cut = generate_ids(self.model, ids, self._limit(max_tokens), method="sample",
                                    temperature=temperature, top_k=top_k, top_p=top_p, seed=seed_pair,
                                    depth=self.depth, xla_capacity=self.max_generate_tokens if self.xla else None)
        return self._outputs(ids, seqs, cut, unknown)

    def _search(self, prompt, max_tokens, beam_size, length_penalty):
        ids, unknown = self._prompt(prompt)
        checks = [_assert(tf.logical_and(beam_size >= 1, beam_size <= MAX_BEAM_SIZE),
                          f"beam_size must be in 1..{MAX_BEAM_SIZE} (1: greedy; this export's max_beam_size), got",
                          beam_size),
                  _assert(tf.logical_and(tf.math.is_finite(length_penalty), length_penalty >= 0.0),
                          "length_penalty must be a finite number >= 0 (0: none), got", length_penalty)]
        with tf.control_dependencies(checks):
            beam_size, length_penalty = tf.identity(beam_size), tf.identity(length_penalty)
        seqs, _, cut = generate_ids(self.model, ids, self._limit(max_tokens), method="beam",
                                    beam_size=beam_size, length_penalty=length_penalty, depth=self.depth)
        return self._outputs(ids, seqs, cut, unknown)

    def _score(self, texts):
        ragged = self.tokenizer.tf_encode(texts)
        lengths = tf.cast(ragged.row_lengths(), tf.int32)
        padded = tf.size(lengths) * (tf.reduce_max(tf.concat([lengths, [0]], 0)) + 1)
        check = _assert(padded <= self.max_score_tokens, "the texts take", padded, "padded tokens (texts x "
                        f"(longest + 1)), over this export's max_score_tokens ({self.max_score_tokens}): "
                        "score fewer or shorter texts per call")
        # The ids too wait for the check: else the model's work runs beside it (a 1 MB text over
        # the limit took 58 s before it was refused).
        with tf.control_dependencies([check]):
            lengths = tf.identity(lengths)
            ragged = ragged.with_flat_values(tf.identity(ragged.flat_values))
        if self.index is not None:
            log_prob, tokens = self.model.score_texts(ragged, self.index)
        else:
            log_prob, tokens = score_ids(self.model, ragged.to_tensor(default_value=0), lengths, depth=self.depth)
        chars = tf.strings.length(texts, unit="UTF8_CHAR") + 1      # +1: the end of the text
        return {"log_prob": log_prob, "tokens": tokens, "characters": chars,
                "bits_per_char": -log_prob / math.log(2.0) / tf.cast(chars, tf.float32)}


def export_lm(model, task, depths):
    """One SavedModel per stack depth for recurrent stacks (`depths` selects), else one."""
    layers = getattr(model, "num_layers", None) if model.context_length is None else None
    info = {"model": type(model).__name__, "vocab_size": int(model.vocab_size),
            "context_length": model.context_length, "max_generate_tokens": MAX_GENERATE_TOKENS,
            "max_beam_size": MAX_BEAM_SIZE, "max_prompt_bytes": MAX_PROMPT_BYTES,
            "max_score_tokens": max_score_tokens(model.vocab_size, scores_by_lookup(model)),
            "tokenizer": task.tokenizer.kind}
    if layers is None:
        if depths:
            raise ExportError(f"{type(model).__name__} has no stack depths to select")
        module = LMServing(model, task.tokenizer)
        yield SavedModelSpec(name="lm", module=module, default="score", info=info,
                             signatures={"generate": module.generate, "search": module.search,
                                         "score": module.score})
        return
    for d in select_served(depths, range(1, layers + 1), "depths", f"this {layers}-layer stack"):
        module = LMServing(model, task.tokenizer, depth=d)
        yield SavedModelSpec(name=f"depth_{d}", module=module, default="score",
                             info={**info, "depth": d, "num_layers": layers},
                             signatures={"generate": module.generate, "search": module.search,
                                         "score": module.score})


def _score_batches(texts, batch_size: int, limit: int | None) -> list[list[int]]:
    """Indices of `texts` in `score` calls of at most `batch_size` texts whose padded size stays
    within `limit` tokens: texts of similar length together (by UTF-8 bytes + 2, an upper bound of
    every tokenizer's count but SentencePiece's, which the graph checks), so a long text is not
    padded against many short ones; a text over the limit alone goes in a call of its own."""
    if limit is None:
        return [list(range(i, min(i + batch_size, len(texts)))) for i in range(0, len(texts), batch_size)]
    sizes = [len(t.encode("utf-8", "surrogatepass")) + 2 for t in texts]
    batches, current = [], []
    for i in sorted(range(len(texts)), key=sizes.__getitem__):
        if current and (len(current) >= batch_size or (len(current) + 1) * sizes[i] > limit):
            batches.append(current)
            current = []
        current.append(i)
    return batches + [current] if current else batches


class LMClient(ExportClient, TextGenerator, TextScorer):
    """Reads a language-model export: `generate(prompt, ...)` and `score(texts)`, each of one text
    or a list of them."""

    family = "lm"
    what = "language model"

    def _entry_name(self, depth):
        names = sorted(self.entries, key=lambda n: self.entries[n].get("depth", 0))
        if depth is None:
            return names[-1]
        for n in names:
            if self.entries[n].get("depth") == depth:
                return n
        raise ExportError(f"this export has no depth {depth}; exported: "
                          f"{[self.entries[n].get('depth') for n in names]}")

    @property
    def max_generate_tokens(self) -> int:
        return int(next(iter(self.entries.values()))["max_generate_tokens"])

    @texts_in(what="prompt")
    def generate(self, prompt, max_tokens: int = 200, *, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, beam: int | None = None, length_penalty: float = 0.0, seed: int = 0,
                 depth: int | None = None) -> dict | list[dict]:
        """Continue `prompt` (one text, or a list: one answer each): sampling (temperature,
        top_k, top_p, seed), or beam search when `beam` is given (1: greedy). The outputs of the
        SavedModel's signature as Python values."""
        from zoo.eval.decoding import check_sampler

        try:
            check_sampler(temperature, top_k, top_p, 1 if beam is None else beam, length_penalty, seed)
        except ValueError as e:
            raise ExportError(str(e)) from None
        if not 1 <= int(max_tokens) <= self.max_generate_tokens:
            raise ExportError(f"max_tokens must be in 1..{self.max_generate_tokens} (this export's "
                              f"limit), got {max_tokens}")
        name = self._entry_name(depth)
        answers = []
        for text in prompt:
            inputs = {"prompt": np.array(text, object), "max_tokens": np.int32(max_tokens)}
            if beam:
                inputs.update(beam_size=np.int32(beam), length_penalty=np.float32(length_penalty))
            else:
                inputs.update(temperature=np.float32(temperature), top_k=np.int32(top_k),
                              top_p=np.float32(top_p), seed=np.int64(seed))
            out = self.call(name, "search" if beam else "generate", inputs)
            answers.append({k: (v.decode("utf-8", errors="replace") if isinstance(v, bytes) else int(v))
                            for k, v in out.items()})
        return answers

    _EXAMPLES = {"prompt": "The ", "max_tokens": 5, "temperature": 1.0, "top_k": 0, "top_p": 0.9,
                 "seed": 0, "beam_size": 2, "length_penalty": 0.0}

    def example_input(self, path, name, key, spec, rng):
        if spec["shape"] == [] and key in self._EXAMPLES:
            return np.array(self._EXAMPLES[key], object if spec["dtype"] == "string" else spec["dtype"])
        if key == "texts":
            return np.array(["The first line.", ""], object)
        return super().example_input(path, name, key, spec, rng)

    @texts_in()
    def score(self, texts, depth: int | None = None, batch_size: int = 64) -> dict:
        """Per text: natural-log probability, tokens, characters and bits per character; scalars
        for one text, arrays for a list."""
        name = self._entry_name(depth)
        if not texts:
            raise ExportError("no text to score")
        limit = self.entries[name].get("max_score_tokens")  # None: an export from before the limit
        outputs = {}
        for batch in _score_batches(texts, batch_size, limit):
            try:
                part = self.call(name, "score", {"texts": np.array([texts[i] for i in batch], object)})
            except ExportError as e:
                where = f"text {batch[0] + 1} of {len(texts)}: " if len(batch) == 1 and len(texts) > 1 else ""
                raise ExportError(where + str(e)) from None
            for k, v in part.items():
                outputs.setdefault(k, [None] * len(texts))
                for i, value in zip(batch, v):
                    outputs[k][i] = value
        return {k: np.asarray(v) for k, v in outputs.items()}
