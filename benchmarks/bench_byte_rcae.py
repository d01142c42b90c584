#!/usr/bin/env python
"""Speed benchmark of the byte-level recursive convolutional autoencoder (ByteRCAE, "Byte-level
Recursive Convolutional Auto-Encoder for Text", §2).

    python benchmarks/bench_byte_rcae.py --quick   # n=2, length 256, few rounds (< 3 min)
    python benchmarks/bench_byte_rcae.py           # n=2 and n=8 at lengths 256 and 1024 (< 20 min)

For each model (n = 2, 8; features 256; max_length 1024) and padded length (256, 1024) it
measures, on the CPU:

1. training throughput of the zoo's real training step (`Trainer.train_step`: the main phase's
   update under the recipe's distribution strategy, SGD + momentum + weight decay, shared-gradient
   division) on one fixed batch of random paragraphs whose lengths fill the bucket
   (L/2 .. L-1 bytes + EOS), in valid bytes per second;
2. achieved FLOP/s of that step (`train_step_flops`, counted from the architecture and
   cross-checked against TF's profiler count of the forward graph) as a fraction of a
   2048x2048 float32 matmul (oneDNN on) timed in the same round;
3. peak memory: each child's resident-set high-water mark (getrusage ru_maxrss) right after the
   training step has run; `tf.config.experimental.get_memory_info('CPU:0')` is no use on CPU
   (zeros with oneDNN, "Allocator stats not available" without);
4. inference latency per batch: the Keras model called in a tf.function vs the `reconstruct`
   signature of the SavedModel `zoo.export.export_model` writes for that length;
5. CPU knobs: oneDNN on (TF_ENABLE_ONEDNN_OPTS=1, the `zoo` command's default, see zoo_env) vs
   off (=0), which must be set before TensorFlow loads; and XLA (`runtime.jit_compile: true`, oneDNN on).

Each knob is its own child process (so each has its own peak RSS), all alive at once; the
parent runs their timed rounds one child at a time, in alternating order
(`common.run_lockstep`): on a shared, busy machine every knob's step is then timed back to back
with the default step and the matmul, and each ratio is the median of per-round ratios. XLA's
LLVM compile can take pathologically long for some shapes (seen: > 17 min, in LLVM's
LoopIdiomRecognize/HashRecognize, for n=8 at L=256 with batch 4); an XLA child not ready within
--xla-timeout seconds is killed before the rounds start and reported as skipped.

Prints a table and writes `benchmarks/results/byte_rcae.json` (`byte_rcae_quick.json` for
--quick) atomically. See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

FEATURES = 256          # the paper's width
MAX_LENGTH = 1024       # the paper's longest padded paragraph
KERNEL_SIZE = 3
CODE_LENGTH = 4
NUM_BYTES = 256
FULL_CONFIGS = [(2, 256), (2, 1024), (8, 256), (8, 1024)]
QUICK_CONFIGS = [(2, 256)]
# Batch per padded length: 1024 padded bytes per batch, so a step is ~0.3-3 s on 2 cores.
BATCH_FOR_LENGTH = {256: 4, 1024: 1}
MATMUL_SIZE = 2048
FLOP_TARGET = 0.60      # training step FLOP/s >= 60% of the same-run matmul FLOP/s


# -- analytic FLOPs --------------------------------------------------------------------------
def forward_flops(n: int, length: int, batch: int = 1, features: int = FEATURES,
                  kernel_size: int = KERNEL_SIZE, code_length: int = CODE_LENGTH,
                  num_bytes: int = NUM_BYTES) -> dict:
    """Multiply-add FLOPs of one forward pass of `ByteRCAE(n, features)` at padded `length`.

    Counts only convolutions (2*k*c_in*c_out per output position) and dense layers
    (2*in*out per example); biases, ReLUs, residual adds, pooling and the softmax are
    O(positions*features) and left out (TF's profiler puts them at < 1% of the total).
    With d = log2(length / code_length) recursion applications and f = features:

      enc_prefix   n convs at length L, the first reading the 256-d one-hot:
                   2k*L*(256*f + (n-1)*f^2)
      enc_recursion applied d times at lengths L, L/2, ..., 8 (n f->f convs, then pool/2):
                   2k*n*f^2 * (L + L/2 + ... + 8)             = 2k*n*f^2*(2L - 8)
      enc_postfix  n dense code_dim->code_dim (code_dim = code_length*f = 1024): 2*n*code_dim^2
      dec_prefix   the same                                                      2*n*code_dim^2
      dec_recursion applied d times to lengths l = 4, 8, ..., L/2: a f->2f conv at length l,
                   reshaped to 2l, then n-1 f->f convs at 2l: 2k*f^2*(2l + (n-1)*2l) = 2k*n*f^2*2l
                   summed:                                     2k*n*f^2*(2L - 8)
      dec_postfix  n convs at length L, the last f->256 logits: 2k*L*((n-1)*f^2 + f*256)

    Returns a dict of the groups, "conv", "dense", "total" (all times `batch`) and
    "first_conv" (the one-hot input layer, whose input gradient training never computes).
    """
    if length < code_length or length & (length - 1):
        raise ValueError(f"length must be a power of two >= {code_length}, got {length}")
    k, f, L = kernel_size, features, length
    d = int(math.log2(L // code_length))
    code_dim = code_length * f
    recursion_positions = sum(L >> i for i in range(d))  # L + L/2 + ... + 2*code_length
    assert recursion_positions == sum(2 * code_length * 2 ** j for j in range(d))
    groups = {
        "enc_prefix": 2 * k * L * (num_bytes * f + (n - 1) * f * f),
        "enc_recursion": 2 * k * n * f * f * recursion_positions,
        "enc_postfix": 2 * n * code_dim * code_dim,
        "dec_prefix": 2 * n * code_dim * code_dim,
        "dec_recursion": 2 * k * n * f * f * recursion_positions,
        "dec_postfix": 2 * k * L * ((n - 1) * f * f + f * num_bytes),
    }
    out = {name: batch * v for name, v in groups.items()}
    out["dense"] = out["enc_postfix"] + out["dec_prefix"]
    out["conv"] = out["enc_prefix"] + out["enc_recursion"] + out["dec_recursion"] + out["dec_postfix"]
    out["total"] = out["conv"] + out["dense"]
    out["first_conv"] = batch * 2 * k * L * num_bytes * f
    out["recursion_depth"] = d
    return out


def train_step_flops(n: int, length: int, batch: int, **kw) -> int:
    """FLOPs of one training step: forward + backward = 3 x forward (the backward pass computes
    a gradient for the layer input and one for the weights, each as costly as the forward
    product), less the input gradient of the first convolution, which is never computed because
    its input is the one-hot encoding of integer ids. Optimizer updates (O(parameters)) are
    left out."""
    f = forward_flops(n, length, batch, **kw)
    return 3 * f["total"] - f["first_conv"]


# -- child: the measurements -----------------------------------------------------------------
def make_batch(batch: int, length: int, seed: int = 0):
    """Random paragraphs whose padded length is `length` (L/2 .. L-1 bytes, plus EOS), encoded
    by the zoo; returns (ids [batch, length] int32, number of valid positions)."""
    import numpy as np

    from zoo.models.byte_rcae.data import encode_batch

    rng = np.random.default_rng(seed)
    sizes = rng.integers(length // 2, length, size=batch)
    paragraphs = [bytes(rng.integers(1, 256, size=int(s)).astype("uint8")) for s in sizes]
    ids = encode_batch(paragraphs, length=length)
    return ids, int((ids >= 0).sum())


def recipe(n: int, batch: int, run_dir: str, jit: bool) -> dict:
    """The recipe the benchmark trains: the paper's model, the trainer's defaults otherwise."""
    return {
        "name": f"bench_byte_rcae_n{n}",
        "model": {"name": f"byte_rcae_n{n}", "features": FEATURES, "max_length": MAX_LENGTH},
        "task": {"name": "byte_autoencoder", "max_length": MAX_LENGTH},
        "data": {"batch_size": batch},
        "runtime": {"run_dir": run_dir, "progress": False, "jit_compile": jit},
    }


def build_step(n, batch, ids, run_dir, jit):
    """(trainer, step) where step() runs the zoo's train_step once on the fixed batch."""
    import tensorflow as tf

    from zoo.config import load_recipe
    from zoo.training.trainer import Trainer

    # 100 batches per pass: the learning-rate schedule's epoch length; no data is read.
    trainer = Trainer(load_recipe(recipe(n, batch, run_dir, jit)), log=lambda *a, **k: None).build(100)
    ds = tf.data.Dataset.from_tensors(ids)
    dist_batch = next(iter(trainer.strategy.experimental_distribute_dataset(ds)))

    def step():
        return float(trainer.train_step(dist_batch)["count"])  # blocks until the step is done

    return trainer, step


def savedmodel_path(export_dir, name: str) -> Path:
    """The folder of SavedModel `name` in an export: its manifest's `path` (export format 3:
    `depth_d/<TF Serving version>/`), or `<export>/<name>` for exports without a manifest."""
    export_dir = Path(export_dir)
    manifest = export_dir / "manifest.json"
    if manifest.is_file():
        for entry in json.loads(manifest.read_text()).get("savedmodels", []):
            if entry.get("name") == name:
                return export_dir / entry["path"]
    return export_dir / name


def profiler_forward_flops(model, length) -> dict:
    """Float-op counts of the forward graph at batch 1 from tf.compat.v1.profiler, by op type."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), autograph=False)
    graph = fn.get_concrete_function(tf.TensorSpec([1, length], tf.int32)).graph
    opts = dict(tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
    opts["output"] = "none"
    prof = tf.compat.v1.profiler.profile(graph, cmd="op", options=opts)
    by_type = {}

    def walk(node):
        if node.name != "_TFProfRoot" and node.float_ops:
            by_type[node.name] = by_type.get(node.name, 0) + int(node.float_ops)
        for c in node.children:
            walk(c)

    walk(prof)
    return {"total": int(prof.total_float_ops), "by_op_type": by_type}


def child(a) -> None:
    """One process under one TF_ENABLE_ONEDNN_OPTS value: build and warm up, then serve timed
    rounds (common.LockstepServer), then the untimed-in-lock-step extras, then the result."""
    t_start = time.time()
    server = common.LockstepServer()
    import numpy as np
    import tensorflow as tf

    import zoo  # noqa: F401  (registers the models)
    from zoo.export import export_model

    n, L, B = a.n, a.length, a.batch
    out = {"n": n, "length": L, "batch": B, "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
           "machine": common.machine_info(), "rss_after_import_mb": common.peak_rss_mb()}
    ids, valid = make_batch(B, L, seed=a.seed)
    # Under the parent's work folder, which the parent removes even if this child is killed.
    tmp = tempfile.mkdtemp(prefix="child-", dir=a.workdir)
    out["valid_bytes_per_batch"] = valid
    out["padded_bytes_per_batch"] = B * L

    t = time.time()
    trainer, step = build_step(n, B, ids, os.path.join(tmp, "run"), jit=a.jit)
    out["jit_compile"] = a.jit
    out["build_s"] = time.time() - t
    out["rss_after_build_mb"] = common.peak_rss_mb()
    t = time.time()
    counted = step()  # traces the step (and compiles it with XLA under --jit)
    out["trace_s"] = time.time() - t
    if int(round(counted)) != valid:
        raise RuntimeError(f"the step counted {counted} valid positions, the batch has {valid}")
    step()
    out["peak_rss_mb"] = common.peak_rss_mb()  # training step high-water mark (isolated)
    out["peak_rss_method"] = "resource.getrusage(RUSAGE_SELF).ru_maxrss after build + 2 train steps"
    fns = {"step": step}
    if a.matmul:
        fns["matmul"], out["matmul_flops"] = common.matmul_reference(MATMUL_SIZE)
        out["matmul_size"] = MATMUL_SIZE
    out["setup_s"] = time.time() - t_start

    server.ready({"setup_s": out["setup_s"]})
    # The matmul is several times shorter than a step: time 3 per round, keep their median.
    out["times_s"] = server.serve(fns, inner={"matmul": 3})

    flops = forward_flops(n, L, B)
    out["forward_flops"] = flops
    out["train_step_flops"] = train_step_flops(n, L, B)
    model = trainer.model
    out["parameters"] = int(model.count_params())
    out["parameterized_layers_on_path"] = int(model.num_parameterized_layers(L))

    if a.profile:
        t = time.time()
        prof = profiler_forward_flops(model, L)
        mine = forward_flops(n, L, 1)
        counted = prof["by_op_type"].get("Conv2D", 0) + prof["by_op_type"].get("MatMul", 0)
        out["profiler"] = {**prof, "conv_plus_matmul": counted, "analytic_conv_plus_dense": mine["total"],
                           "agree": counted == mine["total"],
                           "elementwise_share": 1 - counted / prof["total"], "seconds": time.time() - t}

    if a.inference:
        depth = model.depth_for_length(L)
        t = time.time()
        export_dir = export_model(model, trainer.config.to_dict(), os.path.join(tmp, "export"), depths=[depth])
        out["export_s"] = time.time() - t
        loaded = tf.saved_model.load(str(savedmodel_path(export_dir, f"depth_{depth}")))
        reconstruct = loaded.signatures["reconstruct"]
        x = tf.constant(ids)
        keras_fn = tf.function(lambda v: model(v, training=False),
                               input_signature=[tf.TensorSpec([None, L], tf.int32)])
        ref = keras_fn(x).numpy()
        got = reconstruct(bytes=x)["logits"].numpy()
        out["savedmodel_max_abs_diff"] = float(np.abs(ref - got).max())
        calls = {"keras": lambda: keras_fn(x).numpy(),
                 "savedmodel": lambda: reconstruct(bytes=x)["logits"].numpy()}
        # Calls per round: enough for ~0.4 s per function per round (median taken).
        single = common.median(common.time_call(calls["keras"], repeats=3, warmup=2))
        out["inference_calls_per_round"] = inner = max(1, min(9, round(0.4 / single)))
        inf = common.interleaved(calls, rounds=a.inference_rounds, warmup=2, inner=inner)
        out["inference_s"] = inf
        out["savedmodel_over_keras_per_round"] = common.per_round_ratio(inf["savedmodel"], inf["keras"])
    out["child_seconds"] = time.time() - t_start
    out["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    server.result(out)


# -- parent: run the children, summarise -----------------------------------------------------
def summarise(n, L, B, on: dict, off: dict | None, xla: dict | None = None) -> dict:
    """Per-knob numbers from the lock-step children. Round r of every knob ran back to back
    with round r of the others, so every comparison is the median over rounds of a per-round
    ratio: a step against the oneDNN matmul of the same round, and each knob's step against the
    default (oneDNN on, no XLA) step of the same round. `xla` may be {"dropped": reason}."""
    med = common.median
    flops = on["train_step_flops"]
    mm = on["times_s"]["matmul"]
    mm_flops = on["matmul_flops"]
    base = on["times_s"]["step"]
    series = {"onednn": (on, "1", False), "onednn+xla": (xla, "1", True), "eigen": (off, "0", False)}
    knobs = {}
    for name, (child, env, jit) in series.items():
        if child is None:
            continue
        if "dropped" in child:
            knobs[name] = {"TF_ENABLE_ONEDNN_OPTS": env, "jit_compile": jit, "skipped": child["dropped"]}
            continue
        t = child["times_s"]["step"]
        step_s = med(t)
        k = knobs[name] = {
            "TF_ENABLE_ONEDNN_OPTS": env, "jit_compile": jit,
            "step_s": common.spread(t),
            "valid_bytes_per_s": child["valid_bytes_per_batch"] / step_s,
            "padded_bytes_per_s": child["padded_bytes_per_batch"] / step_s,
            "achieved_flops_per_s": flops / step_s,
            "fraction_of_reference_matmul": med([m / mm_flops * flops / s for s, m in zip(t, mm)]),
            "speedup_vs_onednn": common.spread([b / s for b, s in zip(base, t)]),
            # Best of the rounds: the least contended step against the least contended default.
            "speedup_vs_onednn_best": min(base) / min(t),
            "best_step_s": min(t),
            "peak_rss_mb": child["peak_rss_mb"],
            "setup_s": child["setup_s"], "trace_or_compile_s": child["trace_s"],
        }
        if "matmul" in child["times_s"]:
            own = child["times_s"]["matmul"]
            k["own_process_matmul_flops_per_s"] = child["matmul_flops"] / med(own)
            k["fraction_of_own_process_matmul"] = med([m / child["matmul_flops"] * flops / s
                                                       for s, m in zip(t, own)])
    measured = [k for k in knobs if "skipped" not in knobs[k]]
    fastest = max(measured, key=lambda k: knobs[k]["speedup_vs_onednn"]["median"])
    res = {
        "n": n, "length": L, "batch": B, "recursion_depth": on["forward_flops"]["recursion_depth"],
        "parameters": on["parameters"], "parameterized_layers_on_path": on["parameterized_layers_on_path"],
        "valid_bytes_per_batch": on["valid_bytes_per_batch"], "train_step_flops": flops,
        "forward_flops": on["forward_flops"],
        "reference_matmul": {"size": MATMUL_SIZE, "seconds": common.spread(mm),
                             "flops_per_s": mm_flops / med(mm),
                             "what": "tf.linalg.matmul float32 in a tf.function in the oneDNN-on "
                                     "child, median of 3 per round, in lock-step with the steps"},
        "knobs": knobs, "fastest_knob": fastest,
        "flop_target": FLOP_TARGET,
        "peak_rss_mb": {**{k: v["peak_rss_mb"] for k, v in knobs.items() if "peak_rss_mb" in v},
                        "onednn_after_import": on["rss_after_import_mb"],
                        "onednn_after_build": on["rss_after_build_mb"]},
        "peak_rss_method": on["peak_rss_method"] + ", one child process per configuration and "
                           "knob; get_memory_info('CPU:0') has no allocator stats on CPU",
        "children": {name: (_child_meta(c) if "dropped" not in c else c)
                     for name, (c, _, _) in series.items() if c is not None},
        "_children": [c for c, _, _ in series.values() if c is not None and "dropped" not in c],
    }
    if "profiler" in on:
        res["profiler_cross_check"] = on["profiler"]
    if "inference_s" in on:
        ratio = common.spread(on["savedmodel_over_keras_per_round"])
        res["inference"] = {
            "batch": B, "keras_ms": common.spread([1e3 * t for t in on["inference_s"]["keras"]]),
            "savedmodel_ms": common.spread([1e3 * t for t in on["inference_s"]["savedmodel"]]),
            "savedmodel_over_keras": ratio, "target_met": ratio["median"] <= 1.0,
            # A tie: the per-round ratios' interquartile range straddles 1.
            "within_noise_of_keras": ratio["q1"] <= 1.0 <= ratio["q3"],
            "savedmodel_max_abs_diff": on["savedmodel_max_abs_diff"],
            "calls_per_round": on.get("inference_calls_per_round"),
            "what": "median ms per batch (each round the median of calls_per_round calls); Keras model call in a "
                    "tf.function with input signature [None, L] vs the exported depth_d SavedModel's "
                    "reconstruct signature (which also returns the argmax bytes), interleaved, "
                    "oneDNN on, the other children idle"}
    return res


def judge_flop_target(results) -> float:
    """Add the best-of estimate and the target verdicts to every result; returns the run's best
    matmul FLOP/s.

    On a shared machine the per-round median fraction depends on how contended the reference
    matmul happened to be in that configuration's rounds (a 2-thread GEMM loses most when one
    core is taken). The best-of estimate divides each knob's fastest step by the fastest 2048^2
    matmul timed anywhere in this run (either oneDNN setting): both as close to an idle
    machine as the run got. The target is met only if both estimates reach it."""
    best_mm = max(c["matmul_flops"] / min(c["times_s"]["matmul"])
                  for r in results for c in r.pop("_children") if "matmul" in c.get("times_s", {}))
    for r in results:
        for k in r["knobs"].values():
            if "skipped" in k:
                continue
            k["fraction_of_run_best_matmul_best_step"] = r["train_step_flops"] / k["best_step_s"] / best_mm
            k["meets_flop_target"] = (k["fraction_of_reference_matmul"] >= FLOP_TARGET
                                      and k["fraction_of_run_best_matmul_best_step"] >= FLOP_TARGET)
        r["run_best_matmul_flops_per_s"] = best_mm
        f = r["knobs"][r["fastest_knob"]]
        r["flop_target_met"] = f["meets_flop_target"]
        r["flop_target_met_per_round_median"] = f["fraction_of_reference_matmul"] >= FLOP_TARGET
        r["flop_target_met_best_of"] = f["fraction_of_run_best_matmul_best_step"] >= FLOP_TARGET
    return best_mm


def _child_meta(c):
    return {k: c.get(k) for k in ("TF_ENABLE_ONEDNN_OPTS", "jit_compile", "child_seconds", "setup_s",
                                  "build_s", "trace_s", "export_s", "times_s")} | {
        "loadavg": c["machine"].get("loadavg_1_5_15"), "loadavg_end": c["machine"].get("loadavg_end")}


def _rss(mb):
    return None if mb is None else round(mb)


def tables(results) -> str:
    rows, inf_rows = [], []
    for r in results:
        for name, k in r["knobs"].items():
            row = {"n": r["n"], "L": r["length"], "batch": r["batch"], "knob": name}
            if "skipped" in k:
                rows.append({**row, "step s": f"skipped: {k['skipped']}"})
                continue
            rows.append({
                **row, "step s": k["step_s"]["median"], "valid B/s": round(k["valid_bytes_per_s"]),
                "GFLOP/s": k["achieved_flops_per_s"] / 1e9,
                "% matmul": 100 * k["fraction_of_reference_matmul"],
                "% best mm": 100 * k["fraction_of_run_best_matmul_best_step"],
                "% own mm": 100 * k["fraction_of_own_process_matmul"] if "fraction_of_own_process_matmul" in k else None,
                "x vs oneDNN": k["speedup_vs_onednn"]["median"],
                "x best": k["speedup_vs_onednn_best"],
                "peak RSS MB": _rss(k["peak_rss_mb"]),
                "setup s": k["trace_or_compile_s"],
            })
        if "inference" in r:
            i = r["inference"]
            inf_rows.append({"n": r["n"], "L": r["length"], "batch": r["batch"],
                             "keras ms": i["keras_ms"]["median"], "SavedModel ms": i["savedmodel_ms"]["median"],
                             "SM/Keras": i["savedmodel_over_keras"]["median"],
                             "SM IQR": f"{i['savedmodel_over_keras']['q1']:.2f}-{i['savedmodel_over_keras']['q3']:.2f}",
                             "SM <= Keras": "yes" if i["target_met"] else
                             ("tie (IQR spans 1)" if i["within_noise_of_keras"] else "no")})
    summary = []
    for r in results:
        p = r.get("profiler_cross_check")
        prof = ("profiler conv+matmul FLOPs " + ("agree exactly" if p["agree"] else
                f"DISAGREE ({p['conv_plus_matmul']} vs {p['analytic_conv_plus_dense']})")
                + f", elementwise ops {100 * p['elementwise_share']:.2f}% of profiler total") if p else ""
        summary.append(
            f"n={r['n']} L={r['length']}: {r['train_step_flops'] / 1e9:.1f} GFLOP/step, matmul "
            f"{r['reference_matmul']['flops_per_s'] / 1e9:.1f} GFLOP/s; fastest {r['fastest_knob']} at "
            f"{100 * r['knobs'][r['fastest_knob']]['fraction_of_reference_matmul']:.0f}% of the same-round "
            f"matmul, {100 * r['knobs'][r['fastest_knob']]['fraction_of_run_best_matmul_best_step']:.0f}% "
            f"best-of (target {100 * FLOP_TARGET:.0f}%: {'met' if r['flop_target_met'] else 'NOT met'})"
            + "".join(f"; {k} {v['speedup_vs_onednn']['median']:.2f}x" for k, v in r["knobs"].items()
                      if k != "onednn" and "skipped" not in v) + (f"; {prof}" if prof else ""))
    return (common.format_table(rows) + "\n\n" + (common.format_table(inf_rows) + "\n\n" if inf_rows else "")
            + "\n".join(summary))


def run_config(a, n, L, rounds, xla_timeout, workdir, start) -> dict:
    """Run one configuration's children in lock-step and summarise them."""
    B = BATCH_FOR_LENGTH[L]
    args = ["--n", str(n), "--length", str(L), "--batch", str(B), "--workdir", workdir]
    children = {"onednn": (args + ["--matmul", "--profile", "--inference", "--inference-rounds",
                                   str(5 if a.quick else 9)], {"TF_ENABLE_ONEDNN_OPTS": "1"})}
    if not a.no_xla:
        children["onednn+xla"] = (args + ["--jit"], {"TF_ENABLE_ONEDNN_OPTS": "1"})
    if not a.no_eigen:
        children["eigen"] = (args + ["--matmul"], {"TF_ENABLE_ONEDNN_OPTS": "0"})
    print(f"[{time.time() - start:5.0f}s] n={n} L={L} batch={B}: children {', '.join(children)} "
          f"setting up (trace, XLA compile) ...", flush=True)
    got = common.run_lockstep(__file__, children, rounds,
                              log=lambda m: print(f"[{time.time() - start:5.0f}s]   {m}", flush=True),
                              ready_timeouts={"onednn+xla": xla_timeout})
    on = got["onednn"]["result"]
    xla = got.get("onednn+xla")
    xla = None if xla is None else xla.get("result", xla)
    off = got["eigen"]["result"] if "eigen" in got else None
    return summarise(n, L, B, on, off, xla)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="n=2, length 256, few rounds (< 3 min)")
    p.add_argument("--out", help="JSON path (default benchmarks/results/byte_rcae.json, "
                                 "byte_rcae_quick.json with --quick)")
    p.add_argument("--rounds", type=int, help="timed training steps per knob (default 7, quick 3)")
    p.add_argument("--no-eigen", action="store_true", help="skip the oneDNN-off children")
    p.add_argument("--no-xla", action="store_true", help="skip the XLA children")
    p.add_argument("--xla-timeout", type=float,
                   help="seconds an XLA child may take to compile before it is dropped "
                        "(default 240, quick 120)")
    # child mode (internal)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--length", type=int, help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--jit", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--matmul", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--inference", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--inference-rounds", type=int, default=7, help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    if a.child:
        child(a)
        return 0

    start = time.time()
    configs = QUICK_CONFIGS if a.quick else FULL_CONFIGS
    rounds = a.rounds or (3 if a.quick else 7)
    xla_timeout = a.xla_timeout or (120.0 if a.quick else 240.0)
    out_path = Path(a.out) if a.out else common.RESULTS_DIR / ("byte_rcae_quick.json" if a.quick else "byte_rcae.json")
    results = []
    workdir = tempfile.mkdtemp(prefix="bench-byte-rcae-")
    try:
        for n, L in configs:
            results.append(run_config(a, n, L, rounds, xla_timeout, workdir, start))
    finally:
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)
    best_mm = judge_flop_target(results)
    elapsed = time.time() - start
    doc = {
        "run_best_matmul_flops_per_s": best_mm,
        "benchmark": "byte_rcae", "mode": "quick" if a.quick else "full", "rounds": rounds,
        "created_unix": int(time.time()), "elapsed_s": round(elapsed, 1),
        "machine": common.machine_info(), "features": FEATURES, "max_length": MAX_LENGTH,
        "batch_for_length": BATCH_FOR_LENGTH, "flop_target": FLOP_TARGET,
        "notes": ["step = zoo Trainer.train_step (runtime.strategy mirrored on the one CPU, SGD "
                  "momentum 0.9, weight decay 1e-5) on one fixed batch, L/2..L-1 random bytes + EOS",
                  "FLOPs: bench_byte_rcae.train_step_flops (3x forward conv/dense FLOPs, no input "
                  "gradient for the one-hot layer), cross-checked against tf.compat.v1.profiler",
                  "valid bytes = paragraph bytes + EOS (the positions the loss counts)",
                  "each knob (oneDNN on; oneDNN on + XLA; oneDNN off) is its own child process, all "
                  "alive at once; the parent runs their timed rounds one child at a time in "
                  "alternating order (lock-step), so each round of every knob ran back to back "
                  "with the default step and the reference matmul; an XLA child that has not "
                  "compiled within --xla-timeout is killed before the rounds and reported skipped",
                  "ratios (speedup_vs_onednn, fraction_of_reference_matmul) are medians over "
                  "rounds of per-round ratios; step_s is the median step time",
                  "best-of estimates (speedup_vs_onednn_best, fraction_of_run_best_matmul_best_step) "
                  "use each series' fastest round, against the fastest matmul of the whole run; "
                  "the FLOP target counts as met only if the fastest knob meets it both ways"],
        "results": results,
    }
    common.atomic_write_json(out_path, doc)
    print()
    print(tables(results))
    print(f"\nwrote {out_path} in {elapsed:.0f} s (load average now "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
