#!/usr/bin/env python
"""Training-step speed of the text GANs (`zoo/models/textgan/`, Semeniuta's dissertation §5.4),
measured in one run on the trainer's own compiled steps:

1. every model's adversarial phase step (its discriminator / critic update(s), then its generator
   update, as `Trainer._run_phase` runs them: the next batch of the trainer's distributed stream,
   each update's distributed `step_fn`, every returned sum read with `float`), and the MLE step of
   `textgan_lm`: seconds and steps per second, each update's share, the size of each update's
   traced graph (the unrolled Python loops of model.py) and the first step's trace time;
2. the rollout cost: SeqGAN-rollout's generator update over SeqGAN-reinforce's per rollout count
   (`task.rollouts`; the largest count, by default 16 as the task's default, is part 1's
   seqgan_rollout, the other counts are arms of their own), both timed inside the phase steps of
   part 1, in the same rounds;
3. the platform's overhead: the zoo's WGAN-GP Conv-Deconv phase step against a plain Keras/TF one
   (the same generator and critic math and sizes as Keras layers, the zoo model's weights copied
   in and the outputs checked, the critic update(s) then the generator update in one tf.function
   with tf.GradientTape and two Adams of the same settings), on the task's real batches:
   zoo ÷ plain (the issue's target is ≤ 1.1). Beside the trainer's way (`zoo_trainer`),
   `zoo_prefetched` calls the same step functions on batches fetched beforehand and reads one sum
   per update, which separates the trainer loop's own cost (iterator, a `float` per sum) from the
   compiled step's. One step per arm and round, many rounds (a step is ~0.3 s). Then thread time
   per kernel type of both steps (`bench_byte_rcae_graph.kernel_profile`, alternating).

    python benchmarks/bench_textgan.py                  # recipes/textgan/lm.yaml's sizes (~8 min)
    python benchmarks/bench_textgan.py --rollouts 1,4   # without the 40-s steps of 16 rollouts
    python benchmarks/bench_textgan.py --quick          # 1 round, 1 step per arm
    python benchmarks/bench_textgan.py --set task.discriminator_steps=5

Every model is built by `Trainer.build` from `--recipe` (default textgan/lm: vocab 4000,
max_length 32, units 128, batch 64) with `model.name` set per method (`--set`-style overrides
through `zoo.config`; wgan_conv_deconv also `task.pretrain_steps=0`, which it requires); the
pretraining phase (and SeqGAN-rollout's copy phase) is built but not run. The data (Wikipedia
sentences, SentencePiece) is loaded once and handed to every trainer. The weights are untrained:
every sampler runs all max_length positions whatever it draws, so a step's cost does not depend
on training. Rounds are interleaved (`common.interleaved`, order reversed every other round); a
round's time is the median of its steps; ratios are medians (and min–max) of per-round ratios.
Prints tables with the machine's load and writes benchmarks/results/textgan.json
(textgan_quick.json with --quick).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

METHODS = ("seqgan_reinforce", "seqgan_step", "seqgan_rollout", "leakgan_leak", "leakgan_noleak",
           "leakgan_mixed", "wgan_conv_lstm", "wgan_conv_deconv")
_KEEP: list = []
_DATA = ("tokenizer", "train_ids", "train_texts", "test_ids", "test_texts", "cut")


def make_trainer(recipe, overrides, run_root, data_from=None):
    """A built `Trainer` (fresh weights, phase states, compiled step functions) on a temporary
    run folder; the data of `data_from`'s task when given (the tokenizer fit is the slow part)."""
    import keras

    from zoo.config import load_recipe
    from zoo.training.trainer import Trainer

    cfg = load_recipe(recipe, ["runtime.progress=false", *overrides])
    tr = Trainer(cfg, run_dir=tempfile.mkdtemp(dir=run_root), log=lambda *a, **k: None)
    if data_from is None:
        tr.load_data()
    else:
        for key in _DATA:
            setattr(tr.task, key, getattr(data_from.task, key))
        tr._adopt_model_arguments()
        tr._data_loaded = True
    keras.utils.set_random_seed(cfg.trainer.seed)   # as `Trainer._fit` does before building
    return tr.build()


