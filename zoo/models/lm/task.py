"""The language-modelling task: next-token prediction on a real corpus, in nats per token (the
loss), perplexity, bits per token and bits per character (the lecture "Deep Sequence Modeling":
perplexity; Semeniuta, "Recurrent Neural Networks for Discriminative and Generative Learning",
§3.4.3: bits per character). Bits per character divide by the text's characters whatever the
tokenizer, so word, piece and character models compare on one scale.

Data: the corpus's items are documents (a Wikipedia article, a news story, a help topic); the
test split is by document (`zoo.data.split_paragraphs`, by content hash), never a sentence of
one document in both. A split is one token stream: <eos>, then every document's tokens each
followed by <eos>.

Batching (`mode`):
- "stateful": truncated backpropagation through time with the state carried across
  consecutive batches (word-level PTB practice, Zaremba et al. 2014, §4.1): the stream is cut
  into `batch_size` rows, batch i holds columns [iT, (i+1)T) of every row, and each row's last
  state is the next batch's initial state (reset at the start of every pass; the pass's start
  column moves with the pass so window boundaries differ between passes). The evaluation
  carries the state over the test stream the same way. Needs a recurrent model.
- "windows": non-overlapping windows of `length` tokens, shuffled per pass, each from the
  beginning-of-text state (character-level practice, Semeniuta §3.4.3). Models with a bounded
  context (n-gram, WaveNet, TCN) are evaluated with up to `length` tokens of left context
  before every window, so each scored token sees its full context where the model has one.

An n-gram model is trained by counting (a phase with no gradient): the counts are made in
`load_data` from the training stream and assigned to the model's tables.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from zoo.config import PositiveFloat, PositiveInt, RecipeError
from zoo.data.errors import ZooDataError
from zoo.eval.metrics import Metric, nats_to_bits, perplexity
from zoo.registry import model_entry, register_task, resolved_model_args
from zoo.training.task import Phase, Task

EOS, UNK = 0, 1


@dataclass(frozen=True)
class LMOptions:
    tokenizer: Literal["char", "byte", "word", "sentencepiece"] = "char"
    vocab_size: PositiveInt = 256        # the tokenizer's size, <eos> and <unk> included
    lowercase: bool = False              # word tokenizer: lowercase the text first
    mode: Literal["stateful", "windows"] = "windows"
    length: PositiveInt = 100            # BPTT length (stateful) or window length (windows)
    eval_batch_size: PositiveInt | None = None   # default: data.batch_size
    max_train_tokens: PositiveInt | None = None  # cap on the training stream (quick runs)
    max_test_tokens: PositiveInt | None = None
    sample_tokens: PositiveInt = 200     # length of the generated TensorBoard samples
    sample_temperature: PositiveFloat = 1.0


@register_task("lm", smoke_recipe="lm/smoke")
class LanguageModelTask(Task):
    """Next-token prediction; see the module docstring."""

    Options = LMOptions
    objective = "bits_per_char"
    metrics = {"loss": Metric("loss_sum"), "perplexity": Metric("loss_sum", transform=perplexity),
               "bits_per_token": Metric("loss_sum", transform=nats_to_bits),
               "bits_per_char": Metric("loss_sum", "chars", transform=nats_to_bits)}

    # -- data --------------------------------------------------------------------------------
    def _model_args(self) -> dict:
        return resolved_model_args(self.config.model)

    @property
    def counted(self) -> bool:
        """Whether the recipe's model is trained by counting (an n-gram model)."""
        return bool(getattr(model_entry(self.config.model.name).factory, "counted", False))

    def load_data(self):
        from zoo.data import train_test_documents
        from zoo.models.lm.tokenizers import fit_tokenizer

        d, o = self.config.data, self.options
        train, test = train_test_documents(d)
        self.train_docs = [p.decode("utf-8", errors="replace") for p in train]
        self.test_docs = [p.decode("utf-8", errors="replace") for p in test]
        opts = {"lowercase": o.lowercase} if o.tokenizer == "word" else {}
        if o.lowercase and o.tokenizer != "word":
            raise RecipeError(f"task.lowercase applies to the word tokenizer, not {o.tokenizer!r}")
        try:
            self.tokenizer = fit_tokenizer(o.tokenizer, self.train_docs, o.vocab_size, **opts)
        except ValueError as e:
            raise RecipeError(f"task.tokenizer {o.tokenizer} with task.vocab_size {o.vocab_size}: {e}") from None
        self._streams = {}
        self.tables = None
        if self.counted:
            from zoo.models.lm.ngram import count_ngrams

            args = self._model_args()
            ids, _ = self.stream("train")
            try:
                self.tables = count_ngrams(ids, int(args["order"]), self.tokenizer.vocab_size,
                                           modified=bool(args.get("modified", False)))
            except ValueError as e:
                raise RecipeError(f"n-gram model: {e}") from None

    def model_arguments(self):
        args = {"vocab_size": int(self.tokenizer.vocab_size)}
        if self.tables is not None:
            args["table_sizes"] = [int(n) for n in self.tables.sizes]
        return args

    def stream(self, split: str):
        """(token ids of the split's stream, characters it stands for): <eos> doc_1 <eos> ..."""
        if split not in self._streams:
            docs = self.train_docs if split == "train" else self.test_docs
            parts = [np.array([EOS], np.int32)]
            for doc in docs:
                parts += [self.tokenizer.encode_array(doc), np.array([EOS], np.int32)]
            ids = np.concatenate(parts)
            cap = self.options.max_train_tokens if split == "train" else self.options.max_test_tokens
            chars = sum(self.tokenizer.units(doc) + 1 for doc in docs)   # +1: the document's end
            if cap and len(ids) > cap + 1:
                chars = chars * cap / (len(ids) - 1)
                ids = ids[: cap + 1]
            self._streams[split] = (ids, float(chars))
        return self._streams[split]

    def chars_per_token(self, split: str) -> float:
        ids, chars = self.stream(split)
        return chars / max(1, len(ids) - 1)

    def save_artifacts(self, folder):
        from zoo.io import atomic_write_json

        folder = Path(folder)
        atomic_write_json(folder / "tokenizer.json", self.tokenizer.to_json())
        atomic_write_json(folder / "test_documents.json", self.test_docs)
        atomic_write_json(folder / "data_summary.json", self.data_summary())

    def restore(self, folder):
        from zoo.models.lm.tokenizers import Tokenizer

        folder = Path(folder)
        files = [folder / n for n in ("tokenizer.json", "test_documents.json", "data_summary.json")]
        if not all(f.is_file() for f in files):
            return False
        self.tokenizer = Tokenizer.from_json(json.loads(files[0].read_text(encoding="utf-8")))
        self.test_docs = json.loads(files[1].read_text(encoding="utf-8"))
        self.train_docs = []
        self._summary = json.loads(files[2].read_text(encoding="utf-8"))
        self._streams, self.tables = {}, None
        return True

    def data_summary(self):
        if getattr(self, "_summary", None):
            return dict(self._summary)
        out = {"test_documents": len(self.test_docs), "vocab_size": int(self.tokenizer.vocab_size),
               "test_tokens": int(len(self.stream("test")[0]) - 1),
               "test_chars": int(self.stream("test")[1])}
        if self.train_docs:
            out.update(train_documents=len(self.train_docs),
                       train_tokens=int(len(self.stream("train")[0]) - 1),
                       train_chars=int(self.stream("train")[1]),
                       train_unknown=int(sum(self.tokenizer.count_unknown(d) for d in self.train_docs)))
        out["test_unknown"] = int(sum(self.tokenizer.count_unknown(d) for d in self.test_docs))
        return out

    def check_model(self, model):
        if getattr(model, "vocab_size", None) != self.tokenizer.vocab_size:
            raise RecipeError(f"the model has vocab_size {getattr(model, 'vocab_size', None)} but the "
                              f"tokenizer {self.tokenizer.vocab_size}")
        if self.options.mode == "stateful" and model.context_length is not None:
            raise RecipeError("task.mode stateful carries a recurrent state across batches; "
                              f"{type(model).__name__} has none: use task.mode=windows")

    # -- batches -----------------------------------------------------------------------------
    def _stateful(self, split, rows: int, pass_index: int):
        """(x, y, first) arrays [n * rows, T]: batch i of `rows` rows is columns [iT, (i+1)T) of
        every row; row r starts at shift + r * L (the shift moves with the training pass)."""
        T = self.options.length
        ids, _ = self.stream(split)
        L = (len(ids) - T) // rows          # room for any shift < T: the same n in every pass
        n = (L - 1) // T
        if n < 1:
            raise ZooDataError(f"a stream of {len(ids)} tokens is too short for {rows} rows of "
                               f"{T + 1}; lower data.batch_size (or task.eval_batch_size) or task.length")
        shift = (pass_index * (T // 2 + 1)) % T if split == "train" else 0
        cols = (shift + np.arange(rows)[None, :, None] * L + np.arange(n)[:, None, None] * T
                + np.arange(T)[None, None, :])               # [n, rows, T]
        first = np.zeros((n, rows), np.float32)
        first[0] = 1.0
        return ids[cols].reshape(-1, T), ids[cols + 1].reshape(-1, T), first.reshape(-1)

    def _windows(self, split, context: int = 0, limit: int | None = None):
        """(x, y, weight) [n, context + T]: non-overlapping windows of T scored targets, each after
        up to `context` tokens of the stream before it (<eos> padding at the very start)."""
        T = self.options.length
        ids, _ = self.stream(split)
        n = (len(ids) - 1) // T
        if n < 1:
            raise ZooDataError(f"a stream of {len(ids)} tokens is shorter than one window of {T + 1}")
        if limit:
            n = min(n, limit)
        padded = np.concatenate([np.zeros(context, np.int32), ids])
        idx = np.arange(n)[:, None] * T + np.arange(context + T)[None, :]
        x = padded[idx]
        y = np.zeros_like(x)
        y[:, context:] = ids[np.arange(n)[:, None] * T + 1 + np.arange(T)[None, :]]
        w = np.zeros(x.shape, np.float32)
        w[:, context:] = 1.0
        return x, y, w

    def eval_context(self, model) -> int:
        c = model.context_length
        return 0 if c is None else min(int(c) - 1, self.options.length)

    def train_dataset(self, model, pass_index):
        import tensorflow as tf

        self.check_model(model)
        B = self.config.data.batch_size
        if self.options.mode == "stateful":
            x, y, first = self._stateful("train", B, pass_index)
            ds = tf.data.Dataset.from_tensor_slices({"x": x, "y": y, "first": first})
        else:
            x, y, w = self._windows("train")
            ds = tf.data.Dataset.from_tensor_slices({"x": x, "y": y, "w": w})
            ds = ds.shuffle(len(x), seed=self.config.data.seed + pass_index, reshuffle_each_iteration=False)
        return ds.batch(B, drop_remainder=True)

    def eval_dataset(self, model):
        import tensorflow as tf

        self.check_model(model)
        B = self.options.eval_batch_size or self.config.data.batch_size
        if self.options.mode == "stateful":
            x, y, first = self._stateful("test", B, 0)
            self._eval_carry(model, B)
            return tf.data.Dataset.from_tensor_slices({"x": x, "y": y, "first": first}).batch(B, drop_remainder=True)
        x, y, w = self._windows("test", self.eval_context(model))
        return tf.data.Dataset.from_tensor_slices({"x": x, "y": y, "w": w}).batch(B)

    def distributed_eval(self, model):
        return self.options.mode != "stateful"   # one carried state over whole eval batches

    # -- the carried state (stateful mode) ---------------------------------------------------
    def _carry_variables(self, model, rows, sync: bool):
        import tensorflow as tf

        kw = dict(synchronization=tf.VariableSynchronization.ON_READ,
                  aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA) if sync else {}
        module = tf.Module(name="carried_state")
        module.states = [tf.Variable(tf.zeros(s.shape, tf.float32), trainable=False, name=f"state{i}", **kw)
                         for i, s in enumerate(model.initial_state(rows))]
        return module

    def _eval_carry(self, model, rows):
        if getattr(self, "_eval_state", None) is None or self._eval_state.states[0].shape[0] != rows:
            self._eval_state = self._carry_variables(model, rows, sync=False)

    def _carried(self, model, batch, variables, training):
        """Logits of a stateful batch from the carried state, which is then replaced."""
        import tensorflow as tf

        keep = 1.0 - tf.cast(batch["first"], tf.float32)[:, None]
        state = tuple(tf.cast(v.read_value() * keep, model.compute_dtype) for v in variables)
        logits, new = model.forward(batch["x"], initial_state=state, training=training)
        for v, s in zip(variables, new):
            v.assign(tf.stop_gradient(tf.cast(s, tf.float32)))
        return logits

    def phases(self, model):
        if self.counted:
            return [Phase("count", (), assign=lambda: model.assign_tables(self.tables))]
        if self.options.mode != "stateful":
            return super().phases(model)
        import tensorflow as tf

        from zoo.training.task import Update

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        B = self.config.data.batch_size
        if B % replicas:
            raise RecipeError(f"task.mode stateful splits the {B} rows over {replicas} replicas: "
                              f"make data.batch_size a multiple of {replicas}")
        carry = self._carry_variables(model, B // replicas, sync=True)
        self._train_state = carry

        def sums(model, batch, *, step, training):
            logits = self._carried(model, batch, carry.states, training)
            return self._sums(logits, batch["y"], None, "train")

        return [Phase("train", (Update("model", sums, lambda: model.trainable_variables),),
                      carried={"carried_state": carry})]

    # -- losses ------------------------------------------------------------------------------
    def _sums(self, logits, y, w, split):
        import tensorflow as tf

        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y, tf.int32),
                                                             logits=tf.cast(logits, tf.float32))
        if w is None:
            count = tf.cast(tf.size(y), tf.float32)
            total = tf.reduce_sum(nll)
        else:
            w = tf.cast(w, tf.float32)
            count, total = tf.reduce_sum(w), tf.reduce_sum(nll * w)
        return {"loss_sum": total, "count": count, "chars": count * self.chars_per_token(split)}

    def batch_sums(self, model, batch, *, step, training):
        return self._sums(model(batch["x"], training=training), batch["y"], batch.get("w"),
                          "train" if training else "test")

    def eval_sums(self, model, batch, *, step):
        if "first" in batch:
            return self._sums(self._carried(model, batch, self._eval_state.states, False), batch["y"],
                              None, "test")
        return self.batch_sums(model, batch, step=step, training=False)

    # -- reporting ---------------------------------------------------------------------------
    def generate(self, model, prompts: list[str], max_tokens: int, seed: int = 0, **sampler) -> list[str]:
        """Continuations of `prompts` (Python side of what the SavedModel's `generate` does)."""
        import tensorflow as tf

        from zoo.models.lm.generate import generate_ids

        out = []
        for i, prompt in enumerate(prompts):
            ids = tf.constant([self.tokenizer.encode(prompt)], tf.int32)
            seqs, _, _ = generate_ids(model, tf.reshape(ids, [1, -1]), max_tokens, seed=(seed, i), **sampler)
            out.append(self.tokenizer.decode([t for t in seqs[0].numpy().tolist() if t > EOS]))
        return out

    def write_samples(self, model, step):
        import tensorflow as tf

        n = self.config.trainer.text_samples
        if not n:
            return
        prompts = [""] + [doc[:40] for doc in self.test_docs[: n - 1]]
        texts = self.generate(model, prompts, self.options.sample_tokens, seed=step,
                              temperature=self.options.sample_temperature)
        rows = [f"**prompt** `{p!r}` → {t!r}" for p, t in zip(prompts, texts)]
        tf.summary.text("samples", "\n\n".join(rows))

    def final_metrics(self, model):
        out = dict(self.data_summary())
        if model.context_length is not None:
            out["context_length"] = int(model.context_length)
        return out

    def analyze(self, model, out_dir):
        return self.final_metrics(model)

