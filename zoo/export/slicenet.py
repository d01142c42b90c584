"""Serving export of SliceNet translation models (seed 002): one SavedModel `translate/` with

    translate:          {"text": string [None]} -> {"translation": string [None]}
    translate_<lang>:   the same into <lang> (only when the model has several target languages)
    score:              {"text": string [None], "target": string [None]} -> {"log_prob": float32 [None]}
                        (log p(target + EOS | text), the sum over its tokens)

Tokenization (SentencePiece through tensorflow-text, or bytes), placeholder protection when the
recipe asks for it, and beam search (beam size and GNMT length penalty from the recipe's
data.options) run inside the graph, so a client needs only
`import tensorflow_text` (it registers the SentencePiece ops) and `tf.saved_model.load`.
"""
from __future__ import annotations

import copy
from pathlib import Path

import tensorflow as tf

from zoo.export.exporter import ExportError, SavedModelSpec, read_manifest, register_family_exporter

FAMILY = "slicenet"
SAVEDMODEL = "translate"


class TranslationServing(tf.Module):
    def __init__(self, model, vocab, options):
        from zoo.models.slicenet.decoding import score_texts, translate_texts

        super().__init__(name="slicenet_serving")
        object.__setattr__(self, "model", model)  # untracked: only its variables go in (see byte AE)
        self.model_variables = [v.value for v in model.variables]
        vocab = copy.copy(vocab)
        if hasattr(vocab, "new_tokenizer"):
            vocab.tokenizer = vocab.new_tokenizer()
            self.tokenizer = vocab.tokenizer  # tracked: the SavedModel recreates its resource
        object.__setattr__(self, "vocab", vocab)
        S, T = int(options["max_source_length"]), int(options["max_target_length"])
        beam, alpha = int(options["beam_size"]), float(options["length_penalty"])
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


@register_family_exporter(FAMILY)
def export_slicenet(model, config, depths):
    """`translate/`: the translation SavedModel (`depths` has no meaning for this family)."""
    from zoo.training.task import task_for

    if depths is not None:
        raise ExportError("the slicenet exporter writes one SavedModel; it takes no depths")
    task = task_for(config)
    task.load_data()  # the tokenizer the model was trained with (deterministic, cached)
    if task.vocab.size > model.vocab_size:
        raise ExportError(f"the recipe's tokenizer has {task.vocab.size} ids but the model only "
                          f"{model.vocab_size}; export the run with the recipe it was trained with")
    module = TranslationServing(model, task.vocab, task.options)
    o = task.options
    yield SavedModelSpec(
        name=SAVEDMODEL, module=module, signatures=module.signatures(),
        info={"tokenizer": task.vocab.kind, "languages": task.vocab.languages,
              "placeholders": task.vocab.placeholders,
              "beam_size": o["beam_size"], "length_penalty": o["length_penalty"],
              "max_source_length": o["max_source_length"], "max_target_length": o["max_target_length"]})


def translate_export(export_dir, texts, language=None) -> list[str]:
    """Translate with an export's SavedModel (no zoo model code runs; tensorflow-text ops do)."""
    import tensorflow_text  # noqa: F401  (registers the SentencePiece ops the graph uses)

    manifest = read_manifest(export_dir)
    if manifest.get("family") != FAMILY:
        raise ExportError(f"{str(export_dir)!r} exports a {manifest.get('family')!r} model "
                          f"({manifest.get('model')}), not a translation model")
    entry = next(e for e in manifest["savedmodels"] if e["path"] == SAVEDMODEL)
    name = "translate"
    if language is not None:
        if language not in entry["languages"]:
            raise ExportError(f"unknown target language {language!r}; this model translates into "
                              f"{entry['languages']}")
        if len(entry["languages"]) > 1:
            name = f"translate_{language}"
    loaded = tf.saved_model.load(str(Path(export_dir) / SAVEDMODEL))
    out = loaded.signatures[name](text=tf.constant(list(texts), tf.string))["translation"]
    return [s.decode("utf-8", errors="replace") for s in out.numpy()]
