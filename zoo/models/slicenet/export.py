"""Serving export of SliceNet translation models (Kaiser, Gomez and Chollet, "Depthwise Separable
Convolutions for Neural Machine Translation"): one SavedModel `translate/` with

    translate:          {"text": string [None]} -> {"translation": string [None]}
    translate_<lang>:   the same into <lang> (only when the model has several target languages)
    score:              {"text": string [None], "target": string [None]} -> {"log_prob": float32 [None]}
                        (log p(target + EOS | text), the sum over its tokens)
    source_tokens:      {"text": string [None]} -> {"tokens": int32 [None]} (tokens the model reads,
                        placeholders protected; at most `max_source_tokens` in the manifest)

`translate` is also the SavedModel's `serving_default`. A source longer than `max_source_tokens`
is never cut silently: the graph fails with an error naming the limit (and so does `score` for
an over-long source or target). `TranslationClient.translate` takes texts of any length: it
counts tokens with `source_tokens`, cuts long sources at sentence boundaries (then words, then
characters; `data.split_source`), translates the pieces and joins them. An empty or
whitespace-only source translates to "".

Tokenization (SentencePiece through tensorflow-text, or bytes), placeholder protection when the
recipe asks for it, and beam search (beam size and GNMT length penalty from the recipe's
task options) run inside the graph, so a client needs only
`import tensorflow_text` (it registers the SentencePiece ops) and `tf.saved_model.load`.
"""
from __future__ import annotations

import copy
import re

import numpy as np
import tensorflow as tf

from zoo.data.errors import ZooDataError
from zoo.export import ExportClient, ExportError, PairScorer, SavedModelSpec, ServingModule, Translator
from zoo.export.client import as_texts, first, texts_in

SAVEDMODEL = "translate"


class TranslationServing(ServingModule):
    def __init__(self, model, vocab, options):
        from zoo.models.slicenet.decoding import score_texts, source_token_counts, translate_texts

        super().__init__(model, name="slicenet_serving")
        vocab = copy.copy(vocab)
        if hasattr(vocab, "new_tokenizer"):
            vocab.tokenizer = vocab.new_tokenizer()
            self.tokenizer = vocab.tokenizer  # tracked: the SavedModel recreates its resource
        object.__setattr__(self, "vocab", vocab)
        S, T = int(options.max_source_length), int(options.max_target_length)
        beam, alpha = int(options.beam_size), float(options.length_penalty)
        text = tf.TensorSpec([None], tf.string, name="text")
        target = tf.TensorSpec([None], tf.string, name="target")

        def make_translate(start):
            def translate(text):
                return {"translation": translate_texts(model, vocab, text, start, S, T, beam, alpha)[0]}
            return tf.function(translate, input_signature=[text])

        def score(text, target):
            return {"log_prob": score_texts(model, vocab, text, target, vocab.start_token(), S, T)}

        def source_tokens(text):
            return {"tokens": source_token_counts(vocab, text)}

        self.translate = make_translate(vocab.start_token())
        self.score = tf.function(score, input_signature=[text, target])
        self.source_tokens = tf.function(source_tokens, input_signature=[text])
        self._signatures = {"translate": self.translate, "score": self.score, "source_tokens": self.source_tokens}
        if len(vocab.languages) > 1:
            for lang in vocab.languages:
                fn = make_translate(vocab.start_token(lang))
                setattr(self, f"translate_{lang}", fn)
                self._signatures[f"translate_{lang}"] = fn

    def signatures(self):
        return dict(self._signatures)


def export_slicenet(model, task, depths):
    """`translate/`: the translation SavedModel (`depths` has no meaning for this family), with
    the tokenizer the run saved in its artifacts."""
    if depths is not None:
        raise ExportError("the slicenet exporter writes one SavedModel; it takes no depths")
    if task.vocab is None:
        # A run written before runs kept their tokenizer: rebuild it from the corpus (deterministic).
        task.load_data()
    if task.vocab.size > model.vocab_size:
        raise ExportError(f"the recipe's tokenizer has {task.vocab.size} ids but the model only "
                          f"{model.vocab_size}; export the run with the recipe it was trained with")
    module = TranslationServing(model, task.vocab, task.options)
    o = task.options
    yield SavedModelSpec(
        name=SAVEDMODEL, module=module, signatures=module.signatures(), default="translate",
        info={"tokenizer": task.vocab.kind, "languages": list(task.vocab.languages),
              "placeholders": task.vocab.placeholders,
              "beam_size": o.beam_size, "length_penalty": o.length_penalty,
              "max_source_length": o.max_source_length, "max_target_length": o.max_target_length,
              "max_source_tokens": o.max_source_length - 1})


