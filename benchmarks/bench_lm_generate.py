#!/usr/bin/env python
"""Generation milliseconds per token of the WaveNet language model: incremental (Paine et al.,
"Fast Wavenet Generation Algorithm": per-layer queues, `WaveNetLM.step`) vs recomputation (`call`
over the whole prefix, cut to the receptive field, for every new token).

    python benchmarks/bench_lm_generate.py                    # wavenet_lm, 1,000 tokens, 5 rounds (~2.5 min)
    python benchmarks/bench_lm_generate.py --rounds 3 --model tcn_lm --out /tmp/tcn.json

Greedy generation from <eos> (id 0), batch 1, the registered size with random weights (seeded).
Four ways, each generating `--tokens` tokens per call, timed in interleaved rounds
(`common.interleaved`: forwards on even rounds, backwards on odd ones, so a shared machine's
load hits all alike):
    incremental_while   one tf.function: a tf.while_loop over `step` and argmax (the samplers'
                        way, zoo/eval/decoding.py); its wall time / tokens is the real cost
    incremental_while_xla  the same tf.function compiled by XLA (jit_compile=True): one step of
                        wavenet_lm is ~270 small ops and 90 variable reads, so without XLA the
                        executor's per-op overhead, not arithmetic, dominates it
    incremental_steps   a Python loop calling one tf.function (step + argmax) per token
    recompute           a Python loop calling one tf.function per token that runs `call` on the
                        last min(t, R) tokens (R = receptive field: the logits are the same) and
                        takes the argmax of the last position (compute-bound: R positions of
                        every layer per token; not XLA-compiled, each window length would compile)
Whether all four pick the same tokens is checked (`same_tokens`). Prints a table and
writes JSON (`--out`, default benchmarks/results/lm_generate.json): per way the spread of ms per
token over rounds, the per-round ratios recompute / incremental, the load average before and
after, and the machine.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def build(name: str, tokens: int):
    """(model, {way: fn}) where each fn generates `tokens` tokens and returns them as numpy."""
    import keras
    import numpy as np
    import tensorflow as tf

    import zoo

    keras.utils.set_random_seed(0)
    model = zoo.create_model(name, build=True)
    R = model.context_length

    def generate_while():
        def body(t, tok, state, out):
            logits, state = model.step(tok, state)
            tok = tf.argmax(logits, axis=-1, output_type=tf.int32)
            return t + 1, tok, state, out.write(t, tok)

        out = tf.TensorArray(tf.int32, size=tokens)
        _, _, _, out = tf.while_loop(lambda t, *_: t < tokens, body,
                                     (tf.constant(0), tf.zeros([1], tf.int32), model.initial_state(1), out))
        return out.stack()[:, 0]

    @tf.function
    def one_step(tok, state):
        logits, state = model.step(tok, state)
        return tf.argmax(logits, axis=-1, output_type=tf.int32), state

    def generate_steps():
        tok, state, out = tf.zeros([1], tf.int32), model.initial_state(1), []
        for _ in range(tokens):
            tok, state = one_step(tok, state)
            out.append(tok)
        return np.concatenate([t.numpy() for t in out])

    @tf.function(input_signature=[tf.TensorSpec([1, None], tf.int32)])
    def next_token(window):
        return tf.argmax(model(window, training=False)[0, -1], output_type=tf.int32)

    def generate_recompute():
        ids = np.zeros(tokens + 1, "int32")       # ids[0] = <eos>, the start context
        for t in range(tokens):
            ids[t + 1] = int(next_token(ids[None, max(0, t + 1 - R):t + 1]))
        return ids[1:]

    def run(fn):
        return lambda: np.asarray(fn())

    return model, {"incremental_while": run(tf.function(generate_while)),
                   "incremental_while_xla": run(tf.function(generate_while, jit_compile=True)),
                   "incremental_steps": run(generate_steps), "recompute": run(generate_recompute)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="wavenet_lm", help="a registered LM with step() and context_length")
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=str(common.RESULTS_DIR / "lm_generate.json"))
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    load_before = [round(x, 2) for x in os.getloadavg()]

    t0 = time.perf_counter()
    model, fns = build(args.model, args.tokens)
    outputs = {name: fn() for name, fn in fns.items()}   # traces, and the tokens to compare
    setup_s = time.perf_counter() - t0
    ref = outputs["recompute"]
    same = {name: bool((out == ref).all()) for name, out in outputs.items()}
    first_diff = {name: (None if same[name] else int((out != ref).argmax())) for name, out in outputs.items()}

    times = common.interleaved(fns, rounds=args.rounds, warmup=0)
    ms = {name: [1000.0 * s / args.tokens for s in v] for name, v in times.items()}
    ratios = {f"recompute_over_{name}": common.spread(common.per_round_ratio(ms["recompute"], ms[name]))
              for name in ms if name != "recompute"}
    load_after = [round(x, 2) for x in os.getloadavg()]

    rows = [{"way": name, "ms/token median": common.median(v), "q1": common.spread(v)["q1"],
             "q3": common.spread(v)["q3"], "same tokens": same[name]} for name, v in ms.items()]
    print(f"{args.model}: {model.count_params():,} parameters, receptive field {model.context_length}, "
          f"{args.tokens} tokens, batch 1, {args.rounds} rounds")
    print(common.format_table(rows))
    for key, s in ratios.items():
        print(f"{key}: {s['median']:.1f}x (q1-q3 {s['q1']:.1f}-{s['q3']:.1f})")
    print(f"load average (1/5/15 min) before {load_before}, after {load_after}")
    out = common.atomic_write_json(args.out, {
        "benchmark": "lm_generate", "model": args.model, "config": model.get_config(),
        "parameters": model.count_params(), "receptive_field": model.context_length,
        "tokens": args.tokens, "batch": 1, "rounds": args.rounds, "setup_s": setup_s,
        "ms_per_token": {name: {**common.spread(v), "rounds": v} for name, v in ms.items()},
        "ratios": ratios, "same_tokens": same, "first_different_token": first_diff,
        "load_average_before": load_before, "load_average_after": load_after,
        "machine": common.machine_info(),
        "notes": "greedy generation from <eos> with random (seeded) weights; recompute runs call() on "
                 "the last min(t, receptive_field) tokens per new token"})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
