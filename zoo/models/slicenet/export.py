"""Serving export of SliceNet translation models (Kaiser, Gomez and Chollet, "Depthwise Separable
Convolutions for Neural Machine Translation"): one SavedModel `translate/` with

    translate:          {"text": string [None]} -> {"translation": string [None]}
    translate_<lang>:   the same into <lang> (only when the model has several target languages)
    score:              {"text": string [None], "target": string [None]} -> {"log_prob": float32 [None]}
                        (log p(target + EOS | text), the sum over its tokens)

Tokenization (SentencePiece through tensorflow-text, or bytes), placeholder protection when the
recipe asks for it, and beam search (beam size and GNMT length penalty from the recipe's
task options) run inside the graph, so a client needs only
`import tensorflow_text` (it registers the SentencePiece ops) and `tf.saved_model.load`.
"""
from __future__ import annotations

import copy

import tensorflow as tf

from zoo.export import ExportClient, ExportError, SavedModelSpec, ServingModule

SAVEDMODEL = "translate"


class TranslationServing(ServingModule):
    def __init__(self, model, vocab, options):
        from zoo.models.slicenet.decoding import score_texts, translate_texts

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

        self.translate = make_translate(vocab.start_token())
        self.score = tf.function(score, input_signature=[text, target])
        self._signatures = {"translate": self.translate, "score": self.score}
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
        name=SAVEDMODEL, module=module, signatures=module.signatures(),
        info={"tokenizer": task.vocab.kind, "languages": list(task.vocab.languages),
              "placeholders": task.vocab.placeholders,
              "beam_size": o.beam_size, "length_penalty": o.length_penalty,
              "max_source_length": o.max_source_length, "max_target_length": o.max_target_length})


class TranslationClient(ExportClient):
    """Reads a SliceNet export: `translate(texts, language)` and `score(texts, targets)` through
    the `translate/` SavedModel (tensorflow-text registers the SentencePiece ops it uses)."""

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

    def translate(self, texts, language: str | None = None) -> list[str]:
        out = self.call(SAVEDMODEL, self._signature_for(language), {"text": list(texts)})["translation"]
        return [s.decode("utf-8", errors="replace") for s in out]

    def score(self, texts, targets):
        """log p(target + EOS | text) per pair."""
        return self.call(SAVEDMODEL, "score", {"text": list(texts), "target": list(targets)})["log_prob"]