class TranslationClient(ExportClient, Translator, PairScorer):
    """Reads a SliceNet export: `translate(texts, language)` and `score(texts, targets)` through
    the `translate/` SavedModel (tensorflow-text registers the SentencePiece ops it uses); each
    takes one text or a list of them. It scores (source, target) pairs, not single texts: a
    `PairScorer`, not a `TextScorer`."""

    family = "slicenet"
    what = "translation model"

    def __init__(self, export_dir):
        import tensorflow_text  # noqa: F401  (registers the ops the graph uses)

        super().__init__(export_dir)
        self.languages = list(self.entry(SAVEDMODEL)["languages"])

    def _signature_for(self, language) -> str:
        if language is None:
            return "translate"
        if language not in self.languages:
            raise ExportError(f"unknown target language {language!r}; this model translates into "
                              f"{self.languages}")
        return f"translate_{language}" if len(self.languages) > 1 else "translate"

    @property
    def max_source_tokens(self) -> int:
        """Most source tokens one `translate` call reads (placeholders protected, EOS not counted)."""
        e = self.entry(SAVEDMODEL)
        return int(e.get("max_source_tokens", e["max_source_length"] - 1))

    @texts_in()
    def source_tokens(self, texts) -> int | list[int]:
        """Tokens the model reads for a text (a list for a list), counted by the export's own
        tokenizer."""
        if "source_tokens" not in self.entry(SAVEDMODEL)["signatures"]:
            raise ExportError(f"{str(self.export_dir)!r} was exported before sources were checked "
                              f"for length (it has no 'source_tokens' signature) and would cut long "
                              f"ones silently; export the run again with `zoo export`")
        if not texts:
            return []
        return self._call("source_tokens", {"text": list(texts)})["tokens"].tolist()

    @texts_in()
    def translate(self, texts, language: str | None = None) -> str | list[str]:
        """The translation of a text (a list for a list) of any length: a source longer than
        `max_source_tokens` is cut at sentence boundaries (then words, then characters), its
        pieces translated and the results joined; an empty or whitespace-only text translates
        to ""."""
        from zoo.models.slicenet.data import translate_in_pieces

        signature = self._signature_for(language)

        def run(pieces):
            out = self._call(signature, {"text": pieces})["translation"]
            return [s.decode("utf-8", errors="replace") for s in out]
        try:
            return translate_in_pieces(texts, run, self.source_tokens, self.max_source_tokens)
        except ZooDataError as e:
            raise ExportError(str(e)) from None

    def score(self, texts, targets):
        """log p(target + EOS | text): a float for one text and one target, an array for two
        lists of the same length; a text or target longer than the model reads is an error."""
        texts, one_text = as_texts(texts)
        targets, one_target = as_texts(targets, what="target")
        if one_text != one_target or len(texts) != len(targets):
            raise ExportError(f"score takes one text and one target, or two lists of the same length; "
                              f"got {'one text' if one_text else f'{len(texts)} texts'} and "
                              f"{'one target' if one_target else f'{len(targets)} targets'}")
        if not texts:
            return np.zeros(0, np.float32)
        out = self._call("score", {"text": texts, "target": targets})["log_prob"]
        return first(out) if one_text else out

    def example_input(self, path, name, key, spec, rng):
        """The generic example texts, shortened word by word until they fit the model's source
        (or, for `score`'s target, target) length: longer ones are rejected, not cut."""
        a = super().example_input(path, name, key, spec, rng)
        if spec["dtype"] != "string" or "source_tokens" not in self.entry(SAVEDMODEL)["signatures"]:
            return a
        limit = self.entry(SAVEDMODEL)["max_target_length"] - 1 if key == "target" else self.max_source_tokens
        out = []
        for text in a.ravel():
            words = text.split(" ")
            while len(words) > 1 and self.source_tokens([" ".join(words)])[0] > limit:
                words.pop()
            out.append(" ".join(words))
        return np.array(out, dtype=object).reshape(a.shape)

    def _call(self, name, inputs):
        try:
            return self.call(SAVEDMODEL, name, inputs)
        except tf.errors.InvalidArgumentError as e:
            # The graph's own length check: its message, without TensorFlow's op trace.
            found = re.search(r"an? \w+ is longer than this model reads[^\n]*", e.message)
            raise ExportError(f"{SAVEDMODEL} signature {name!r}: "
                              f"{found.group() if found else e.message.strip()}") from None
