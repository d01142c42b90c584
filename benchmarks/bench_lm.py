#!/usr/bin/env python
"""Speed of the language-model family (issue 12's speed section), three measurements:

    python benchmarks/bench_lm.py train      # training tokens/s: LSTM, WaveNet, TCN of equal size
    python benchmarks/bench_lm.py serve      # generation ms/token: SavedModel vs in-process Python
    python benchmarks/bench_lm.py ngram      # Kneser-Ney counting tokens/s and memory, n = 10
    python benchmarks/bench_lm.py all        # the three, one JSON each

train: one Adam step (forward, backward, update; clipping 10) on a batch of 32 windows of 100
    character ids, as `zoo train lm/char_*` runs it (one tf.function per step, no XLA). The LSTM
    and TCN are sized to the registered WaveNet's parameter count (within a few percent; the
    JSON has each count). Interleaved rounds of `--steps` steps each; tokens/s = 3,200 / step.
serve: 1,000 sampled tokens (temperature 1, seeded) from a random-weight `wavenet_lm` and
    `lstm_lm` (their <eos> logit biased to -30 so that no sample ends early), through (a) the SavedModel's `generate` signature loaded with
    `tf.saved_model.load` (what `zoo generate` calls) and (b) the same `generate_ids` in a
    tf.function in this process. Interleaved rounds; ms/token = wall / 1,000.
ngram: `count_ngrams` at order 10 over the training stream of the Wikipedia extract (characters,
    the lm/char_ngram recipe's tokenizer): tokens/s over rounds, the tables' bytes, and the peak
    Python-heap memory of one count (tracemalloc).
Each prints a table and writes JSON under benchmarks/results/ (`--out` for another folder), with
the load average before and after and the machine.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

V, B, T = 200, 32, 100


def _params(name, **kw):
    import zoo

    return zoo.create_model(name, build=True, vocab_size=V, **kw).count_params()


def _sized(name, key, target, lo, hi, **fixed):
    """The integer value of `key` in [lo, hi] whose parameter count is closest to `target`."""
    best = min(range(lo, hi + 1, 4), key=lambda v: abs(_params(name, **{key: v}, **fixed) - target))
    return {key: best, **fixed}


def bench_train(args):
    import keras
    import numpy as np
    import tensorflow as tf

    import zoo

    target = _params("wavenet_lm")
    configs = {"wavenet_lm": {}, "lstm_lm": _sized("lstm_lm", "units", target, 64, 512, embedding_dim=64),
               "tcn_lm": _sized("tcn_lm", "channels", target, 32, 256)}
    rng = np.random.default_rng(0)
    x = tf.constant(rng.integers(0, V, (B, T)), tf.int32)
    y = tf.constant(rng.integers(0, V, (B, T)), tf.int32)
    fns, params = {}, {}
    for name, kw in configs.items():
        keras.utils.set_random_seed(0)
        model = zoo.create_model(name, build=True, vocab_size=V, **kw)
        params[name] = int(model.count_params())
        step = common.lm_train_step(model, keras.optimizers.Adam(1e-3, clipnorm=10.0))

        def run(step=step):
            for _ in range(args.steps):
                loss = step(x, y)
            float(loss)

        run()  # trace
        fns[name] = run
    load = [round(v, 2) for v in os.getloadavg()]
    times = common.interleaved(fns, rounds=args.rounds, warmup=0)
    tps = {n: [B * T * args.steps / s for s in v] for n, v in times.items()}
    rows = [{"model": n, "parameters": params[n], "config": str(configs[n]), "tokens/s median": common.median(v),
             "q1": common.spread(v)["q1"], "q3": common.spread(v)["q3"]} for n, v in tps.items()]
    print(common.format_table(rows))
    ratios = {f"{a}_over_lstm_lm": common.spread(common.per_round_ratio(tps[a], tps["lstm_lm"]))
              for a in ("wavenet_lm", "tcn_lm")}
    return {"what": "training tokens per second, batch 32 x 100, Adam + clipping, tf.function",
            "parameters": params, "configs": configs, "tokens_per_second": {n: {**common.spread(v), "rounds": v}
                                                                            for n, v in tps.items()},
            "ratios": ratios, "steps_per_round": args.steps, "load_before": load}


def bench_serve(args):
    import keras
    import tensorflow as tf

    import zoo
    from zoo.models.lm.export import LMServing
    from zoo.models.lm.generate import generate_ids
    from zoo.models.lm.tokenizers import fit_tokenizer
    from pydoc_data.topics import topics

    tok = fit_tokenizer("char", list(topics.values()), V)
    fns, tmp = {}, Path(tempfile.mkdtemp(prefix="bench_lm_"))
    n = args.tokens
    loaded = {}
    for name in ("wavenet_lm", "lstm_lm"):
        keras.utils.set_random_seed(0)
        model = zoo.create_model(name, build=True, vocab_size=tok.vocab_size)
        # <eos> made (almost) impossible, so every call generates exactly n tokens.
        bias = model.head.bias if name == "lstm_lm" else model.output2.bias
        bias.assign(tf.tensor_scatter_nd_update(bias, [[0]], [-30.0]))
        module = LMServing(model, tok)
        path = tmp / name
        tf.saved_model.save(module, str(path), signatures={"generate": module.generate})
        loaded[name] = tf.saved_model.load(str(path))
        sig = loaded[name].signatures["generate"]
        feed = dict(prompt=tf.constant("The "), max_tokens=tf.constant(n), temperature=tf.constant(1.0),
                    top_k=tf.constant(0), top_p=tf.constant(1.0), seed=tf.constant(1, tf.int64))
        # No <eos> may stop a row early: the measured count is exactly n tokens (id 0 masked).
        ids = tf.constant([tok.encode("The ")], tf.int32)
        python = tf.function(lambda: generate_ids(model, ids, n, temperature=1.0, seed=(1, 0))[0])
        got = int(sig(**feed)["tokens"].numpy())
        if got != n:
            raise RuntimeError(f"{name} generated {got} tokens, not {n}")
        fns[f"{name}/savedmodel"] = lambda sig=sig, feed=feed: sig(**feed)["text"].numpy()
        fns[f"{name}/python"] = lambda python=python: python().numpy()
        for fn in (fns[f"{name}/savedmodel"], fns[f"{name}/python"]):
            fn()
    load = [round(v, 2) for v in os.getloadavg()]
    times = common.interleaved(fns, rounds=args.rounds, warmup=0)
    ms = {k: [1000 * s / n for s in v] for k, v in times.items()}
    rows = [{"way": k, "ms/token median": common.median(v), "q1": common.spread(v)["q1"],
             "q3": common.spread(v)["q3"]} for k, v in ms.items()]
    print(common.format_table(rows))
    ratios = {f"{m}_savedmodel_over_python": common.spread(common.per_round_ratio(ms[f"{m}/savedmodel"], ms[f"{m}/python"]))
              for m in ("wavenet_lm", "lstm_lm")}
    return {"what": f"ms per generated token over {n} sampled tokens, batch 1", "tokens": n,
            "ms_per_token": {k: {**common.spread(v), "rounds": v} for k, v in ms.items()},
            "ratios": ratios, "load_before": load,
            "note": "random weights with the <eos> logit biased to -30: every call generates exactly `tokens` tokens"}


def bench_ngram(args):
    import tracemalloc

    import numpy as np

    from zoo.config import load_recipe
    from zoo.models.lm.ngram import count_ngrams
    from zoo.registry import create_task

    task = create_task(load_recipe("lm/char_ngram"))
    task.load_data()
    ids, _ = task.stream("train")
    times = []
    for _ in range(args.rounds):
        t = time.perf_counter()
        tables = count_ngrams(ids, 10, task.tokenizer.vocab_size)
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    count_ngrams(ids, 10, task.tokenizer.vocab_size)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tps = [len(ids) / s for s in times]
    row = {"tokens": len(ids), "tokens/s median": common.median(tps), "seconds median": common.median(times),
           "tables MiB": round(tables.nbytes / 2 ** 20, 1), "peak MiB": round(peak / 2 ** 20, 1),
           "entries": int(np.sum(tables.sizes))}
    print(common.format_table([row]))
    return {"what": "interpolated Kneser-Ney counting at order 10, Wikipedia extract (characters)",
            **row, "seconds": common.spread(times), "tokens_per_second": common.spread(tps),
            "table_sizes": list(map(int, tables.sizes))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["train", "serve", "ngram", "all"])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=5, help="train: steps per round")
    p.add_argument("--tokens", type=int, default=1000, help="serve: generated tokens per call")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = p.parse_args(argv)
    todo = ["train", "serve", "ngram"] if args.what == "all" else [args.what]
    for what in todo:
        start = time.time()
        result = {"train": bench_train, "serve": bench_serve, "ngram": bench_ngram}[what](args)
        result.update(load_after=[round(v, 2) for v in os.getloadavg()], seconds=round(time.time() - start, 1),
                      machine=common.machine_info(), command=" ".join(["python benchmarks/bench_lm.py", *sys.argv[1:]]))
        out = common.atomic_write_json(Path(args.out) / f"lm_{what}.json", result)
        print(f"-> {out}")


if __name__ == "__main__":
    main()
