#!/usr/bin/env python
"""Is the zoo's byte-autoencoder training step slower than the same step written in raw TF, and
why do its convolution kernels look slower inside it? ("Byte-level Recursive Convolutional
Auto-Encoder for Text", §2; issue 10.)

    python benchmarks/bench_byte_rcae_graph.py                  # n=2 and 8 at L=256 and 1024 (~6 min)
    python benchmarks/bench_byte_rcae_graph.py --configs 2:256  # one configuration (~1 min)

Per configuration (features 256, batch 1024 // L, one fixed batch as in bench_byte_rcae.py):

- `zoo`: the zoo's own `Trainer.train_step` (recipe defaults: mirrored strategy, SGD momentum
  0.9, weight decay 1e-5, shared-gradient division), built by `bench_byte_rcae.build_step`;
- `raw`: the same model and update written directly in TensorFlow, in a `tf.function` with no
  Keras, no strategy and no Keras optimizer: `tf.nn.conv1d`/`matmul` on plain `tf.Variable`
  copies of the zoo model's weights, the masked NLL, momentum SGD with the same decoupled weight
  decay and the shared recursion groups' gradients divided by their uses (its forward pass is
  checked against the zoo model's logits first);

both timed in the same interleaved rounds, in two child processes alive at once and run in
lock-step (`common.run_lockstep`): one with TensorFlow's default inter-op pool, one with
`TF_NUM_INTEROP_THREADS=1` (one op at a time, each still on both cores). After its rounds each
child profiles a few `zoo` steps (`tf.profiler`, read back from the trace) and sums the time
inside each kernel type per step. Kernels that run two at a time on two cores each take longer
than when they run alone, so per-kernel durations from a trace of the default pool overstate
the kernels' cost; the sum of kernel time over wall time shows how much of the step ran in
parallel.

Prints a table and writes `benchmarks/results/byte_rcae_graph.json` atomically.
"""
from __future__ import annotations

import argparse
import collections
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

CONV_KERNELS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")


def raw_step_fn(model, L, lr=0.001, momentum=0.9, weight_decay=1e-5):
    """(forward, step) in plain TensorFlow on copies of `model`'s weights (see module docstring)."""
    import tensorflow as tf

    W = {v.path: tf.Variable(v.numpy()) for v in model.trainable_variables}
    M = {k: tf.Variable(tf.zeros_like(v)) for k, v in W.items()}

    def conv(layer, x):
        return tf.nn.conv1d(x, W[layer.kernel.path], 1, "SAME") + W[layer.bias.path]

    def conv_stack(stack, x):
        for i in range(0, stack.n, 2):
            a, b = stack.convs[i], stack.convs[i + 1]
            h, shortcut = tf.nn.relu(conv(a, x)), x
            if i == 0 and stack.expand:
                h = tf.reshape(h, (tf.shape(h)[0], tf.shape(h)[1] * 2, stack.features))
                shortcut = tf.repeat(x, 2, axis=1)
            y = conv(b, h)
            x = y + shortcut if shortcut.shape[-1] == y.shape[-1] else y
            if stack._pair_activation(i):
                x = tf.nn.relu(x)
        return x

    def dense_stack(stack, x):
        for i in range(0, stack.n, 2):
            a, b = stack.dense[i], stack.dense[i + 1]
            h = tf.nn.relu(x @ W[a.kernel.path] + W[a.bias.path])
            x = tf.nn.relu(x + h @ W[b.kernel.path] + W[b.bias.path])
        return x

    depth = model.depth_for_length(L)

    def forward(ids):
        h = conv_stack(model.enc_prefix, tf.one_hot(ids, 256))
        for _ in range(depth):
            h = tf.nn.max_pool1d(conv_stack(model.enc_recursion[0], h), 2, 2, "VALID")
        h = dense_stack(model.enc_postfix, tf.reshape(h, (-1, model.code_dim)))
        h = tf.reshape(dense_stack(model.dec_prefix, h), (-1, model.code_length, model.features))
        for _ in range(depth):
            h = conv_stack(model.dec_recursion[0], h)
        return conv_stack(model.dec_postfix, h)

    shared = model.enc_recursion[0].trainable_variables + model.dec_recursion[0].trainable_variables
    scale = {v.path: 1.0 / depth for v in shared} if depth > 1 else {}
    keys = list(W)

    @tf.function
    def step(ids):
        with tf.GradientTape() as tape:
            logits = forward(ids)
            mask = tf.cast(ids >= 0, tf.float32)
            nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(ids, 0), logits=logits)
            count = tf.reduce_sum(mask)
            loss = tf.reduce_sum(nll * mask) / count
        grads = tape.gradient(loss, [W[k] for k in keys])
        for k, g in zip(keys, grads):
            W[k].assign_sub(W[k] * (weight_decay * lr))  # decoupled decay, as Keras applies it
            M[k].assign(momentum * M[k] - lr * (g * scale.get(k, 1.0)))
            W[k].assign_add(M[k])
        return count

    return tf.function(forward), step


