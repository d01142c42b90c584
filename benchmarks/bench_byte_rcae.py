#!/usr/bin/env python
"""Speed benchmark of the byte-level recursive convolutional autoencoder (ByteRCAE, "Byte-level
Recursive Convolutional Auto-Encoder for Text", §2).

    python benchmarks/bench_byte_rcae.py --quick   # n=2, length 256, few rounds (< 3 min)
    python benchmarks/bench_byte_rcae.py           # n=2 and n=8 at lengths 256 and 1024 (< 20 min)
    python benchmarks/bench_byte_rcae.py --quick --torch --baseline-ref 3088897
        # + the PyTorch peer (zoo / torch) and revision 3088897's step (x vs baseline)

For each model (n = 2, 8; features 256; max_length 1024) and padded length (256, 1024) it
measures, on the CPU:

1. training throughput of the zoo's real training step (`Trainer.train_step`: the main phase's
   update under the recipe's distribution strategy, SGD + momentum + weight decay, shared-gradient
   division) on one fixed batch of random paragraphs whose lengths fill the bucket
   (L/2 .. L-1 bytes + EOS), in valid bytes per second;
2. achieved FLOP/s of that step (`train_step_flops`, counted from the architecture and
   cross-checked against TF's profiler count of the forward graph) as a fraction of the faster
   of two 2048x2048 float32 matmuls timed in the same round by the oneDNN-on child: TF's
   (`tf.linalg.matmul` in a tf.function) and numpy's BLAS (`a @ b`); the faster one is the
   machine's dense rate (TF's own GEMM can be the slower, and a fraction of it flatters the step);
3. peak memory: each child's resident-set high-water mark (getrusage ru_maxrss) right after the
   training step has run; `tf.config.experimental.get_memory_info('CPU:0')` is no use on CPU
   (zeros with oneDNN, "Allocator stats not available" without);
4. inference latency per batch: the Keras model called in a tf.function vs the `reconstruct`
   signature of the SavedModel `zoo.export.export_model` writes for that length;
5. CPU knobs: oneDNN on (TF_ENABLE_ONEDNN_OPTS=1, the `zoo` command's default, see zoo_env) vs
   off (=0), which must be set before TensorFlow loads; and XLA (`runtime.jit_compile: true`, oneDNN on);
6. with --baseline-ref REF: the training step of the zoo as of git revision REF (exported into the
   work folder, first on that child's PYTHONPATH), oneDNN on, in the same rounds: the speedup of
   today's step over that revision's, as per-round ratios;
7. with --torch: the independent PyTorch step of ../shared/peers/byte_rcae_torch (outside the
   project; its compare.py times the zoo's step and the PyTorch one in its own interleaved
   rounds, after the lock-step runs), merged per configuration: zoo / torch, goal <= 1.0.

Each knob is its own child process (so each has its own peak RSS), all alive at once; the
parent runs their timed rounds one child at a time, in alternating order
(`common.run_lockstep`): on a shared, busy machine every knob's step is then timed back to back
with the default step and the matmul, and each ratio is the median of per-round ratios. XLA's
LLVM compile can take pathologically long for some shapes (seen: > 17 min, in LLVM's
LoopIdiomRecognize/HashRecognize, for n=8 at L=256 with batch 4); an XLA child not ready within
--xla-timeout seconds is killed before the rounds start and reported as skipped.

FLOP target: the fastest knob's step at >= 50% of the machine's matmul rate (the faster of the
round's TF and numpy matmuls, and best-of against the run's fastest matmul).

Prints a table and writes `benchmarks/results/byte_rcae.json` (`byte_rcae_quick.json` for
--quick) atomically. See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
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
# Training step FLOP/s >= 50% of the machine's matmul FLOP/s: the faster of the same round's TF
# and numpy 2048^2 matmuls (issue 10; until then 60% of the TF matmul alone).
FLOP_TARGET = 0.50
TORCH_GOAL = 1.0        # zoo step time / PyTorch step time, same rounds
# Untimed pause after the numpy matmul in each round: OpenBLAS's workers poll ~0.1 s after a call.
NUMPY_SETTLE_S = 0.2
REPO = Path(__file__).resolve().parent.parent
PEER_SUBDIR = Path("shared") / "peers" / "byte_rcae_torch"   # next to the checkout, outside the project
TORCH_VENV_VAR = "ZOO_TORCH_VENV"
DEFAULT_TORCH_VENV = Path("~/.cache/zoo-peers/torch-venv")


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

    try:
        from zoo.models.byte_rcae.data import encode_batch
    except ImportError:  # older zoo (a --baseline-ref child): the byte codec lived in zoo.data
        from zoo.data.bytes import encode_batch

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


def legacy_recipe(n: int, batch: int, run_dir: str, jit: bool) -> dict:
    """The same recipe for older zoo revisions (--baseline-ref), which had no `task` section
    and kept `max_length` in `data`."""
    r = recipe(n, batch, run_dir, jit)
    return {"name": r["name"], "model": r["model"], "data": {"max_length": MAX_LENGTH, "batch_size": batch},
            "runtime": r["runtime"]}


def build_step(n, batch, ids, run_dir, jit):
    """(trainer, step, how) where step() runs the zoo's train_step once on the fixed batch and
    `how` says which recipe form and trainer entry points the zoo in use took. Works with the
    current zoo and with older revisions (--baseline-ref)."""
    import tensorflow as tf

    from zoo.config import RecipeError, load_recipe
    from zoo.training.trainer import Trainer

    quiet = lambda *a, **k: None  # noqa: E731
    try:
        trainer, how = Trainer(load_recipe(recipe(n, batch, run_dir, jit)), log=quiet), {"recipe": "task.max_length"}
    except (RecipeError, KeyError, TypeError):
        trainer, how = Trainer(load_recipe(legacy_recipe(n, batch, run_dir, jit)), log=quiet), {
            "recipe": "data.max_length (legacy)"}
    # 100 batches per pass: the learning-rate schedule's epoch length; no data is read. Older
    # trainers (revisions this benchmark compares against) build in `_build(steps_per_epoch)` +
    # `_make_steps()`; the current one in `build(batches_per_pass)`.
    if hasattr(trainer, "_build") and hasattr(trainer, "_make_steps"):
        trainer._build(steps_per_epoch=100)
        trainer._make_steps()
        how["trainer"] = "_build(steps_per_epoch=100) + _make_steps()"
    else:
        trainer.build(100)
        how["trainer"] = "build(100)"
    ds = tf.data.Dataset.from_tensors(ids)
    dist_batch = next(iter(trainer.strategy.experimental_distribute_dataset(ds)))

    def step():
        return float(trainer.train_step(dist_batch)["count"])  # blocks until the step is done

    return trainer, step, how


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
    if a.baseline_src:
        # The parent put the exported revision first on PYTHONPATH; make sure of it here too:
        # `common` (imported above) comes from this benchmarks folder, `zoo` from the baseline.
        sys.path.insert(0, a.baseline_src)
    import hashlib

    import numpy as np
    import tensorflow as tf

    import zoo  # noqa: F401  (registers the models)

    zoo_file = Path(zoo.__file__).resolve()
    if a.baseline_src and not zoo_file.is_relative_to(Path(a.baseline_src).resolve()):
        raise RuntimeError(f"baseline child imported zoo from {zoo_file}, not from {a.baseline_src}")

    n, L, B = a.n, a.length, a.batch
    out = {"n": n, "length": L, "batch": B, "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
           "zoo_file": str(zoo_file), "baseline_src": a.baseline_src,
           "machine": common.machine_info(), "rss_after_import_mb": common.peak_rss_mb()}
    ids, valid = make_batch(B, L, seed=a.seed)
    # The parent checks that every child (the baseline's encoder too) trains the same batch.
    out["batch_sha1"] = hashlib.sha1(np.ascontiguousarray(ids, dtype=np.int32).tobytes()).hexdigest()
    # Under the parent's work folder, which the parent removes even if this child is killed.
    tmp = tempfile.mkdtemp(prefix="child-", dir=a.workdir)
    out["valid_bytes_per_batch"] = valid
    out["padded_bytes_per_batch"] = B * L

    t = time.time()
    trainer, step, out["built_with"] = build_step(n, B, ids, os.path.join(tmp, "run"), jit=a.jit)
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
    if a.np_matmul:
        # After the TF matmul: on even rounds step, TF matmul, numpy matmul; reversed on odd ones
        # (then the step follows the numpy matmul only after the settle pause).
        fns["np_matmul"], out["np_matmul_flops"], out["numpy"] = common.numpy_matmul_reference(MATMUL_SIZE)
    out["setup_s"] = time.time() - t_start

    server.ready({"setup_s": out["setup_s"]})
    # The matmuls are several times shorter than a step: time 3 per round, keep their median.
    out["times_s"] = server.serve(fns, inner={"matmul": 3, "np_matmul": 3},
                                  settle={"np_matmul": NUMPY_SETTLE_S})

    flops = forward_flops(n, L, B)
    out["forward_flops"] = flops
    out["train_step_flops"] = train_step_flops(n, L, B)
    model = trainer.model
    out["parameters"] = int(model.count_params())
    try:
        out["parameterized_layers_on_path"] = int(model.num_parameterized_layers(L))
    except AttributeError:  # not every revision has it
        out["parameterized_layers_on_path"] = None

    if a.profile:
        t = time.time()
        prof = profiler_forward_flops(model, L)
        mine = forward_flops(n, L, 1)
        counted = prof["by_op_type"].get("Conv2D", 0) + prof["by_op_type"].get("MatMul", 0)
        out["profiler"] = {**prof, "conv_plus_matmul": counted, "analytic_conv_plus_dense": mine["total"],
                           "agree": counted == mine["total"],
                           "elementwise_share": 1 - counted / prof["total"], "seconds": time.time() - t}

    if a.inference:
        from zoo.export import export_model

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
    shutil.rmtree(tmp, ignore_errors=True)
    server.result(out)


# -- parent: run the children, summarise -----------------------------------------------------
def matmul_yardstick(on: dict) -> tuple[dict, list[float]]:
    """The oneDNN child's same-round matmuls: ({TF's, numpy's, which was faster, ...}, the
    seconds of the faster of the two in each round). The faster one is the machine's dense
    rate; every "% of matmul" is taken against it, round by round."""
    med, spread = common.median, common.spread
    mm_flops = on["matmul_flops"]
    tf_s, np_s = on["times_s"]["matmul"], on["times_s"].get("np_matmul")
    fastest = [min(t, n) for t, n in zip(tf_s, np_s)] if np_s else list(tf_s)
    out = {"size": MATMUL_SIZE,
           "tf": {"seconds": spread(tf_s), "flops_per_s": mm_flops / med(tf_s),
                  "what": "tf.linalg.matmul float32 in a tf.function"}}
    if np_s:
        out["numpy"] = {"seconds": spread(np_s), "flops_per_s": on["np_matmul_flops"] / med(np_s),
                        **on.get("numpy", {}),
                        "what": "numpy a @ b float32 on preallocated arrays (numpy's BLAS, its default threads)"}
        out["faster_in_rounds"] = {"tf": sum(t <= n for t, n in zip(tf_s, np_s)),
                                   "numpy": sum(n < t for t, n in zip(tf_s, np_s))}
        out["faster"] = "numpy" if out["numpy"]["flops_per_s"] > out["tf"]["flops_per_s"] else "tf"
    else:
        out["faster"] = "tf"
    out["fastest_per_round_flops_per_s"] = [mm_flops / s for s in fastest]
    out["flops_per_s"] = mm_flops / med(fastest)
    out["what"] = ("2048^2 float32 matmuls in the oneDNN-on child, each the median of 3 calls per round, "
                   "in lock-step with the steps; flops_per_s: median over rounds of the faster of the "
                   "round's two, the rate every fraction_of_reference_matmul is taken against")
    return out, fastest


def summarise(n, L, B, on: dict, off: dict | None, xla: dict | None = None,
              base: dict | None = None, baseline: dict | None = None) -> dict:
    """Per-knob numbers from the lock-step children. Round r of every knob ran back to back
    with round r of the others, so every comparison is the median over rounds of a per-round
    ratio: a step against the faster of the round's two matmuls (TF, numpy; oneDNN child), and
    each knob's step against the default (oneDNN on, no XLA) step of the same round. `xla` may
    be {"dropped": reason}; `base` is the --baseline-ref child, `baseline` its revision."""
    med = common.median
    flops = on["train_step_flops"]
    mm_flops = on["matmul_flops"]
    reference, fastest_mm = matmul_yardstick(on)
    tf_mm = on["times_s"]["matmul"]

    def fraction(steps, mm):  # median over rounds of (step FLOP/s) / (matmul FLOP/s)
        return med([flops / s / (mm_flops / m) for s, m in zip(steps, mm)])

    base_t = on["times_s"]["step"]
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
            # Against the faster of the same round's TF and numpy matmuls (until issue 10: TF's).
            "fraction_of_reference_matmul": fraction(t, fastest_mm),
            "fraction_of_tf_matmul": fraction(t, tf_mm),
            "speedup_vs_onednn": common.spread([b / s for b, s in zip(base_t, t)]),
            # Best of the rounds: the least contended step against the least contended default.
            "speedup_vs_onednn_best": min(base_t) / min(t),
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
    children = dict(series)
    if base is not None:
        children["baseline"] = (base, "1", False)
    res = {
        "n": n, "length": L, "batch": B, "recursion_depth": on["forward_flops"]["recursion_depth"],
        "parameters": on["parameters"], "parameterized_layers_on_path": on["parameterized_layers_on_path"],
        "valid_bytes_per_batch": on["valid_bytes_per_batch"], "train_step_flops": flops,
        "forward_flops": on["forward_flops"],
        "reference_matmul": reference,
        "knobs": knobs, "fastest_knob": fastest,
        "flop_target": FLOP_TARGET,
        "peak_rss_mb": {**{k: v["peak_rss_mb"] for k, v in knobs.items() if "peak_rss_mb" in v},
                        "onednn_after_import": on["rss_after_import_mb"],
                        "onednn_after_build": on["rss_after_build_mb"]},
        "peak_rss_method": on["peak_rss_method"] + ", one child process per configuration and "
                           "knob; get_memory_info('CPU:0') has no allocator stats on CPU",
        "children": {name: (_child_meta(c) if "dropped" not in c else c)
                     for name, (c, _, _) in children.items() if c is not None},
        "_children": [c for c, _, _ in children.values() if c is not None and "dropped" not in c],
    }
    if base is not None:
        t = base["times_s"]["step"]
        res["baseline"] = {
            **{k: baseline[k] for k in ("ref", "commit", "subject")},
            "step_s": common.spread(t),
            # Per round: that revision's step time / today's step time (> 1: today is faster).
            "speedup_vs_baseline": common.spread([b / c for b, c in zip(t, base_t)]),
            "speedup_vs_baseline_best": min(t) / min(base_t),
            "fraction_of_reference_matmul": fraction(t, fastest_mm),
            "peak_rss_mb": base["peak_rss_mb"], "setup_s": base["setup_s"], "trace_s": base["trace_s"],
            "parameters": base["parameters"], "same_parameters": base["parameters"] == on["parameters"],
            "same_batch": base["batch_sha1"] == on["batch_sha1"],
            "built_with": base["built_with"], "zoo_file": base["zoo_file"],
            "what": "the zoo source of git revision `commit` (git archive into the work folder, first "
                    "on the child's PYTHONPATH; zoo.__file__ checked), its Trainer.train_step on the "
                    "same batch, oneDNN on, in the same lock-step rounds",
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


def judge_flop_target(results) -> dict:
    """Add the best-of estimate and the target verdicts to every result; returns the run's best
    matmul {"flops_per_s", "which"}.

    On a shared machine the per-round median fraction depends on how contended the reference
    matmuls happened to be in that configuration's rounds (a 2-thread GEMM loses most when one
    core is taken). The best-of estimate divides each knob's fastest step by the fastest 2048^2
    matmul timed anywhere in this run (TF's in either oneDNN setting, or numpy's): both as close
    to an idle machine as the run got. The target is met only if both estimates reach it."""
    best = {"flops_per_s": 0.0, "which": None}
    for r in results:
        for c in r.pop("_children"):
            for key, what, flops_key in (("matmul", "tf", "matmul_flops"), ("np_matmul", "numpy", "np_matmul_flops")):
                if key in c.get("times_s", {}):
                    rate = c[flops_key] / min(c["times_s"][key])
                    if rate > best["flops_per_s"]:
                        best = {"flops_per_s": rate, "which": f"{what} (n={r['n']} L={r['length']}, "
                                f"TF_ENABLE_ONEDNN_OPTS={c['TF_ENABLE_ONEDNN_OPTS']})"}
    best_mm = best["flops_per_s"]
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
    return best


def _child_meta(c):
    return {k: c.get(k) for k in ("TF_ENABLE_ONEDNN_OPTS", "jit_compile", "child_seconds", "setup_s",
                                  "build_s", "trace_s", "export_s", "times_s", "zoo_file", "built_with")} | {
        "loadavg": c["machine"].get("loadavg_1_5_15"), "loadavg_end": c["machine"].get("loadavg_end")}


def _rss(mb):
    return None if mb is None else round(mb)


def _iqr(s, fmt=".2f"):
    return f"{s['median']:{fmt}} ({s['q1']:{fmt}}-{s['q3']:{fmt}})"


def tables(results) -> str:
    rows, mm_rows, inf_rows = [], [], []
    for r in results:
        head = {"n": r["n"], "L": r["length"], "batch": r["batch"]}
        for name, k in r["knobs"].items():
            row = {**head, "knob": name}
            if "skipped" in k:
                rows.append({**row, "step s": f"skipped: {k['skipped']}"})
                continue
            rows.append({
                **row, "step s": k["step_s"]["median"], "valid B/s": round(k["valid_bytes_per_s"]),
                "GFLOP/s": k["achieved_flops_per_s"] / 1e9,
                "% fastest mm": 100 * k["fraction_of_reference_matmul"],
                "% best mm": 100 * k["fraction_of_run_best_matmul_best_step"],
                "% own mm": 100 * k["fraction_of_own_process_matmul"] if "fraction_of_own_process_matmul" in k else None,
                "x vs oneDNN": k["speedup_vs_onednn"]["median"],
                "x best": k["speedup_vs_onednn_best"],
                "peak RSS MB": _rss(k["peak_rss_mb"]),
                "setup s": k["trace_or_compile_s"],
            })
        b = r.get("baseline")
        if b:
            rows.append({**head, "knob": f"baseline {b['ref']}", "step s": b["step_s"]["median"],
                         "valid B/s": round(r["valid_bytes_per_batch"] / b["step_s"]["median"]),
                         "GFLOP/s": r["train_step_flops"] / b["step_s"]["median"] / 1e9,
                         "% fastest mm": 100 * b["fraction_of_reference_matmul"],
                         "x vs oneDNN": 1 / b["speedup_vs_baseline"]["median"],
                         "x best": 1 / b["speedup_vs_baseline_best"],
                         "peak RSS MB": _rss(b["peak_rss_mb"]), "setup s": b["trace_s"]})
        m, t = r["reference_matmul"], r.get("torch", {})
        faster = m["faster"]
        if "faster_in_rounds" in m:
            faster += f" ({m['faster_in_rounds'][m['faster']]}/{sum(m['faster_in_rounds'].values())} rounds)"
        mm_rows.append({
            **head, "TF mm GFLOP/s": m["tf"]["flops_per_s"] / 1e9,
            "numpy mm GFLOP/s": m["numpy"]["flops_per_s"] / 1e9 if "numpy" in m else None,
            "faster mm": faster,
            "x vs baseline (q1-q3)": _iqr(b["speedup_vs_baseline"]) if b else None,
            "zoo÷torch (q1-q3)": (_iqr(t["zoo_over_torch"]) if "zoo_over_torch" in t else
                                  ("skipped" if "skipped" in t else None)),
            "torch s/step": t["torch_step_s"]["median"] if "torch_step_s" in t else None,
            "torch % fastest mm": 100 * t["torch_fraction_of_fastest_matmul"]["median"]
            if "torch_fraction_of_fastest_matmul" in t else None,
            "zoo % fastest mm (torch run)": 100 * t["zoo_fraction_of_fastest_matmul"]["median"]
            if "zoo_fraction_of_fastest_matmul" in t else None,
        })
        if "inference" in r:
            i = r["inference"]
            inf_rows.append({**head,
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
        m, f = r["reference_matmul"], r["knobs"][r["fastest_knob"]]
        mm = f"matmul TF {m['tf']['flops_per_s'] / 1e9:.0f}" + (
            f" / numpy {m['numpy']['flops_per_s'] / 1e9:.0f} GFLOP/s ({m['faster']} faster)" if "numpy" in m
            else " GFLOP/s")
        line = (f"n={r['n']} L={r['length']}: {r['train_step_flops'] / 1e9:.1f} GFLOP/step, {mm}; "
                f"fastest {r['fastest_knob']} at {100 * f['fraction_of_reference_matmul']:.0f}% of the faster "
                f"same-round matmul, {100 * f['fraction_of_run_best_matmul_best_step']:.0f}% best-of "
                f"(target {100 * FLOP_TARGET:.0f}%: {'met' if r['flop_target_met'] else 'NOT met'})"
                + "".join(f"; {k} {v['speedup_vs_onednn']['median']:.2f}x" for k, v in r["knobs"].items()
                          if k != "onednn" and "skipped" not in v))
        b = r.get("baseline")
        if b:
            line += (f"; {b['speedup_vs_baseline']['median']:.2f}x vs {b['ref']} "
                     f"({b['commit'][:9]}, IQR {b['speedup_vs_baseline']['q1']:.2f}-{b['speedup_vs_baseline']['q3']:.2f})")
            if not (b["same_parameters"] and b["same_batch"]):
                line += (" [WARNING: the baseline trains a different " +
                         ("model" if not b["same_parameters"] else "batch") + "]")
        t = r.get("torch", {})
        if "zoo_over_torch" in t:
            line += (f"; zoo÷torch {_iqr(t['zoo_over_torch'])} (goal <= {TORCH_GOAL:.1f}: "
                     f"{'met' if t['goal_met'] else 'NOT met'}; torch {t['torch_version']}, "
                     f"OMP_WAIT_POLICY={t['OMP_WAIT_POLICY']})")
            if t.get("zoo_step_note"):
                line += f" [WARNING: {t['zoo_step_note']}]"
        elif "skipped" in t:
            line += f"; torch skipped ({t['skipped']})"
        summary.append(line + (f"; {prof}" if prof else ""))
    return (common.format_table(rows) + "\n\n" + common.format_table(mm_rows) + "\n\n"
            + (common.format_table(inf_rows) + "\n\n" if inf_rows else "") + "\n".join(summary))


def run_config(a, n, L, B, rounds, xla_timeout, workdir, start, baseline: dict | None = None) -> dict:
    """Run one configuration's children in lock-step and summarise them."""
    args = ["--n", str(n), "--length", str(L), "--batch", str(B), "--workdir", workdir]
    children = {"onednn": (args + ["--matmul", "--np-matmul", "--profile", "--inference", "--inference-rounds",
                                   str(5 if a.quick else 9)], {"TF_ENABLE_ONEDNN_OPTS": "1"})}
    if baseline:
        # Next to the default child in the lock-step order (both directions). The revision's
        # source first on the path: `zoo` resolves there (the child asserts it), `common` still
        # comes from this script's folder (sys.path[0]).
        path = os.pathsep.join(p for p in (baseline["src"], os.environ.get("PYTHONPATH")) if p)
        children["baseline"] = (args + ["--baseline-src", baseline["src"]],
                                {"TF_ENABLE_ONEDNN_OPTS": "1", "PYTHONPATH": path})
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
    base = got["baseline"]["result"] if "baseline" in got else None
    return summarise(n, L, B, on, off, xla, base, baseline)