class PhaseRunner:
    """The main phase's step as `Trainer._run_phase` runs it (without logging / checkpoints): the
    next batch of the stream each update reads, its distributed `step_fn`, `float` of every sum.
    Each call also records how long each update took (the `float`s make every update finish
    before the next starts), so one measurement gives the phase step and its updates."""

    def __init__(self, trainer):
        self.state = trainer.phase_states[-1]
        self.phase = self.state.phase
        self.streams = {n: trainer._batches(n, 0) for n in self.phase.batches_per_step()}
        self.step = 0
        self.calls: list[dict[str, float]] = []   # seconds per update, one dict per call
        self.graph_ops: dict[str, int] = {}

    def __call__(self):
        import tensorflow as tf

        step_t = tf.constant(self.step, tf.int64)
        times = {}
        for update, fn in zip(self.phase.updates, self.state.steps):
            t = time.perf_counter()
            for _ in range(update.repeat):
                batch = None if update.stream is None else next(self.streams[update.stream])
                for k, v in fn(batch, step_t).items():
                    float(v)
            times[update.name] = time.perf_counter() - t
            if update.name not in self.graph_ops:
                # The traced step's graph (forward, gradients, optimizer): the unrolled loops' size.
                self.graph_ops[update.name] = len(fn.get_concrete_function(batch, step_t).graph.get_operations())
        self.calls.append(times)
        self.step += 1

    def per_round(self, rounds: int, inner: int) -> dict[str, list[float]]:
        """{update: [median seconds per round]} of the last rounds * inner calls."""
        calls = self.calls[-rounds * inner:]
        return {u.name: [common.median(c[u.name] for c in calls[r * inner:(r + 1) * inner]) for r in range(rounds)]
                for u in self.phase.updates}


# -- the plain WGAN-GP yardstick ---------------------------------------------------------------
def plain_wgan(zoo_model, trainer_cfg, task_opts):
    """Generator and critic of `wgan_conv_deconv` as plain Keras layers with the zoo model's
    weights, and a tf.function phase step (critic update(s) then generator update)."""
    import keras
    import numpy as np
    import tensorflow as tf
    from keras import layers

    m = zoo_model
    V, L, Z = m.vocab_size, m.max_length, m.noise_dim
    n0, c0 = L // 2 ** len(m.deconv_channels), m.deconv_channels[0]
    gen = keras.Sequential([keras.Input((Z,)), layers.Dense(n0 * c0, activation="relu"), layers.Reshape((n0, c0))]
                           + [layers.Conv1DTranspose(c, m.kernel_size, strides=2, padding="same", activation="relu")
                              for c in m.deconv_channels]
                           + [layers.Dense(V), layers.Softmax()])
    critic = keras.Sequential([keras.Input((L, V)), layers.Dense(m.disc_embedding_dim, use_bias=False)]
                              + [layers.Conv1D(c, m.kernel_size, padding="same",
                                               activation=lambda x: tf.nn.leaky_relu(x, 0.2))
                                 for c in m.critic_channels]
                              + [layers.Flatten(), layers.Dense(1, use_bias=False)])
    # The zoo's weights, in layer order (kernel, bias per layer; the critic's embedding and output
    # have no bias: a constant cancels in D(real) - D(fake) and in the penalty's gradient).
    # The check runs on random values in every weight (the zoo starts its biases at zero, which
    # would hide a misplaced one), then both models get the zoo's own weights back.
    zoo_weights = m.generator_weights() + m.discriminator_weights()
    saved = [v.numpy() for v in zoo_weights]
    rng = np.random.default_rng(0)
    for v in zoo_weights:
        v.assign(rng.normal(0.0, 0.05, v.shape).astype(np.dtype(v.dtype)))
    gen.set_weights([v.numpy() for v in m.generator_weights()])
    critic.set_weights([v.numpy() for v in m.discriminator_weights()])
    noise = tf.random.stateless_normal([4, Z], seed=[5, 6])
    ids = tf.constant(rng.integers(0, V, (4, L)), tf.int32)
    check = {"generator_max_abs_diff": float(tf.reduce_max(tf.abs(gen(noise) - m.soft_generate(noise)))),
             "critic_max_abs_diff": float(tf.reduce_max(tf.abs(
                 critic(tf.one_hot(ids, V))[:, 0] - m.critic(ids))))}
    if max(check.values()) > 1e-4:
        raise RuntimeError(f"the plain WGAN-GP does not compute the zoo model's function: {check}")
    for v, value in zip(zoo_weights, saved):
        v.assign(value)
    gen.set_weights(saved[:len(gen.weights)])
    critic.set_weights(saved[len(gen.weights):])

    t = trainer_cfg

    def adam(lr, b1, b2):
        return keras.optimizers.Adam(lr, beta_1=b1, beta_2=b2, clipnorm=t.clipnorm,
                                     weight_decay=t.weight_decay or None)

    d_opt = adam(task_opts.discriminator_learning_rate, task_opts.discriminator_beta_1,
                 task_opts.discriminator_beta_2)
    g_opt = adam(task_opts.generator_learning_rate, task_opts.generator_beta_1, task_opts.generator_beta_2)
    lam = float(task_opts.gp_lambda)

    @tf.function
    def step(real_batches, step):
        """real_batches [critic steps, B, L]: one critic update per batch, then the generator's."""
        for k in range(real_batches.shape[0]):
            real = tf.one_hot(real_batches[k], V)
            n = tf.shape(real)[0]
            seed = tf.stack([step, 2 * k])
            with tf.GradientTape() as tape:
                fake = gen(tf.random.stateless_normal([n, Z], seed=seed))
                eps = tf.random.stateless_uniform([n, 1, 1], seed=seed + 1)
                mixed = eps * real + (1.0 - eps) * fake
                with tf.GradientTape() as inner:
                    inner.watch(mixed)
                    d_mixed = critic(mixed)[:, 0]
                gp = tf.square(tf.sqrt(tf.reduce_sum(tf.square(inner.gradient(d_mixed, mixed)), [1, 2]) + 1e-12) - 1.0)
                w = critic(real)[:, 0] - critic(fake)[:, 0]
                d_loss = tf.reduce_sum(-w + lam * gp) / tf.cast(n, tf.float32)
            d_opt.apply_gradients(zip(tape.gradient(d_loss, critic.trainable_variables), critic.trainable_variables))
        with tf.GradientTape() as tape:
            g_loss = -tf.reduce_mean(critic(gen(tf.random.stateless_normal([n, Z], seed=tf.stack([step, -1]))))[:, 0])
        g_opt.apply_gradients(zip(tape.gradient(g_loss, gen.trainable_variables), gen.trainable_variables))
        return d_loss, g_loss

    info = {"generator_parameters": int(gen.count_params()), "critic_parameters": int(critic.count_params()),
            "check_against_zoo_model": check,
            "optimizers": {"critic": d_opt.get_config(), "generator": g_opt.get_config()}}
    return step, info