def kernel_profile(step, repeats=3) -> dict:
    """Per-step thread time inside each kernel type, and the wall time of those steps."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    logdir = tempfile.mkdtemp(prefix="xplane-")
    tf.profiler.experimental.start(logdir)
    t = time.perf_counter()
    for _ in range(repeats):
        step()
    wall = (time.perf_counter() - t) / repeats
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0]).read_bytes())
    by_kernel, threads = collections.Counter(), set()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue  # the executor's worker threads
            threads.add(line.name)
            # Kernels are the outermost events inside the executor's "Process" events (a kernel
            # may enclose events of its own, e.g. oneDNN's, which must not count twice).
            events = sorted(line.events, key=lambda e: (e.offset_ps, -e.duration_ps))
            stack = []
            for ev in events:
                while stack and stack[-1][1] <= ev.offset_ps:
                    stack.pop()
                name = names.get(ev.metadata_id, "?").split(":")[-1]
                parent = stack[-1][0] if stack else None
                stack.append((name, ev.offset_ps + ev.duration_ps))
                if name == "Process" or (parent is not None and parent != "Process"):
                    continue
                kernel = name.replace("_MklNative", "").replace("_Mkl", "")
                by_kernel[kernel] += ev.duration_ps / 1e12 / repeats
    import shutil
    shutil.rmtree(logdir, ignore_errors=True)
    total = sum(by_kernel.values())
    return {"wall_s": wall, "kernel_s": total, "kernel_over_wall": total / wall,
            "conv_kernel_s": {k: by_kernel.get(k, 0.0) for k in CONV_KERNELS},
            "executor_threads": len(threads),
            "top_kernels_s": dict(by_kernel.most_common(12))}


def child(a):
    server = common.LockstepServer()
    import numpy as np
    import tensorflow as tf

    import bench_byte_rcae as b

    n, L, B = a.n, a.length, a.batch
    ids, valid = b.make_batch(B, L, seed=0)
    work = tempfile.mkdtemp(prefix="graph-child-")
    trainer, zoo_step, _ = b.build_step(n, B, ids, os.path.join(work, "run"), jit=False)
    forward, raw = raw_step_fn(trainer.model, L)
    x = tf.constant(ids)
    diff = float(np.abs(np.asarray(forward(x)) - np.asarray(trainer.model(x))).max())
    if diff > 1e-4:
        raise RuntimeError(f"the raw-TF forward pass differs from the zoo model's by {diff}")
    if int(float(raw(x))) != valid or int(round(zoo_step())) != valid:
        raise RuntimeError("a step counted the wrong number of valid positions")
    for fn in (zoo_step, lambda: float(raw(x))):
        fn()
    server.ready({})
    times = server.serve({"zoo": zoo_step, "raw": lambda: float(raw(x))})
    out = {"n": n, "length": L, "batch": B, "times_s": times, "forward_max_abs_diff": diff,
           "TF_NUM_INTEROP_THREADS": os.environ.get("TF_NUM_INTEROP_THREADS"),
           "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
           "profile": kernel_profile(zoo_step), "machine": common.machine_info()}
    import shutil
    shutil.rmtree(work, ignore_errors=True)
    server.result(out)


def summarise(n, L, B, got) -> dict:
    med = common.median
    res = {"n": n, "length": L, "batch": B, "pools": {}}
    for name, child in got.items():
        r = child["result"]
        t = r["times_s"]
        res["pools"][name] = {
            "zoo_step_s": common.spread(t["zoo"]), "raw_step_s": common.spread(t["raw"]),
            "zoo_over_raw": common.spread([z / w for z, w in zip(t["zoo"], t["raw"])]),
            "profile": r["profile"], "inter_op_threads": r["inter_op_threads"],
            "forward_max_abs_diff": r["forward_max_abs_diff"]}
    d, one = got["default"]["result"], got["inter1"]["result"]
    res["one_pool_over_default_zoo"] = common.spread(
        [o / z for o, z in zip(one["times_s"]["zoo"], d["times_s"]["zoo"])])
    conv_d = sum(d["profile"]["conv_kernel_s"].values())
    conv_1 = sum(one["profile"]["conv_kernel_s"].values())
    res["conv_kernel_time_default_over_one_pool"] = conv_d / conv_1 if conv_1 else None
    res["per_kernel_default_over_one_pool"] = {
        k: (d["profile"]["conv_kernel_s"][k] / one["profile"]["conv_kernel_s"][k]
            if one["profile"]["conv_kernel_s"][k] else None) for k in CONV_KERNELS}
    res["conv_share_of_kernel_time"] = conv_d / d["profile"]["kernel_s"]
    res["median_zoo_step_s"] = med(d["times_s"]["zoo"])
    return res


def table(results) -> str:
    rows = []
    for r in results:
        for name, p in r["pools"].items():
            prof = p["profile"]
            rows.append({
                "n": r["n"], "L": r["length"], "batch": r["batch"],
                "inter-op pool": "default" if name == "default" else "1 thread",
                "zoo s": p["zoo_step_s"]["median"], "raw TF s": p["raw_step_s"]["median"],
                "zoo/raw (q1-q3)": f"{p['zoo_over_raw']['median']:.2f} ({p['zoo_over_raw']['q1']:.2f}-"
                                   f"{p['zoo_over_raw']['q3']:.2f})",
                "kernel s / wall s": f"{prof['kernel_over_wall']:.2f}",
                "conv kernels s/step": sum(prof["conv_kernel_s"].values()),
            })
    summary = [
        f"n={r['n']} L={r['length']}: one-op-at-a-time zoo step {r['one_pool_over_default_zoo']['median']:.2f}x "
        f"the default pool's; conv kernels {100 * r['conv_share_of_kernel_time']:.0f}% of kernel time; "
        f"each conv kernel type takes " + ", ".join(
            f"{k} {v:.2f}x" for k, v in r["per_kernel_default_over_one_pool"].items() if v)
        + " as long under the default pool as one at a time" for r in results]
    return common.format_table(rows) + "\n\n" + "\n".join(summary)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default="2:256,2:1024,8:256,8:1024", help="n:L pairs, comma-separated")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--out", help="JSON path (default benchmarks/results/byte_rcae_graph.json)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--length", type=int, help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        child(a)
        return 0
    start = time.time()
    results = []
    for spec in a.configs.split(","):
        n, L = (int(v) for v in spec.split(":")[:2])
        B = max(1, 1024 // L)
        args = ["--n", str(n), "--length", str(L), "--batch", str(B)]
        print(f"[{time.time() - start:4.0f}s] n={n} L={L} batch={B} ...", flush=True)
        got = common.run_lockstep(__file__, {"default": (args, {}), "inter1": (args, {"TF_NUM_INTEROP_THREADS": "1"})},
                                  a.rounds, log=lambda m: print(f"[{time.time() - start:4.0f}s]   {m}", flush=True))
        results.append(summarise(n, L, B, got))
    out = Path(a.out) if a.out else common.RESULTS_DIR / "byte_rcae_graph.json"
    common.atomic_write_json(out, {"benchmark": "byte_rcae_graph", "rounds": a.rounds,
                                   "elapsed_s": round(time.time() - start, 1),
                                   "machine": common.machine_info(), "results": results})
    print()
    print(table(results))
    print(f"\nwrote {out} in {time.time() - start:.0f} s (load average now "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())})")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