# -- --baseline-ref: the zoo of another revision -----------------------------------------------
def export_baseline(ref: str, workdir: str) -> dict:
    """Export the tree of git revision `ref` into <workdir>/baseline-src (removed with the work
    folder); returns {"ref", "commit", "subject", "src"}."""
    def git(*args, **kw):
        return subprocess.run(["git", "-C", str(REPO), *args], check=True, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw).stdout.strip()

    try:
        commit = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        subject = git("log", "-1", "--format=%s", commit)
    except (subprocess.CalledProcessError, OSError):
        raise SystemExit(f"--baseline-ref {ref!r}: not a commit of {REPO}") from None
    dest = Path(workdir) / "baseline-src"
    dest.mkdir()
    archive = subprocess.Popen(["git", "-C", str(REPO), "archive", "--format=tar", commit], stdout=subprocess.PIPE)
    tar = subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout)
    archive.stdout.close()
    if archive.wait() != 0 or tar.returncode != 0 or not (dest / "zoo" / "__init__.py").is_file():
        raise SystemExit(f"--baseline-ref {ref!r}: could not export {commit} with git archive | tar")
    return {"ref": ref, "commit": commit, "subject": subject, "src": str(dest)}


# -- --torch: the independent PyTorch step (outside the project) ------------------------------
def default_peer_dir() -> Path:
    """<repo>/../shared/peers/byte_rcae_torch; in a linked git worktree, where that is absent,
    the same next to the main checkout (the folder above the shared .git)."""
    first = REPO.parent / PEER_SUBDIR
    if (first / "compare.py").is_file():
        return first
    try:
        common_dir = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--git-common-dir"], check=True,
                                    text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip()
        main_checkout = (REPO / common_dir).resolve().parent
    except (subprocess.CalledProcessError, OSError):
        return first
    other = main_checkout.parent / PEER_SUBDIR
    return other if (other / "compare.py").is_file() else first


