"""SliceNet benchmarks (Kaiser et al., "Depthwise Separable Convolutions for Neural Machine Translation").

    python benchmarks/bench_slicenet.py speed [--channels 512] [--kernel 15] [--steps 10]
        Training-step time (forward + backward + SGD update) of a stack of 1-D convolutions of
        each Table 1 type at one width and kernel, against the FLOP ratio Table 1 predicts.
    python benchmarks/bench_slicenet.py table [--steps 600] [--rows bytenet full_dil ...]
        Trains the CPU-sized Table 2 recipes (recipes/slicenet/*.yaml: same data, width and step
        budget) with the zoo trainer and prints params (total, non-embedding), per-token
        accuracy, negative log-perplexity, BLEU and the copy-the-source BLEU.
Both print a table and merge their results into benchmarks/results/slicenet.json.
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
TABLE2_ROWS = ["bytenet", "full_dil", "full_k7", "full_k15", "full_k31", "sub16", "super"]


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


def table(args):
    from zoo.config import load_recipe
    from zoo.registry import model_entry
    from zoo.training.trainer import train

    results = []
    for row in args.rows:
        sets = [f"runtime.run_dir={args.runs}/{row}", f"trainer.max_steps={args.steps}", "trainer.max_minutes=null",
                "trainer.epochs=1000", "runtime.progress=false", f"trainer.eval_every_steps={args.steps + 1}"]
        config = load_recipe(f"slicenet/{row}", sets + list(args.set or []))
        m = train(config, log=lambda *a, **k: None)
        # The registered variant's defaults (Table 2 row) under the recipe's overrides.
        d = {**model_entry(config.model.name).defaults, **config.model.args}
        r = {"row": row, "model": config.model.name, "separability": d.get("separability", "full"),
             **{k: m.get(k) for k in ("parameters", "non_embedding_parameters", "accuracy",
                                      "neg_log_perplexity", "bleu", "copy_source_bleu", "step", "train_seconds")}}
        r["kernels"] = "-".join(map(str, d["kernel_sizes"])) if "kernel_sizes" in d else "3-3-15-15"
        r["dilations"] = "-".join(map(str, d["dilations"])) if "dilations" in d else "1-1-1-8"
        results.append(r)
        print(json.dumps(r), flush=True)
    print("\n| row | dilations | kernels | separability | params (non-emb.) | accuracy | neg. log-ppl | BLEU | copy BLEU | s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['row']} | {r['dilations']} | {r['kernels']} | {r['separability']} | "
              f"{r['parameters']:,} ({r['non_embedding_parameters']:,}) | {r['accuracy']:.4f} | "
              f"{r['neg_log_perplexity']:.3f} | {r['bleu']:.2f} | {r['copy_source_bleu']:.2f} | {r['train_seconds']} |")
    _merge("table2", {"steps": args.steps, "rows": results})


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
    s = sub.add_parser("table")
    s.add_argument("--steps", type=int, default=600)
    s.add_argument("--rows", nargs="+", default=TABLE2_ROWS)
    s.add_argument("--runs", default="runs/slicenet_table2")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override for every row")
    s.set_defaults(fn=table)
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    args.fn(args)


if __name__ == "__main__":
    main()