def _jsonable(cfg):
    import json
    return json.loads(json.dumps(cfg, default=str))


def _watch_gc() -> list:
    """[(generation, seconds)] of every Python garbage collection from now on (a full collection
    walks the Python objects of every trainer's traced graphs; recorded so a long pause shows)."""
    import gc

    pauses, start = [], {}

    def callback(phase, info):
        if phase == "start":
            start["t"] = time.perf_counter()
        elif "t" in start:
            pauses.append((info["generation"], time.perf_counter() - start.pop("t")))
    gc.callbacks.append(callback)
    return pauses


def _label(name):
    prefix = "seqgan_rollout_r"
    return f"seqgan_rollout, rollouts {name[len(prefix):]}" if name.startswith(prefix) else name


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", default="textgan/lm", help="the base recipe (default textgan/lm)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="a recipe override for every model (repeatable)")
    ap.add_argument("--rollouts", default="1,4,16", help="SeqGAN-rollout's rollout counts (part 2)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds of parts 1-2 (3; 1 with --quick)")
    ap.add_argument("--steps", type=int, default=None,
                    help="timed phase steps per arm and round, their median the round's time (3; 1 with "
                         "--quick); an arm whose untimed steps took over 2 s gets one")
    ap.add_argument("--wgan-rounds", type=int, default=None,
                    help="interleaved rounds of part 3, one step per arm each (20; 2 with --quick)")
    ap.add_argument("--quick", action="store_true", help="1 round, 1 step per arm, no kernel profile")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.steps = args.steps or (1 if args.quick else 3)
    args.wgan_rounds = args.wgan_rounds or (2 if args.quick else 20)
    rollouts = [int(r) for r in args.rollouts.split(",")]
    out_path = args.out or str(common.RESULTS_DIR / ("textgan_quick.json" if args.quick else "textgan.json"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    load_start = os.getloadavg()
    started = time.time()

    import keras
    import tensorflow as tf

    run_root = tempfile.mkdtemp(prefix="bench-textgan-")
    log = lambda msg: print(f"[{time.time() - started:5.0f} s] {msg}", flush=True)  # noqa: E731

    # -- build every trainer, trace every step ----------------------------------------------------
    # seqgan_rollout runs the largest count (by default 16, the task's default); the others are arms of their own.
    most = max(rollouts)
    names = ["textgan_lm", *METHODS] + [f"seqgan_rollout_r{r}" for r in rollouts if r != most]
    trainers, setup_s, first_step_s, runners = {}, {}, {}, {}
    first = None
    for name in names:
        t = time.time()
        if name.startswith("seqgan_rollout"):
            k = name[len("seqgan_rollout_r"):] if name.startswith("seqgan_rollout_r") else most
            ov = ["model.name=seqgan_rollout", f"task.rollouts={k}"]
        else:
            ov = [f"model.name={name}"] + (["task.pretrain_steps=0"] if name == "wgan_conv_deconv" else [])
        trainers[name] = make_trainer(args.recipe, ov + args.overrides, run_root, first)
        first = first or trainers[name]
        setup_s[name] = time.time() - t
        runners[name] = PhaseRunner(trainers[name])
        t = time.time()
        runners[name]()   # traces every update's step function
        first_step_s[name] = time.time() - t
        log(f"{_label(name)}: {trainers[name].model.count_params():,} parameters, built in {setup_s[name]:.1f} s, "
            f"first phase step (trace + run) {first_step_s[name]:.1f} s")
    base = trainers["seqgan_reinforce"].config
    result = {"benchmark": "textgan", "settings": {**vars(args), "rollouts": rollouts}}

    # -- 1 and 2: every model's phase step; the generator updates inside them -------------------
    # Untimed steps: the first call of a function after other functions were traced is slow
    # (3-6 s here, no retracing: TensorFlow instantiates it again), so every arm takes a second
    # step, and an arm whose second step took 2-30 s a third; arms over 2 s time one step a round.
    inner, warm_steps_s = {}, {}
    for name, r in runners.items():
        warm_steps_s[name] = []
        while True:
            t = time.time()
            r()
            warm_steps_s[name].append(time.time() - t)
            if len(warm_steps_s[name]) == 2 or not 2.0 < warm_steps_s[name][-1] < 30.0:
                break
        inner[name] = 1 if min(warm_steps_s[name]) > 2.0 else args.steps
    load_before = os.getloadavg()
    gc_pauses = _watch_gc()
    log(f"parts 1-2: {len(names)} arms, {args.rounds} rounds, steps per round {inner}")
    times = common.interleaved(runners, rounds=args.rounds, warmup=0, inner=inner)
    updates = {name: runners[name].per_round(args.rounds, inner[name]) for name in names}
    result["phase_step"] = {}
    for name in names:
        tr, run = trainers[name], runners[name]
        steady = common.median(times[name])
        result["phase_step"][name] = {
            "seconds_per_step": common.spread(times[name]), "times_s": times[name],
            "steps_per_second": 1.0 / steady, "steps_per_round": inner[name],
            "phase": run.phase.name,
            "updates": [{"name": u.name, "repeat": u.repeat, "reads_data": u.stream is not None,
                         "seconds": common.spread(updates[name][u.name]), "graph_ops": run.graph_ops[u.name]}
                        for u in run.phase.updates],
            "parameters": int(tr.model.count_params()), "setup_s": setup_s[name],
            "first_step_s": first_step_s[name], "untimed_steps_s": warm_steps_s[name],
            "trace_s_estimate": first_step_s[name] - steady,
            "model": _jsonable(tr.config.to_dict()["model"]),
            "task_rollouts": int(tr.task.options.rollouts) if name.startswith("seqgan_rollout") else None,
        }
    arm = {r: "seqgan_rollout" if r == most else f"seqgan_rollout_r{r}" for r in rollouts}
    reinforce = updates["seqgan_reinforce"]["generator"]
    result["rollout_cost"] = {
        "what": "the generator update of seqgan_rollout (task.rollouts = k) over seqgan_reinforce's, each "
                "timed inside the phase steps of part 1 (the same rounds); medians and spread of per-round ratios",
        "generator_update_s": {"seqgan_reinforce": common.spread(reinforce),
                               **{str(r): common.spread(updates[arm[r]]["generator"]) for r in rollouts}},
        "ratio_rollout_over_reinforce": {
            str(r): common.spread(common.per_round_ratio(updates[arm[r]]["generator"], reinforce)) for r in rollouts},
        "rollout_rows_sampled_per_update": {
            str(r): int(base.data.batch_size * (trainers["seqgan_reinforce"].model.max_length - 1) * r)
            for r in rollouts},
    }
    log("parts 1-2 done")

    # -- 3. zoo vs plain WGAN-GP (Conv-Deconv) ----------------------------------------------------
    wtr = trainers["wgan_conv_deconv"]
    wstate = wtr.phase_states[-1]
    plain_step, plain_info = plain_wgan(wtr.model, wtr.config.trainer, wtr.task.options)
    critic_steps = wstate.phase.updates[0].repeat
    # Real batches of the task's own data (pass 1 of its shuffle), as plain tensors for the plain step
    # and as the strategy's distributed batches for the zoo's step functions.
    ds = wtr.task.train_dataset(wtr.model, 1).take(8 * critic_steps)
    real = [tf.constant(b) for b in ds]
    plain_batches = [tf.stack(real[i:i + critic_steps]) for i in range(0, len(real), critic_steps)]
    dist = list(wtr.strategy.experimental_distribute_dataset(ds))
    count = {"plain": 0, "zoo": 0}

    def plain():
        i = count["plain"]
        d, g = plain_step(plain_batches[i % len(plain_batches)], tf.constant(i, tf.int64))
        float(d), float(g)
        count["plain"] += 1

    def zoo_prefetched():
        i = count["zoo"]
        s = tf.constant(i, tf.int64)
        for k, (update, fn) in enumerate(zip(wstate.phase.updates, wstate.steps)):
            for j in range(update.repeat):
                out = fn(None if update.stream is None else dist[(i * critic_steps + j) % len(dist)], s)
            float(out[update.loss])
        count["zoo"] += 1

    part3 = {"zoo_trainer": runners["wgan_conv_deconv"], "zoo_prefetched": zoo_prefetched, "plain": plain}
    for fn in (plain, plain, zoo_prefetched, zoo_prefetched):   # trace, then one untimed step
        fn()
    log(f"part 3: {len(part3)} arms, {args.wgan_rounds} rounds of one step each")
    times3 = common.interleaved(part3, rounds=args.wgan_rounds, warmup=0)
    result["zoo_vs_plain_wgan_gp"] = {
        "what": "the wgan_conv_deconv adversarial phase step, critic update(s) then generator update: "
                "zoo_trainer as Trainer._run_phase runs it, zoo_prefetched the same step functions on "
                "distributed batches fetched beforehand reading one sum per update, plain the Keras/TF step",
        "critic_steps": critic_steps, "rounds": args.wgan_rounds, "steps_per_round": 1,
        "seconds_per_step": {k: common.spread(v) for k, v in times3.items()}, "times_s": times3,
        "ratio_zoo_trainer_over_plain": common.spread(common.per_round_ratio(times3["zoo_trainer"], times3["plain"])),
        "ratio_zoo_prefetched_over_plain": common.spread(
            common.per_round_ratio(times3["zoo_prefetched"], times3["plain"])),
        "ratio_zoo_trainer_over_zoo_prefetched": common.spread(
            common.per_round_ratio(times3["zoo_trainer"], times3["zoo_prefetched"])),
        "target": 1.1,
        "plain": {**plain_info, "graph_ops": len(plain_step.get_concrete_function(
            plain_batches[0], tf.constant(0, tf.int64)).graph.get_operations()), "implementation": (
            "keras.Sequential of Dense/Reshape/Conv1DTranspose/Softmax (generator) and Dense(no bias)/"
            "Conv1D(leaky 0.2)/Flatten/Dense(no bias) (critic) on one-hot rows, the zoo's weights copied in; one "
            "tf.function: per critic step a GradientTape over the WGAN-GP loss (an inner tape for the "
            "gradient penalty) and Adam, then the generator's -mean critic(G(z)) and Adam")},
        "zoo_graph_ops": runners["wgan_conv_deconv"].graph_ops,
    }
    if not args.quick:
        # Thread time per kernel type, the two steps alternating (bench_byte_rcae_graph's method).
        from bench_byte_rcae_graph import kernel_profile

        prof = {"zoo_prefetched": [], "plain": []}
        for k in ("zoo_prefetched", "plain", "plain", "zoo_prefetched"):
            prof[k].append(kernel_profile(part3[k], repeats=3))
        result["zoo_vs_plain_wgan_gp"]["kernel_profile"] = prof
    log("part 3 done")

    load_after = os.getloadavg()
    result.update({
        "load_average": {"start": load_start, "before_timing": load_before, "after": load_after},
        "wall_s": time.time() - started,
        "recipe": {"name": args.recipe, "overrides": args.overrides, "resolved_base": _jsonable(base.to_dict())},
        "data": first.task.data_summary(),
        "machine": common.machine_info(),
        "peak_rss_mb": common.peak_rss_mb(),
        "python_gc_during_timing": {"collections": len(gc_pauses), "seconds": sum(p for _, p in gc_pauses),
                                    "longest_s": max((p for _, p in gc_pauses), default=0.0)},
        "threads": {"tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                    "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                    "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: on)"),
                    "strategy": f"{type(wtr.strategy).__name__}, {wtr.strategy.num_replicas_in_sync} replica(s)",
                    "note": "0 = TensorFlow's default (all cores); the plain peer runs in this process: "
                            "the same TensorFlow, Keras, oneDNN setting and thread pools"},
        "peers": {"plain_keras_tf": f"TensorFlow {tf.__version__}, Keras {keras.__version__} (same process)"},
        "notes": ("Seconds per call; a round's time is the median of its steps_per_round calls; ratios are "
                  "medians (min, max) of per-round ratios. phase_step: the trainer's main phase step "
                  "(discriminator/critic update(s) then the generator update; textgan_lm: its MLE update) "
                  "on the trainer's stream, every returned sum read with float(), as Trainer._run_phase. "
                  "trace_s_estimate: first step minus the median step. graph_ops: operations of each "
                  "update's traced step graph. The machine is shared (2 cores): see load_average."),
    })
    shutil.rmtree(run_root, ignore_errors=True)

    rows = []
    for name, r in result["phase_step"].items():
        rows.append({"model": _label(name), "step s": r["seconds_per_step"]["median"],
                     "min": r["seconds_per_step"]["min"], "max": r["seconds_per_step"]["max"],
                     "steps/s": r["steps_per_second"],
                     "updates s": " + ".join(f"{u['name'][0]}{'x%d' % u['repeat'] if u['repeat'] > 1 else ''} "
                                             f"{u['seconds']['median']:.3g}" for u in r["updates"]),
                     "graph ops": "+".join(str(u["graph_ops"]) for u in r["updates"]),
                     "trace s": r["trace_s_estimate"], "parameters": r["parameters"]})
    print(common.format_table(rows))
    rc = result["rollout_cost"]
    rows = [{"rollouts": "reinforce", "generator update s": rc["generator_update_s"]["seqgan_reinforce"]["median"],
             "x reinforce": 1.0, "min": None, "max": None, "rows sampled": base.data.batch_size}]
    rows += [{"rollouts": r, "generator update s": rc["generator_update_s"][str(r)]["median"],
              "x reinforce": rc["ratio_rollout_over_reinforce"][str(r)]["median"],
              "min": rc["ratio_rollout_over_reinforce"][str(r)]["min"],
              "max": rc["ratio_rollout_over_reinforce"][str(r)]["max"],
              "rows sampled": base.data.batch_size + rc["rollout_rows_sampled_per_update"][str(r)]} for r in rollouts]
    print(common.format_table(rows))
    zp = result["zoo_vs_plain_wgan_gp"]
    rows = [{"WGAN-GP conv-deconv step": k, "s (median)": v["median"], "min": v["min"], "max": v["max"]}
            for k, v in zp["seconds_per_step"].items()]
    print(common.format_table(rows))
    for k in ("ratio_zoo_trainer_over_plain", "ratio_zoo_prefetched_over_plain",
              "ratio_zoo_trainer_over_zoo_prefetched"):
        v = zp[k]
        print(f"{k}: {v['median']:.3f} (min {v['min']:.3f}, max {v['max']:.3f}, {v['n']} rounds)")
    print(f"load average (1 min) {load_start[0]:.2f} at start, {load_before[0]:.2f} before timing, "
          f"{load_after[0]:.2f} after; wall {result['wall_s']:.0f} s")
    print(f"wrote {common.atomic_write_json(out_path, result)}")
    # Trainers, step functions, iterators: released by os._exit, not here (see the end of the file).
    _KEEP.append(dict(locals()))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Skip freeing what main built (`_KEEP`): releasing the traced graphs of a dozen trainers
    # (TF_DeleteGraph frees one shape-inference context per node) took 1.5-2 min on the shared cores.
    os._exit(code)
