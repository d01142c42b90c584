#!/usr/bin/env python
"""The allocator effect on the byte RCAE's training step: ZOO_MALLOC=glibc (the zoo's default,
`zoo.training.allocator`) against ZOO_MALLOC=tensorflow (TensorFlow's tf.data patch left in
place: a fixed 128 KiB mmap threshold).

    python benchmarks/bench_malloc.py                  # n=2, L=256, B=4, 15 rounds (~3 min)
    python benchmarks/bench_malloc.py --n 8 --rounds 9

One lock-step child per mode (`common.run_lockstep`: both alive at once, rounds alternate which
goes first), each timing the real `Trainer.train_step` (built as `bench_byte_rcae.build_step`
does) and counting the page faults each step takes (getrusage ru_minflt before and after). Per
mode: the median step time and faults per step, the resident set after the rounds and its
high-water mark; ratio: tensorflow / glibc per round (> 1: the zoo's setting is faster). Prints
the load average and thread settings; writes benchmarks/results/malloc.json.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

MODES = ("glibc", "tensorflow")
THREAD_VARS = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS", "TF_ENABLE_ONEDNN_OPTS")


def child(a) -> None:
    server = common.LockstepServer()
    import bench_byte_rcae as rcae
    import tensorflow as tf

    ids, valid = rcae.make_batch(a.batch, a.length, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        trainer, step, _ = rcae.build_step(a.n, a.batch, ids, os.path.join(tmp, "run"), jit=False)
        faults = []

        def timed_step():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            step()
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)

        for _ in range(2):   # trace, then one untimed step
            timed_step()
        faults.clear()
        server.ready({})
        times = server.serve({"step": timed_step})
        server.result({"times_s": times, "faults": faults, "malloc": trainer.malloc,
                       "rss_mb": common.current_rss_mb(), "peak_rss_mb": common.peak_rss_mb(),
                       "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                       "inter_op": tf.config.threading.get_inter_op_parallelism_threads()})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=2)
    p.add_argument("--length", type=int, default=256)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--out", default=str(common.RESULTS_DIR / "malloc.json"))
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        return child(a)
    load_before = os.getloadavg()
    args = ["--n", str(a.n), "--length", str(a.length), "--batch", str(a.batch)]
    env = {"TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1")}
    t = time.time()
    out = common.run_lockstep(__file__, {m: (args, {**env, "ZOO_MALLOC": m}) for m in MODES}, a.rounds,
                              log=lambda s: print(s, file=sys.stderr, flush=True))
    rows, res = [], {"config": vars(a), "machine": common.machine_info(), "load_before": load_before,
                     "threads": {k: os.environ.get(k) for k in THREAD_VARS}, "modes": {}}
    for m in MODES:
        r = out[m]["result"]
        res["modes"][m] = {**r, "step_s": common.spread(r["times_s"]["step"]),
                           "faults_per_step": common.spread(r["faults"])}
        rows.append({"mode": m, "step_s": res["modes"][m]["step_s"]["median"],
                     "faults/step": res["modes"][m]["faults_per_step"]["median"],
                     "rss_mb": r["rss_mb"], "peak_rss_mb": r["peak_rss_mb"], "malloc": r["malloc"]["mode"],
                     "intra/inter threads": f'{r["intra_op"]}/{r["inter_op"]} (0: all {os.cpu_count()} cores)'})
    ratios = common.per_round_ratio(out["tensorflow"]["times_s"]["step"], out["glibc"]["times_s"]["step"])
    res["tensorflow_over_glibc"] = common.spread(ratios)
    res["load_after"] = os.getloadavg()
    res["seconds"] = time.time() - t
    print(common.format_table(rows))
    s = res["tensorflow_over_glibc"]
    print(f"step time tensorflow / glibc, per round: median {s['median']:.3f} (min {s['min']:.3f}, "
          f"max {s['max']:.3f}, {s['n']} rounds); load {load_before} -> {res['load_after']}")
    print(f"-> {common.atomic_write_json(a.out, res)}")


if __name__ == "__main__":
    main()
