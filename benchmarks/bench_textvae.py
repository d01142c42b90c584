#!/usr/bin/env python
"""Training-step speed of the hybrid VAE against the LSTM-VAE at equal parameter counts
(Semeniuta's dissertation §5.3.3 / the 2017 paper: the hybrid is about 2x faster per step, since it
runs one recurrent network per sample where the LSTM-VAE runs two), and the hybrid's step against
a plain Keras model of the same layers (the zoo's model code should cost nothing extra).

    python benchmarks/bench_textvae.py                    # the CPU recipes' sizes, 32-byte windows
    python benchmarks/bench_textvae.py --length 64 --rounds 15

Arms, each one Adam step of the text_vae loss (KL at full weight, alpha 0.2 for the hybrids) on the
same batch of random printable windows: `hybrid` (recipes/textvae/hybrid.yaml's model), `lstm_vae`
(its LSTM width chosen so its parameter count is closest to the hybrid's) and `keras_hybrid` (the
hybrid's layers as a plain Keras functional model with keras.layers.LSTM). Rounds are interleaved
(benchmarks/common.py); prints medians and per-round ratios with the machine's load and writes
benchmarks/results/textvae.json.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def _keras_hybrid(length, latent, enc, dec, units):
    import keras
    from keras import layers

    ids = keras.Input((length,), dtype="int32")
    noise = keras.Input((latent,))
    x = layers.Lambda(lambda t: keras.ops.one_hot(t, 256))(ids)
    for c in enc:
        x = layers.ReLU()(layers.BatchNormalization()(layers.Conv1D(c, 3, strides=2, padding="same", use_bias=False)(x)))
    x = layers.Flatten()(x)
    mu, logvar = layers.Dense(latent)(x), layers.Dense(latent)(x)
    z = mu + keras.ops.exp(0.5 * logvar) * noise
    m = length // 2 ** len(dec)
    h = layers.Reshape((m, enc[-1]))(layers.Dense(m * enc[-1], activation="relu")(z))
    for c in dec:
        h = layers.ReLU()(layers.BatchNormalization()(layers.Conv1DTranspose(c, 3, strides=2, padding="same", use_bias=False)(h)))
    aux = layers.Dense(256)(h)
    prev = layers.Lambda(lambda t: keras.ops.one_hot(
        keras.ops.concatenate([keras.ops.full((keras.ops.shape(t)[0], 1), -1, "int32"), t[:, :-1]], 1), 256))(ids)
    y = layers.LSTM(units, return_sequences=True)(layers.Concatenate()([h, prev]))
    return keras.Model([ids, noise], [layers.Dense(256)(y), aux, mu, logvar])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--length", type=int, default=32)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--out", default=str(common.RESULTS_DIR / "textvae.json"))
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import keras
    import tensorflow as tf

    from zoo.config import load_recipe
    from zoo.registry import create_model
    from zoo.models.textvae.model import kl_to_prior

    cfg = load_recipe("textvae/hybrid").model.kwargs()
    hybrid = create_model("hybrid_vae", build=True, **{**cfg, "length": args.length})
    target = hybrid.count_params()
    sizes = {u: create_model("lstm_vae", build=True, length=args.length, latent_dim=cfg["latent_dim"],
                             units=u).count_params() for u in range(64, 513, 16)}
    units = min(sizes, key=lambda u: abs(sizes[u] - target))
    lstm = create_model("lstm_vae", build=True, length=args.length, latent_dim=cfg["latent_dim"], units=units)
    plain = _keras_hybrid(args.length, cfg["latent_dim"], cfg["encoder_channels"], cfg["decoder_channels"],
                          cfg["units"])
    rng = np.random.default_rng(0)
    ids = tf.constant(rng.integers(32, 127, size=(args.batch, args.length)).astype(np.int32))

    def nll(labels, logits):
        return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits), 1)

    def zoo_step(model, alpha):
        opt = keras.optimizers.Adam(1e-3)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                out = model.forward(ids, training=True)
                loss = nll(ids, out["logits"]) + kl_to_prior(out["mu"], out["logvar"])
                if "aux" in out:
                    loss += alpha * nll(ids, out["aux"])
                loss = tf.reduce_mean(loss)
            opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            return loss
        return lambda: float(step())

    def keras_step():
        opt = keras.optimizers.Adam(1e-3)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                logits, aux, mu, logvar = plain([ids, tf.random.normal([args.batch, cfg["latent_dim"]])], training=True)
                loss = tf.reduce_mean(nll(ids, logits) + kl_to_prior(mu, logvar) + 0.2 * nll(ids, aux))
            opt.apply_gradients(zip(tape.gradient(loss, plain.trainable_variables), plain.trainable_variables))
            return loss
        return lambda: float(step())

    arms = {"hybrid": zoo_step(hybrid, 0.2), "lstm_vae": zoo_step(lstm, 0.0), "keras_hybrid": keras_step()}
    load_before = os.getloadavg()
    times = common.interleaved(arms, rounds=args.rounds, warmup=2)
    result = {
        "setting": {"length": args.length, "batch": args.batch, "rounds": args.rounds,
                    "parameters": {"hybrid": int(target), "lstm_vae": int(lstm.count_params()),
                                   "keras_hybrid": int(plain.count_params())},
                    "lstm_vae_units": units, "hybrid_model": cfg},
        "seconds_per_step": {k: common.spread(v) for k, v in times.items()},
        "ratio_lstm_vae_over_hybrid": common.spread(common.per_round_ratio(times["lstm_vae"], times["hybrid"])),
        "ratio_hybrid_over_keras": common.spread(common.per_round_ratio(times["hybrid"], times["keras_hybrid"])),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "machine": common.machine_info(),
    }
    rows = [{"arm": k, "parameters": result["setting"]["parameters"][k],
             "median s/step": result["seconds_per_step"][k]["median"]} for k in arms]
    print(common.format_table(rows))
    print(f"LSTM-VAE / hybrid step time: {result['ratio_lstm_vae_over_hybrid']['median']:.2f} (median of "
          f"per-round ratios); hybrid / plain Keras: {result['ratio_hybrid_over_keras']['median']:.2f}; "
          f"load {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    common.atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
