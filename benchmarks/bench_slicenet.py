"""SliceNet benchmarks (Kaiser et al., "Depthwise Separable Convolutions for Neural Machine Translation").

    python benchmarks/bench_slicenet.py speed [--channels 512] [--kernel 15] [--steps 10]
        Training-step time (forward + backward + SGD update) of a stack of 1-D convolutions of
        each Table 1 type at one width and kernel, against the FLOP ratio Table 1 predicts.
It prints a table and merges its results into benchmarks/results/slicenet.json. The Table 2
rows (accuracy, NLL, BLEU) are measured by `zoo report slicenet`, not here.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

# The `zoo` command's TensorFlow defaults (oneDNN on), set before TensorFlow loads.
import zoo_env  # noqa: E402

zoo_env.apply()
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "slicenet.json"


def _merge(key, value):
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    data[key] = value
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")


def speed(args):
    import tensorflow as tf

    from zoo.models.slicenet.layers import SliceConv1D, table1_weights

    c, k, B, T, L = args.channels, args.kernel, args.batch, args.length, args.layers
    kinds = [("none", 1), ("full", 1), ("super", 2), ("super", 4)]
    x = tf.random.normal([B, T, c])
    rows = []
    for sep, g in kinds:
        layers = [SliceConv1D(c, k, 1, "same", sep, g) for _ in range(L)]
        for layer in layers:
            layer.build((None, None, c))
        variables = [v.value for layer in layers for v in layer.weights]

        @tf.function(jit_compile=args.xla)
        def step():
            with tf.GradientTape() as tape:
                h = x
                for layer in layers:
                    h = layer(h)
                loss = tf.reduce_mean(tf.square(h))
            grads = tape.gradient(loss, variables)
            for v, gr in zip(variables, grads):
                v.assign_sub(1e-6 * gr)
            return loss

        step()  # trace + warm up
        step()
        times = []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            step().numpy()
            times.append(time.perf_counter() - t0)
        times.sort()
        rows.append({"conv": sep if sep != "super" else f"super g={g}", "groups": g,
                     "weights_per_layer": table1_weights(sep, k, c, g),
                     "step_seconds_median": times[len(times) // 2]})
    base = rows[0]
    print(f"c={c} k={k} batch={B} length={T} layers={L} xla={args.xla} ({platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus)")
    print(f"{'conv':12s} {'weights':>10s} {'step ms':>9s} {'predicted x':>11s} {'measured x':>10s} {'ratio':>6s}")
    for r in rows:
        r["predicted_speedup"] = base["weights_per_layer"] / r["weights_per_layer"]
        r["measured_speedup"] = base["step_seconds_median"] / r["step_seconds_median"]
        r["fraction_of_predicted"] = r["measured_speedup"] / r["predicted_speedup"]
        print(f"{r['conv']:12s} {r['weights_per_layer']:10d} {1000 * r['step_seconds_median']:9.2f} "
              f"{r['predicted_speedup']:11.2f} {r['measured_speedup']:10.2f} {r['fraction_of_predicted']:6.2f}")
    _merge("speed", {"channels": c, "kernel": k, "batch": B, "length": T, "layers": L, "xla": args.xla,
                     "cpus": os.cpu_count(), "device": "cpu", "rows": rows})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--channels", type=int, default=512)
    s.add_argument("--kernel", type=int, default=15)
    s.add_argument("--batch", type=int, default=8)
    s.add_argument("--length", type=int, default=64)
    s.add_argument("--layers", type=int, default=2)
    s.add_argument("--steps", type=int, default=10)
    s.add_argument("--xla", action="store_true")
    s.set_defaults(fn=speed)
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    args.fn(args)


if __name__ == "__main__":
    main()