def default_torch_python() -> Path:
    venv = os.environ.get(TORCH_VENV_VAR) or str(DEFAULT_TORCH_VENV)
    return Path(venv).expanduser() / "bin" / "python"


def torch_setup_hint(peer: Path) -> str:
    try:
        shown = os.path.relpath(peer / "setup.sh", REPO)
    except ValueError:
        shown = str(peer / "setup.sh")
    return (f"set it up with `bash {shown}` (a PyTorch venv at ${TORCH_VENV_VAR}, default "
            f"{DEFAULT_TORCH_VENV}), or `pip install torch==2.13.0 numpy` into that venv, or pass "
            f"--torch-python / --peer-dir")


def run_torch(a, configs, rounds, workdir, start) -> dict:
    """Run the peer harness's compare.py for this run's configurations; returns {"doc": its
    JSON, ...} or {"skipped": why}. Nothing of it is imported: it runs as a subprocess."""
    peer = Path(a.peer_dir).expanduser().resolve() if a.peer_dir else default_peer_dir()
    compare = peer / "compare.py"
    python = Path(a.torch_python).expanduser() if a.torch_python else default_torch_python()
    if not compare.is_file():
        return {"skipped": f"no PyTorch harness at {compare} (--peer-dir)", "hint": torch_setup_hint(peer)}
    if not (python.is_file() and os.access(python, os.X_OK)):
        return {"skipped": f"no PyTorch Python at {python} (--torch-python, ${TORCH_VENV_VAR})",
                "hint": torch_setup_hint(peer)}
    out_json = Path(workdir) / "torch_compare.json"
    cmd = [sys.executable, str(compare), "--zoo-python", sys.executable, "--torch-python", str(python),
           "--configs", ",".join(f"n{n}:L{L}:B{B}" for n, L, B in configs), "--rounds", str(rounds),
           "--json", str(out_json)]
    # The zoo side under the default knob of this benchmark (oneDNN on); the harness sets
    # OMP_WAIT_POLICY=PASSIVE for PyTorch unless it is set (see its README).
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1"}
    print(f"[{time.time() - start:5.0f}s] torch: {compare} ({python}) ...", flush=True)
    t0 = time.time()
    limit = 300 + 120 * len(configs) * max(1, rounds // 3)
    tail = []
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    timer = threading.Timer(limit, proc.kill)
    timer.start()
    try:
        for line in proc.stdout:
            print(f"[{time.time() - start:5.0f}s]   torch| {line.rstrip()}", flush=True)
            tail = (tail + [line.rstrip()])[-25:]
        rc = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    doc = json.loads(out_json.read_text()) if out_json.is_file() else None
    info = {"harness": str(compare), "torch_python": str(python), "command": cmd, "exit_code": rc,
            "elapsed_s": round(time.time() - t0, 1)}
    if rc != 0:
        why = f"compare.py exited with {rc}" + (f" (killed after {limit} s)" if rc < 0 else "")
        info["error"] = why + ": " + " / ".join(tail[-6:])
        if not doc or not doc.get("configs"):
            return {"skipped": info["error"], **info}
    return {**info, "doc": doc}


def merge_torch(results, torch: dict) -> dict:
    """Put compare.py's per-configuration numbers into each result's "torch"; returns the
    run-level "torch" entry of the JSON (versions, command) or {"skipped": why}."""
    if "doc" not in torch:
        if not torch.get("not_requested"):
            for r in results:
                r["torch"] = {"skipped": torch["skipped"]}
        return torch
    doc = torch.pop("doc")
    versions = doc.get("versions", {})
    mm = 2.0 * MATMUL_SIZE ** 3
    by_config = {(c["n"], c["L"], c["B"]): c for c in doc.get("configs", [])}
    for r in results:
        c = by_config.get((r["n"], r["length"], r["batch"]))
        if c is None:
            r["torch"] = {"skipped": torch.get("error", "compare.py did not measure this configuration")}
            continue
        times = c["times_s"]
        fastest = [min(t, n) for t, n in zip(times["tf_matmul"], times["np_matmul"])]
        flops = c["train_step_flops"]
        fraction = lambda steps: common.spread([flops / s / (mm / m) for s, m in zip(steps, fastest)])  # noqa: E731
        ratio = common.spread([z / t for z, t in zip(times["zoo_step"], times["torch_step"])])
        r["torch"] = {
            "zoo_over_torch": ratio, "goal": f"zoo_over_torch median <= {TORCH_GOAL}",
            "goal_met": ratio["median"] <= TORCH_GOAL,
            "zoo_step_s": common.spread(times["zoo_step"]), "torch_step_s": common.spread(times["torch_step"]),
            "zoo_fraction_of_fastest_matmul": fraction(times["zoo_step"]),
            "torch_fraction_of_fastest_matmul": fraction(times["torch_step"]),
            "tf_matmul_flops_per_s": mm / common.median(times["tf_matmul"]),
            "numpy_matmul_flops_per_s": mm / common.median(times["np_matmul"]),
            "train_step_flops": flops, "same_flop_count": flops == r["train_step_flops"],
            "params": c.get("params"), "logits_rel_diff": c.get("logits_rel_diff"),
            "zoo_step_source": c.get("zoo_step_source"), "zoo_step_note": c.get("zoo_step_note"),
            "torch_version": versions.get("torch"), "torch_threads": versions.get("torch_threads"),
            "OMP_WAIT_POLICY": versions.get("torch OMP_WAIT_POLICY"),
            "times_s": times, "load1": c.get("load1"),
        }
    return {**torch, "versions": versions, "rounds": doc.get("rounds"), "load_start": doc.get("load_start"),
            "load_end": doc.get("load_end"),
            "what": "../shared/peers/byte_rcae_torch/compare.py (outside the project): the zoo's "
                    "Trainer.train_step and an exact PyTorch implementation (weights copied, logits "
                    "checked) timed in its own interleaved rounds after the lock-step runs; ratios "
                    "and fractions are per-round, against the faster of its TF and numpy matmuls"}


def batch_for_length(L: int) -> int:
    return BATCH_FOR_LENGTH.get(L, max(1, 1024 // L))  # 1024 padded bytes per batch


def parse_configs(text: str) -> list[tuple[int, int, int]]:
    """"2:256,8:1024" (or compare.py's "n2:L256:B4") -> [(n, L, batch)]; the batch defaults
    to 1024 padded bytes per batch."""
    configs = []
    for item in text.split(","):
        m = re.fullmatch(r"n?(\d+):L?(\d+)(?::B?(\d+))?", item.strip(), flags=re.IGNORECASE)
        if not m:
            raise SystemExit(f"--configs: bad item {item!r}: expected n:L[:batch], e.g. 2:256 or 8:1024:1")
        n, L = int(m[1]), int(m[2])
        B = int(m[3]) if m[3] else batch_for_length(L)
        if n < 2 or n % 2 or L < CODE_LENGTH or L & (L - 1) or L > MAX_LENGTH or B < 1:
            raise SystemExit(f"--configs: bad item {item!r}: n even >= 2 (a registered byte_rcae_n<n>), "
                             f"L a power of two in {CODE_LENGTH}..{MAX_LENGTH}, batch >= 1")
        configs.append((n, L, B))
    return configs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="n=2, length 256, few rounds (< 3 min)")
    p.add_argument("--configs", help="comma-separated n:L[:batch] to measure, e.g. 2:256,8:1024 "
                                     "(default 2:256,2:1024,8:256,8:1024; --quick 2:256; batch "
                                     "1024 // L unless given)")
    p.add_argument("--out", help="JSON path (default benchmarks/results/byte_rcae.json, "
                                 "byte_rcae_quick.json with --quick)")
    p.add_argument("--rounds", type=int, help="timed training steps per knob (default 7, quick 3)")
    p.add_argument("--no-eigen", action="store_true", help="skip the oneDNN-off children")
    p.add_argument("--no-xla", action="store_true", help="skip the XLA children")
    p.add_argument("--xla-timeout", type=float,
                   help="seconds an XLA child may take to compile before it is dropped "
                        "(default 240, quick 120)")
    p.add_argument("--baseline-ref", metavar="REF",
                   help="also time the training step of the zoo as of git revision REF (e.g. "
                        "3088897) in the same rounds: speedup_vs_baseline")
    p.add_argument("--torch", action="store_true",
                   help="also run the independent PyTorch step (../shared/peers/byte_rcae_torch/"
                        "compare.py, outside the project) for the same configurations: zoo / torch")
    p.add_argument("--torch-python", help=f"Python with torch and numpy (default ${TORCH_VENV_VAR}/bin/python, "
                                          f"${TORCH_VENV_VAR} defaulting to {DEFAULT_TORCH_VENV})")
    p.add_argument("--peer-dir", help="the PyTorch harness folder (default <repo>/../shared/peers/byte_rcae_torch; "
                                      "from a git worktree, else next to the main checkout)")
    # child mode (internal)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--length", type=int, help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--jit", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--matmul", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--np-matmul", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--baseline-src", help=argparse.SUPPRESS)
    p.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--inference", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--inference-rounds", type=int, default=7, help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    if a.child:
        child(a)
        return 0

    start = time.time()
    if a.configs:
        configs = parse_configs(a.configs)
    else:
        configs = [(n, L, batch_for_length(L)) for n, L in (QUICK_CONFIGS if a.quick else FULL_CONFIGS)]
    rounds = a.rounds or (3 if a.quick else 7)
    xla_timeout = a.xla_timeout or (120.0 if a.quick else 240.0)
    out_path = Path(a.out) if a.out else common.RESULTS_DIR / ("byte_rcae_quick.json" if a.quick else "byte_rcae.json")
    results = []
    workdir = tempfile.mkdtemp(prefix="bench-byte-rcae-")
    baseline = None
    try:
        if a.baseline_ref:
            baseline = export_baseline(a.baseline_ref, workdir)
            print(f"baseline: {a.baseline_ref} = {baseline['commit'][:12]} ({baseline['subject']})", flush=True)
        for n, L, B in configs:
            results.append(run_config(a, n, L, B, rounds, xla_timeout, workdir, start, baseline))
        torch = (run_torch(a, configs, rounds, workdir, start) if a.torch
                 else {"skipped": "not requested (--torch)", "not_requested": True})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the baseline's source with it
    torch = merge_torch(results, torch)
    best_mm = judge_flop_target(results)
    elapsed = time.time() - start
    doc = {
        "run_best_matmul_flops_per_s": best_mm["flops_per_s"], "run_best_matmul": best_mm["which"],
        "benchmark": "byte_rcae", "mode": "quick" if a.quick else "full", "rounds": rounds,
        "configs": [{"n": n, "length": L, "batch": B} for n, L, B in configs],
        "created_unix": int(time.time()), "elapsed_s": round(elapsed, 1),
        "machine": common.machine_info(), "features": FEATURES, "max_length": MAX_LENGTH,
        "batch_for_length": BATCH_FOR_LENGTH, "flop_target": FLOP_TARGET, "torch_goal": TORCH_GOAL,
        "baseline": None if baseline is None else {k: baseline[k] for k in ("ref", "commit", "subject")},
        "torch": torch,
        "notes": ["step = zoo Trainer.train_step (runtime.strategy mirrored on the one CPU, SGD "
                  "momentum 0.9, weight decay 1e-5) on one fixed batch, L/2..L-1 random bytes + EOS",
                  "FLOPs: bench_byte_rcae.train_step_flops (3x forward conv/dense FLOPs, no input "
                  "gradient for the one-hot layer), cross-checked against tf.compat.v1.profiler",
                  "valid bytes = paragraph bytes + EOS (the positions the loss counts)",
                  "each knob (oneDNN on; oneDNN on + XLA; oneDNN off; the --baseline-ref revision, "
                  "oneDNN on) is its own child process, all alive at once; the parent runs their "
                  "timed rounds one child at a time in alternating order (lock-step), so each round "
                  "of every knob ran back to back with the default step and the reference matmuls; "
                  "an XLA child that has not compiled within --xla-timeout is killed before the "
                  "rounds and reported skipped",
                  "reference matmul (issue 10): the oneDNN child times a TF and a numpy 2048^2 "
                  "float32 matmul each round; fraction_of_reference_matmul is against the faster "
                  "of the two in the same round (fraction_of_tf_matmul: against TF's alone, the "
                  "definition before); FLOP target 50%",
                  "ratios (speedup_vs_onednn, speedup_vs_baseline, fraction_of_reference_matmul) "
                  "are medians over rounds of per-round ratios; step_s is the median step time",
                  "best-of estimates (speedup_vs_onednn_best, fraction_of_run_best_matmul_best_step) "
                  "use each series' fastest round, against the fastest matmul (TF or numpy) of the "
                  "whole run; the FLOP target counts as met only if the fastest knob meets it both ways",
                  "torch (--torch): numbers from the peer harness's own interleaved rounds, run "
                  "after the lock-step ones; zoo_over_torch goal <= 1.0"],
        "results": results,
    }
    common.atomic_write_json(out_path, doc)
    print()
    print(tables(results))
    if "skipped" in torch and a.torch:
        print(f"\ntorch comparison skipped: {torch['skipped']}; {torch.get('hint', torch_setup_hint(default_peer_dir()))}")
    print(f"\nwrote {out_path} in {elapsed:.0f} s (load average now "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
