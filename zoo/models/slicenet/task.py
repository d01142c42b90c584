"""The translation task of SliceNet (Kaiser, Gomez and Chollet, "Depthwise Separable Convolutions
for Neural Machine Translation", §5): per-token NLL loss, per-token accuracy and negative
log-perplexity (Table 2's columns), and BLEU (sacrebleu) of beam-search translations (beam 4 +
length penalty, §5) against the copy-the-source baseline.

The tokenizer, the test pairs and the data summary are saved into the run's artifacts, so a run
or an export is evaluated and exported without its corpus or the SentencePiece cache.
"""
from __future__ import annotations

import collections

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np

from zoo.config import NonNegativeFloat, PositiveInt, Probability, Range
from zoo.data.errors import ZooDataError
from zoo.registry import register_task, resolved_model_args
from zoo.eval.metrics import Metric
from zoo.training.task import Task


@dataclass(frozen=True)
class TranslationOptions:
    languages: tuple[str, ...] = ("de",)   # target languages (Django codes for corpus "django")
    tokenizer: Literal["sentencepiece", "bytes"] = "sentencepiece"
    character_coverage: Probability = 1.0       # SentencePiece coverage (e.g. 0.9995 for CJK targets)
    target_file: str | None = None        # aligned target file when `data.corpus` is a text file
    max_source_length: PositiveInt = 64           # tokens incl. EOS; longer training pairs are dropped
    max_target_length: PositiveInt = 64
    beam_size: PositiveInt = 4                    # BLEU decoding (1 = greedy)
    length_penalty: NonNegativeFloat = 0.6           # GNMT alpha of the beam search
    bleu_sentences: PositiveInt = 200             # test pairs translated for BLEU at the end of training
    label_smoothing: Annotated[float, Range(ge=0, lt=1)] = 0.0          # of the training loss (T2T's SliceNet runs use 0.1); eval NLL is exact
    # Fraction of training targets also added as (target -> target) pairs: Currey et al. 2017,
    # "Copied monolingual data improves low-resource NMT" -- teaches the attention to copy the
    # verbatim parts (placeholders, markup, URLs) that small corpora have few of.
    copied_targets: Probability = 0.0
    # Protect format fields, HTML tags and URLs: each becomes a slot token the model places, and
    # the source's text is put back after decoding, in Python and in the SavedModel (placeholders.py).
    placeholders: bool = False


def copied_target_pairs(train, fraction: float):
    """(target, target) pairs for a deterministic `fraction` of the training pairs (by target hash)."""
    from zoo.data.splits import content_hash
    from zoo.models.slicenet.data import Pair, dedupe

    if not 0.0 <= fraction <= 1.0:
        raise ZooDataError(f"task.copied_targets must be in [0, 1], got {fraction}")
    if fraction == 0:
        return []
    train_set = set(train)
    copies = [Pair(p.target, p.target, p.language) for p in train
              if content_hash(p.target.encode("utf-8"), b"zoo-copied") < fraction]
    return [p for p in dedupe(copies) if p not in train_set]


def bleu(hypotheses, references) -> float:
    import sacrebleu
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)


def most_frequent_token_accuracy(train_targets, test_targets) -> float:
    """Token accuracy of always predicting the training targets' most frequent id (EOS included),
    on the positions `accuracy` counts (every test target id, EOS included): the trivial
    baseline a translation model's accuracy must beat."""
    counts = collections.Counter(i for t in train_targets for i in t)
    total = sum(len(t) for t in test_targets)
    if not counts or not total:
        raise ZooDataError("most_frequent_token_accuracy needs training and test targets")
    top = counts.most_common(1)[0][0]
    return sum(t.count(top) for t in test_targets) / total


