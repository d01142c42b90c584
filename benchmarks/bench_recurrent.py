"""Training-step time of our dropout LSTM vs keras.layers.LSTM (issue 4 benchmark).

Batch 32, length 100, 256 units (input 256-d), one SGD step (forward, backward, update) of a
mean-squared loss on the last output. Variants:
    keras_lstm             keras.layers.LSTM, no dropout (the reference)
    keras_lstm_rec_dropout keras.layers.LSTM(recurrent_dropout=0.25) (Gal's scheme, per sequence)
    ours_no_dropout        DropoutRNN(DropoutLSTMCell(scheme="none"))
    ours_semeniuta         DropoutRNN(DropoutLSTMCell(0.25, scheme="semeniuta", per_step)) (eq. 3.3.10):
                           all T masks drawn in one call and x@W+b for all steps before the loop
    ours_semeniuta_in_loop keras.layers.RNN(same cell): a fresh mask drawn inside every step
each with and without XLA (tf.function(jit_compile=True)), and each in a subprocess with
TF_ENABLE_ONEDNN_OPTS=1 and =0 (it must be set before TensorFlow loads).

    python benchmarks/bench_recurrent.py [--steps 10] [--quick]

prints a table and writes benchmarks/results/recurrent.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = ("keras_lstm", "keras_lstm_rec_dropout", "ours_no_dropout", "ours_semeniuta",
            "ours_semeniuta_in_loop")
RESULTS = Path(__file__).resolve().parent / "results" / "recurrent.json"


def _layer(variant, units):
    import keras

    from zoo.layers.dropout_rnn import DropoutLSTMCell, DropoutRNN

    if variant == "keras_lstm":
        return keras.layers.LSTM(units)
    if variant == "keras_lstm_rec_dropout":
        return keras.layers.LSTM(units, recurrent_dropout=0.25)
    if variant == "ours_no_dropout":
        return DropoutRNN(DropoutLSTMCell(units, scheme="none"))
    cell = DropoutLSTMCell(units, recurrent_dropout=0.25, scheme="semeniuta", mask_sampling="per_step")
    if variant == "ours_semeniuta":
        return DropoutRNN(cell)
    if variant == "ours_semeniuta_in_loop":
        return keras.layers.RNN(cell)
    raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")


def measure(variant, jit, steps, batch=32, length=100, units=256):
    """Median seconds per training step of one variant (run inside the child process)."""
    import numpy as np
    import tensorflow as tf
    import keras

    layer = _layer(variant, units)
    layer.build((None, length, units))
    opt = keras.optimizers.SGD(0.01)
    opt.build(layer.trainable_variables)
    x = tf.constant(np.random.default_rng(0).normal(size=(batch, length, units)).astype("float32"))
    y = tf.zeros((batch, units))

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x, training=True) - y))
        grads = tape.gradient(loss, layer.trainable_variables)
        opt.apply_gradients(zip(grads, layer.trainable_variables))
        return loss

    fn = tf.function(step, jit_compile=jit)
    for _ in range(2):
        fn(x, y).numpy()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn(x, y).numpy()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def child(args):
    import zoo  # noqa: F401  (registers the cells; TF_ENABLE_ONEDNN_OPTS is as the parent set it)

    out = {}
    for variant in args.variants.split(","):
        for jit in (False, True):
            key = f"{variant}{'_xla' if jit else ''}"
            try:
                out[key] = measure(variant, jit, args.steps)
            except Exception as e:  # e.g. XLA refusing a graph: report it, keep measuring
                out[key] = f"error: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
    print("RESULT " + json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--onednn", default="1,0", help="TF_ENABLE_ONEDNN_OPTS values to run")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    results = {}
    for flag in args.onednn.split(","):
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": flag, "TF_CPP_MIN_LOG_LEVEL": "2"}
        proc = subprocess.run([sys.executable, __file__, "--child", "--steps", str(args.steps),
                               "--variants", args.variants], env=env, capture_output=True, text=True)
        line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
        if proc.returncode or not line:
            raise SystemExit(f"benchmark child (oneDNN={flag}) failed:\n{proc.stderr[-3000:]}")
        results[f"onednn_{flag}"] = json.loads(line[0][7:])
    ref = results.get("onednn_1", {}).get("keras_lstm")
    print(f"{'variant':<32}" + "".join(f"{k:>14}" for k in results))
    rows = sorted({k for r in results.values() for k in r})
    for k in rows:
        cells = []
        for r in results.values():
            v = r.get(k)
            cells.append(f"{v * 1000:11.1f} ms" if isinstance(v, float) else f"{'n/a':>14}")
        print(f"{k:<32}" + "".join(cells))
    if isinstance(ref, float):
        ratios = {k: round(v / ref, 3) for k, v in results["onednn_1"].items() if isinstance(v, float)}
        print("ratio to keras_lstm (oneDNN on, no XLA):", ratios)
    load = os.getloadavg()
    print(f"load average during the run (1/5/15 min): {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    payload = {"load_average": [round(x, 2) for x in load], "batch": 32, "length": 100, "units": 256, "steps": args.steps,
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
               "seconds_per_step": results,
               "ratio_to_keras_lstm_onednn": ratios if isinstance(ref, float) else None}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
