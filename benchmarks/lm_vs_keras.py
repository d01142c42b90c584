#!/usr/bin/env python
"""The zoo's LSTM/GRU language models against a plain Keras model of the same size, on the same
batches (issue 26: the recipes' U[-0.01, 0.01] start left the zoo's LMs 0.4-1.8 bpc behind).

    python benchmarks/lm_vs_keras.py                         # LSTM and GRU, 64 units, 300 steps
    python benchmarks/lm_vs_keras.py --units 256 --steps 1000 --cells lstm,gru

Data: the `lm/char_lstm` recipe's task (characters of the Wikipedia extract, non-overlapping
windows of 100), its training windows in the trainer's order for pass 0, then pass 1, ...; held
out: the first `--test-windows` windows of its test split. Every arm takes the same batches, the
same optimizer (Adam 1e-3, clipping 10, the recipe's) and the same number of steps, and is scored
by held-out bits per character (mean cross-entropy / ln 2; one token is one character).

Arms per cell: `keras` (Embedding -> keras.layers.LSTM/GRU -> Dense, Keras's own initialisers),
`zoo` (the registered `lstm_lm`/`gru_lm` with `init_scale: null`, as the char recipes now start)
and `zoo_init_0.01` (the same with the recipes' former U[-0.01, 0.01]). Prints a table and writes
benchmarks/results/lm_vs_keras.json (`--out` for another file).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def _data(args):
    import numpy as np

    from zoo.config import load_recipe
    from zoo.registry import create_model, create_task

    config = load_recipe("lm/char_lstm", [f"data.batch_size={args.batch}", f"data.seed={args.seed}"])
    task = create_task(config)
    task.load_data()
    vocab = task.model_arguments()["vocab_size"]
    probe = create_model("lstm_lm", vocab_size=vocab, units=8, embedding_dim=8)
    batches, pass_index = [], 0
    while len(batches) < args.steps:
        for batch in task.train_dataset(probe, pass_index):
            batches.append((batch["x"].numpy(), batch["y"].numpy()))
            if len(batches) == args.steps:
                break
        pass_index += 1
    x, y, w = task._windows("test", limit=args.test_windows)
    assert float(np.min(w)) == 1.0   # no context padding: every target is scored
    return vocab, batches, (x, y)


def _keras_model(cell, vocab, units, embedding_dim):
    import keras

    rnn = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(vocab, embedding_dim),
                              rnn(units, return_sequences=True), keras.layers.Dense(vocab)])
    return model


def _zoo_model(cell, vocab, units, embedding_dim, init_scale):
    from zoo.registry import create_model

    return create_model(f"{cell}_lm", build=True, vocab_size=vocab, units=units, embedding_dim=embedding_dim,
                        init_scale=init_scale, seed=None)


def _train_and_score(model, batches, test, args):
    import keras
    import numpy as np
    import tensorflow as tf

    step = common.lm_train_step(model, keras.optimizers.Adam(args.lr, clipnorm=10.0))

    @tf.function(reduce_retracing=True)   # the last test batch may be shorter
    def nll_sum(x, y):
        logits = tf.cast(model(x, training=False), tf.float32)
        return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))

    def bpc():
        x, y = test
        total = sum(float(nll_sum(tf.constant(x[i:i + 64]), tf.constant(y[i:i + 64])))
                    for i in range(0, len(x), 64))
        return total / y.size / math.log(2)

    curve, start = [], time.time()
    for i, (x, y) in enumerate(batches, 1):
        step(tf.constant(x), tf.constant(y))
        if i % args.eval_every == 0 or i == len(batches):
            curve.append([i, round(bpc(), 4)])
    return {"bpc": curve[-1][1], "curve": curve, "parameters": int(model.count_params()),
            "seconds": round(time.time() - start, 1)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", default="lstm,gru")
    p.add_argument("--units", type=int, default=64)
    p.add_argument("--embedding-dim", type=int, default=64)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--test-windows", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(common.RESULTS_DIR / "lm_vs_keras.json"))
    args = p.parse_args(argv)

    import keras
    import numpy as np

    from zoo.provenance import provenance

    vocab, batches, test = _data(args)
    results, rows = {}, []
    for cell in args.cells.split(","):
        arms = {"keras": lambda: _keras_model(cell, vocab, args.units, args.embedding_dim),
                "zoo": lambda: _zoo_model(cell, vocab, args.units, args.embedding_dim, None),
                "zoo_init_0.01": lambda: _zoo_model(cell, vocab, args.units, args.embedding_dim, 0.01)}
        for arm, make in arms.items():
            keras.utils.set_random_seed(args.seed)
            r = _train_and_score(make(), batches, test, args)
            results[f"{cell}/{arm}"] = r
            rows.append({"cell": cell, "model": arm, "parameters": r["parameters"],
                         f"held-out bpc at {args.steps} steps": r["bpc"],
                         "curve (step: bpc)": " ".join(f"{s}:{b:.3f}" for s, b in r["curve"]),
                         "seconds": r["seconds"]})
    counts = np.bincount(np.concatenate([y.ravel() for _, y in batches]), minlength=vocab) + 1.0
    q = counts / counts.sum()
    unigram = round(float(-np.mean(np.log2(q[test[1].ravel()]))), 4)
    print(common.format_table(rows))
    print(f"unigram baseline (training-batch counts, add-one): {unigram} bpc on the same held-out text")
    out = {"benchmark": "lm_vs_keras", "what": "held-out bits per character after equal steps on the same batches",
           "settings": vars(args), "vocab_size": vocab, "test_characters": int(test[1].size),
           "unigram_bpc": unigram, "results": results, "machine": common.machine_info(),
           "load": [round(v, 2) for v in os.getloadavg()], "provenance": provenance()}
    common.atomic_write_json(Path(args.out), out)
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    import zoo_env

    zoo_env.apply()
    sys.exit(main())