@register_task("translation", smoke_recipe="slicenet/smoke")
class TranslationTask(Task):
    Options = TranslationOptions
    metrics = {"loss": Metric("loss_sum", "count"), "accuracy": Metric("correct", "count", goal="max"),
               "neg_log_perplexity": Metric("neg_loss_sum", "count", goal="max")}
    objective = "loss"

    def __init__(self, config):
        super().__init__(config)
        self.vocab = None
        self.train_pairs = None

    # -- data ---------------------------------------------------------------------------------
    def load_data(self):
        from zoo.models.slicenet.data import build_vocabulary, load_pairs, split_pairs

        d, o = self.config.data, self.options
        pairs = load_pairs(d.corpus, o.languages, o.target_file)
        self.languages = sorted({p.language for p in pairs}) if d.corpus != "django" else list(o.languages)
        train, test = split_pairs(pairs, d.test_fraction)
        if not train:
            raise ZooDataError(f"corpus {d.corpus!r}: all {len(pairs)} pairs fell into the test split; "
                               f"lower data.test_fraction")
        if not test:  # a tiny user corpus may hash entirely into train: evaluate on some of it
            test = train[: max(1, len(train) // 10)]
        if d.max_paragraphs:
            train = train[: d.max_paragraphs]
        if d.max_test_paragraphs:
            test = test[: d.max_test_paragraphs]
        self.vocab = build_vocabulary(o.tokenizer, train, self.languages, self.model_vocab_size(),
                                      o.character_coverage, o.placeholders)
        self.train_pairs, self.test_pairs = train, test
        self.copied_pairs = copied_target_pairs(train, o.copied_targets)
        self._train = self._encode(train + self.copied_pairs, drop_long=True)
        self._test = self._encode(test, drop_long=False)
        if not self._train[0]:
            raise ZooDataError("no training pair fits max_source_length / max_target_length")
        self._summary = {"pairs": len(pairs), "train_pairs": len(train), "copied_pairs": len(self.copied_pairs),
                         "train_pairs_used": len(self._train[0]), "test_pairs": len(test),
                         "vocab_size": self.vocab.size, "languages": self.languages}

    def model_vocab_size(self) -> int:
        return int(resolved_model_args(self.config.model)["vocab_size"])

    def save_artifacts(self, folder):
        from zoo.io import atomic_write_json
        from zoo.models.slicenet.data import save_vocabulary

        folder = Path(folder)
        save_vocabulary(self.vocab, folder)
        atomic_write_json(folder / "test_pairs.json", [[p.source, p.target, p.language] for p in self.test_pairs])
        atomic_write_json(folder / "data_summary.json", self._summary)

    def restore(self, folder):
        from zoo.models.slicenet.data import Pair, load_vocabulary

        folder = Path(folder)
        vocab = load_vocabulary(folder)
        if vocab is None or not (folder / "test_pairs.json").is_file():
            return False
        self.vocab, self.languages = vocab, list(vocab.languages)
        self.test_pairs = [Pair(*row) for row in json.loads((folder / "test_pairs.json").read_text(encoding="utf-8"))]
        self._summary = json.loads((folder / "data_summary.json").read_text(encoding="utf-8"))
        self._test = self._encode(self.test_pairs, drop_long=False)
        return True

    def _encode(self, pairs, drop_long):
        """(sources, targets_in, targets) id lists; sources and targets end with EOS."""
        from zoo.models.slicenet.model import EOS

        S, T = self.options.max_source_length, self.options.max_target_length
        srcs, tgts = self.vocab.encode_pairs([p.source for p in pairs], [p.target for p in pairs])
        out = ([], [], [])
        for p, s, t in zip(pairs, srcs, tgts):
            if drop_long and (len(s) + 1 > S or len(t) + 1 > T):
                continue
            s, t = s[: S - 1] + [EOS], t[: T - 1] + [EOS]
            out[0].append(s)
            out[1].append([self.vocab.start_token(p.language)] + t[:-1])
            out[2].append(t)
        return out

    def data_summary(self):
        return dict(self._summary)

    def check_model(self, model):
        if self.vocab is not None and self.vocab.size > model.vocab_size:
            raise ZooDataError(f"the tokenizer has {self.vocab.size} ids but the model only "
                               f"{model.vocab_size}; raise model.vocab_size")

    def bucket_boundaries(self) -> list[int]:
        """Padded lengths of the batches: 16, 32, ... up to the longest allowed sequence."""
        longest = max(self.options.max_source_length, self.options.max_target_length)
        bounds = [b for b in (16 << i for i in range(16)) if b < longest]
        return bounds + [longest]

    def batch_order(self, data, shuffle, seed, drop_remainder) -> list[list[int]]:
        """Example indices of each batch: batches hold sentences of similar length.

        Django messages are mostly a few tokens long, so padding every batch to the longest
        allowed sentence would spend most of a step on padding. Each example goes to the first
        bucket that holds both its source and target; a bucket's leftover (less than a batch)
        moves up to the next bucket, so every batch but the last is full and the step is traced
        once per bucket. With `shuffle` the order inside buckets and of the batches depends on
        `seed` only (a resumed run sees the same batches).
        """
        rng = np.random.default_rng(seed)
        n, size = len(data[0]), self.config.data.batch_size
        order = rng.permutation(n) if shuffle else np.arange(n)
        bounds = self.bucket_boundaries()
        key = [int(np.searchsorted(bounds, max(len(data[0][i]), len(data[2][i])))) for i in range(n)]
        batches, carry = [], []
        for b in range(len(bounds)):
            members = carry + [int(i) for i in order if key[i] == b]
            full = len(members) // size * size
            batches += [members[j: j + size] for j in range(0, full, size)]
            carry = members[full:]
        if shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        if carry and not drop_remainder:
            batches.append(carry)
        return batches

    def _dataset(self, data, shuffle, seed, drop_remainder):
        import tensorflow as tf

        batches = self.batch_order(data, shuffle, seed, drop_remainder)
        flat = [i for batch in batches for i in batch]
        cols = [tf.ragged.constant([data[c][i] for i in flat], dtype=tf.int32, row_splits_dtype=tf.int64)
                for c in range(3)]
        ds = tf.data.Dataset.from_tensor_slices(tuple(cols))
        # Only the last batch can be partial, so these batches are exactly `batches`.
        ds = ds.ragged_batch(self.config.data.batch_size)
        bounds = tf.constant(self.bucket_boundaries(), tf.int64)
        S, T = self.options.max_source_length, self.options.max_target_length

        def pad(s, ti, t):
            longest = tf.maximum(tf.reduce_max(s.row_lengths()), tf.reduce_max(t.row_lengths()))
            length = tf.gather(bounds, tf.searchsorted(bounds, longest[None])[0])
            src = tf.stack([s.nrows(), tf.minimum(length, S)])
            tgt = tf.stack([t.nrows(), tf.minimum(length, T)])
            return {"source": s.to_tensor(shape=src), "target_in": ti.to_tensor(shape=tgt),
                    "target": t.to_tensor(shape=tgt)}
        return ds.map(pad)

    def train_dataset(self, model, pass_index):
        if self.train_pairs is None:
            raise ZooDataError("this task was restored from a run's artifacts, which hold no "
                               "training pairs; train from the corpus")
        return self._dataset(self._train, True, self.config.data.seed + pass_index,
                             len(self._train[0]) >= self.config.data.batch_size)

    def eval_dataset(self, model):
        return self._dataset(self._test, False, 0, False)

    # -- metrics ------------------------------------------------------------------------------
    def batch_sums(self, model, batch, *, step, training):
        import tensorflow as tf

        logits = model({"source": batch["source"], "target_in": batch["target_in"]}, training=training)
        target = batch["target"]
        mask = tf.cast(target > 0, tf.float32)
        logits32 = tf.cast(logits, tf.float32)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=logits32)
        smoothing = float(self.options.label_smoothing)
        if training and smoothing > 0:
            # Cross-entropy against (1 - eps) one-hot + eps uniform; gradients only, eval stays exact.
            uniform = -tf.reduce_mean(tf.nn.log_softmax(logits32), axis=-1)
            nll = (1.0 - smoothing) * nll + smoothing * uniform
        correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), target), tf.float32)
        loss_sum = tf.reduce_sum(nll * mask)
        return {"loss_sum": loss_sum, "count": tf.reduce_sum(mask), "neg_loss_sum": -loss_sum,
                "correct": tf.reduce_sum(correct * mask)}

    # -- translation --------------------------------------------------------------------------
    def translator(self, model):
        from zoo.models.slicenet.decoding import Translator

        o = self.options
        return Translator(model, self.vocab, o.max_source_length, o.max_target_length,
                          o.beam_size, o.length_penalty)

    def bleu_report(self, model, limit=None, beam_size=None):
        """BLEU of the model and of copying the source, per target language and overall."""
        pairs = self.test_pairs[: limit or self.options.bleu_sentences]
        tr = self.translator(model)
        hyps = {}
        for lang in self.languages:
            group = [p for p in pairs if p.language == lang]
            for p, h in zip(group, tr.translate([p.source for p in group], lang, beam_size=beam_size)):
                hyps[p] = h
        result = {"bleu": bleu([hyps[p] for p in pairs], [p.target for p in pairs]),
                  "copy_source_bleu": bleu([p.source for p in pairs], [p.target for p in pairs]),
                  "bleu_sentences": len(pairs)}
        if len(self.languages) > 1:
            for lang in self.languages:
                g = [p for p in pairs if p.language == lang]
                if g:
                    result[f"bleu_{lang}"] = bleu([hyps[p] for p in g], [p.target for p in g])
        return result, [(p.source, p.target, hyps[p]) for p in pairs]

    def write_samples(self, model, step):
        import tensorflow as tf

        k = self.config.trainer.text_samples
        if not k:
            return
        pairs = self.test_pairs[:k]
        tr = self.translator(model)
        rows = [f"| {_md(p.source)} | {_md(p.target)} | {_md(h)} |"
                for p in pairs for h in tr.translate([p.source], p.language, beam_size=1)]
        tf.summary.text("translations", "| source | reference | greedy |\n|---|---|---|\n" + "\n".join(rows))

    def _parameters(self, model) -> dict:
        n = int(model.count_params())
        return {"parameters": n, "non_embedding_parameters": n - model.vocab_size * model.filters}

    def final_metrics(self, model):
        report, _ = self.bleu_report(model)
        out = {**report, **self.data_summary(), **self._parameters(model)}
        if self.train_pairs is not None:   # the trivial baseline of the report's gate
            out["most_frequent_token_accuracy"] = most_frequent_token_accuracy(self._train[2], self._test[2])
        return out

    def analyze(self, model, out_dir):
        from zoo.io import atomic_write

        report, rows = self.bleu_report(model, limit=self.config.eval.samples)
        atomic_write(Path(out_dir) / "translations.tsv",
                     "source\treference\ttranslation\n" + "".join(f"{_tsv(s)}\t{_tsv(r)}\t{_tsv(h)}\n"
                                                                 for s, r, h in rows))
        return {**report, **self.data_summary(), **self._parameters(model)}


def _tsv(text: str) -> str:
    """One TSV cell: a byte model can emit tabs and newlines, which would break the columns."""
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:300]
