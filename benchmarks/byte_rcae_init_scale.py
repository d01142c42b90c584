#!/usr/bin/env python
"""Activation scale of the byte autoencoder at initialisation, per group, for each scheme.

    python benchmarks/byte_rcae_init_scale.py            # n = 2, 4, 8, 16; 256 and 128 features (~1 min)

For `init` in ("zero_residual", "glorot") and n in (2, 4, 8, 16), builds `byte_rcae_n{n}` (seed 0)
and runs one paragraph of 1,024 random bytes through it, recording the standard deviation of
the first layer's output and after every group application (`ByteRCAE.group_outputs`: the
prefix, each recursion application, the postfix groups, the logits). Prints, per model, the
smallest and largest ratio to the first layer's and the logits' standard deviation, and writes
every profile to `benchmarks/results/byte_rcae_init_scale.json`. The README's initialisation
figures come from here; `tests/byte_rcae/test_byte_rcae.py` asserts the bounds.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

LENGTH = 1024


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    import zoo

    ids = np.random.default_rng(0).integers(1, 256, size=(1, LENGTH)).astype("int32")
    rows, profiles = [], []
    for features in (256, 128):
        for init in ("zero_residual", "depth_scaled", "glorot"):
            for n in (2, 4, 8, 16):
                keras.utils.set_random_seed(0)
                model = zoo.create_model(f"byte_rcae_n{n}", build=True, features=features, init=init)
                first = float(tf.math.reduce_std(model.enc_prefix.convs[0](tf.one_hot(ids, 256))))
                profile = [(name, float(tf.math.reduce_std(x))) for name, x in model.group_outputs(ids)]
                ratios = [s / first for _, s in profile]
                profiles.append({"features": features, "init": init, "n": n, "first_layer_std": first,
                                 "groups": [{"group": g, "std": s} for g, s in profile]})
                rows.append({"features": features, "init": init, "n": n, "first layer std": first,
                             "min ratio": min(ratios[:-1]), "max ratio": max(ratios[:-1]),
                             "logits std": profile[-1][1], "logits ratio": ratios[-1]})
                print(f"features {features} {init:13s} n={n:2d}: groups {min(ratios[:-1]):.3g}-"
                      f"{max(ratios[:-1]):.3g}x the first layer, logits std {profile[-1][1]:.3g}", flush=True)
    out = common.RESULTS_DIR / "byte_rcae_init_scale.json"
    common.atomic_write_json(out, {"benchmark": "byte_rcae_init_scale", "length": LENGTH,
                                   "machine": common.machine_info(), "profiles": profiles})
    print()
    print(common.format_table(rows))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
