"""The text VAEs (Semeniuta's dissertation §5.3, §5.5): the annealing schedule, the KL's closed
form, the decoders' receptive fields (ByteNet-like: N + 1 previous bytes for N layers; the
historyless decoders: none), the collapse metrics, the task's options and the export's client.
Default tier: tiny models, no training."""
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.config import RecipeError, load_recipe
from zoo.export import ExportError, open_export
from zoo.models.textvae.model import content_noise, kl_to_prior
from zoo.models.textvae.task import ActiveUnits, MutualInformation, TextVAEOptions, kl_weight, mutual_information

SMOKE = "textvae/smoke"


def _model(name, **kw):
    entry = zoo.model_entry(name)
    return zoo.create_model(name, build=True, **{**entry.smoke, "seed": 3, **kw})


# -- the loss ------------------------------------------------------------------------------------
def test_kl_annealing_is_linear_between_start_and_end_with_a_floor():
    o = TextVAEOptions(kl_start=100, kl_end=300, kl_floor=0.01, kl_weight=2.0)
    steps = [0, 100, 101, 200, 299, 300, 10_000]
    got = [float(kl_weight(s, o)) for s in steps]
    want = [2.0 * max(0.01, min(1.0, max(0.0, (s - 100) / 200))) for s in steps]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got[0] == pytest.approx(0.02) and got[-1] == pytest.approx(2.0)
    assert float(kl_weight(5, TextVAEOptions(kl_annealing="none", kl_weight=0.5))) == 0.5
    assert float(kl_weight(10_000, TextVAEOptions(kl_weight=0.0))) == 0.0   # reconstruction only


def test_kl_closed_form_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(3, 5)).astype(np.float32)
    logvar = rng.normal(scale=0.7, size=(3, 5)).astype(np.float32)
    closed = kl_to_prior(tf.constant(mu), tf.constant(logvar)).numpy()
    z = mu[None] + np.exp(0.5 * logvar)[None] * rng.normal(size=(200_000, 3, 5))
    log_q = -0.5 * (((z - mu) ** 2) / np.exp(logvar) + logvar + np.log(2 * np.pi)).sum(-1)
    log_p = -0.5 * (z ** 2 + np.log(2 * np.pi)).sum(-1)
    np.testing.assert_allclose(closed, (log_q - log_p).mean(0), rtol=0.03)
    # At the prior it is exactly zero, and never negative.
    assert kl_to_prior(tf.zeros((2, 4)), tf.zeros((2, 4))).numpy().tolist() == [0.0, 0.0]


@pytest.mark.parametrize("override, message", [
    ("task.alpha=-0.1", "task.alpha"),
    ("task.kl_end=0", "task.kl_end (0) must come after task.kl_start (0)"),
    ("task.min_length=40", "task.min_length (40) exceeds task.length (16)"),
])
def test_bad_options_are_one_line_recipe_errors(override, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        load_recipe(SMOKE, [override])
    assert "\n" not in str(e.value)


# -- the decoders' receptive fields -----------------------------------------------------------------
def _changed_positions(model, ids, j):
    """Positions whose teacher-forced logits change when byte j of the input changes (z fixed)."""
    z = tf.random.stateless_normal([1, model.latent_dim], seed=[1, 2])
    other = ids.copy()
    other[0, j] = (other[0, j] + 7) % 256
    a = model.decode(z, ids)["logits"].numpy()
    b = model.decode(z, other)["logits"].numpy()
    return [t for t in range(ids.shape[1]) if not np.allclose(a[0, t], b[0, t], atol=0)]


@pytest.mark.parametrize("depth", [1, 3])
def test_masked_gated_convolutions_see_the_n_plus_one_previous_bytes(depth):
    model = _model("hybrid_vae_bytenet", depth=depth)
    ids = np.random.default_rng(0).integers(32, 127, size=(1, 16)).astype(np.int32)
    for j in (2, 9):
        assert _changed_positions(model, ids, j) == list(range(j + 1, min(16, j + depth + 2)))


def test_the_lstm_decoders_are_causal():
    ids = np.random.default_rng(1).integers(32, 127, size=(1, 16)).astype(np.int32)
    for name in ("hybrid_vae", "lstm_vae"):
        assert _changed_positions(_model(name), ids, 5) == list(range(6, 16)), name


@pytest.mark.parametrize("name, args", [("historyless_vae", {}), ("lstm_vae", {"word_dropout": 1.0})])
def test_historyless_decoders_read_no_previous_byte(name, args):
    model = _model(name, **args)
    ids = np.random.default_rng(2).integers(32, 127, size=(2, 16)).astype(np.int32)
    z = tf.random.stateless_normal([2, model.latent_dim], seed=[3, 4])
    other = np.roll(ids, 3, axis=1)
    for training in (False, True):   # word dropout 1 drops every input in training as in inference
        a = model.decode(z, ids, training=training)["logits"].numpy()
        b = model.decode(z, other, training=training)["logits"].numpy()
        np.testing.assert_array_equal(a, b)
    assert model.historyless


def test_shapes_and_greedy_generation():
    model = _model("hybrid_vae")
    ids = np.random.default_rng(3).integers(32, 127, size=(3, 16)).astype(np.int32)
    assert tuple(model(ids).shape) == (3, 2, 16, 256)        # recurrent decoder and auxiliary head
    mu, logvar = model.encode(ids)
    assert tuple(mu.shape) == tuple(logvar.shape) == (3, 4)
    out = model.generate(mu).numpy()
    assert out.shape == (3, 16) and out.dtype == np.int32
    # Greedy decoding is the argmax of the teacher-forced decoder fed its own output.
    forced = np.argmax(model.decode(mu, out)["logits"].numpy(), -1)
    np.testing.assert_array_equal(forced, out)
    assert tuple(_model("historyless_vae")(ids).shape) == (3, 1, 16, 256)


def test_content_noise_depends_on_the_row_alone_and_is_standard_normal():
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 256, size=(4000, 16)).astype(np.int32)
    noise = content_noise(tf.constant(ids), 8).numpy()
    alone = content_noise(tf.constant(ids[7:8]), 8).numpy()
    np.testing.assert_array_equal(alone[0], noise[7])
    assert abs(noise.mean()) < 0.03 and abs(noise.std() - 1) < 0.03
    assert abs(np.corrcoef(noise[:, 0], noise[:, 1])[0, 1]) < 0.05


# -- the collapse metrics --------------------------------------------------------------------------
def test_active_units_count_units_whose_mean_varies_across_inputs():
    rng = np.random.default_rng(5)
    mu = np.concatenate([rng.normal(size=(500, 3)), 0.03 * rng.normal(size=(500, 2))], axis=1)  # var 1, 9e-4
    metric = ActiveUnits(0.01)
    whole = metric.result(metric.add(metric.start(), {"mu": mu}))
    state = metric.start()
    for piece in np.array_split(mu, 7):
        state = metric.add(state, {"mu": piece})
    assert whole == metric.result(state) == 3.0


def test_mutual_information_is_zero_for_one_posterior_and_log_n_for_separated_ones():
    rng = np.random.default_rng(6)
    n, d = 400, 4
    logvar = np.full((n, d), -6.0)
    same = np.zeros((n, d))
    z = same + np.exp(-3.0) * rng.normal(size=(n, d))
    # One sample per window: the estimate carries the noise of 0.5 * sum(eps^2) around d / 2.
    assert abs(mutual_information(same, logvar, z)) < 0.2
    apart = rng.normal(scale=10.0, size=(n, d))
    z = apart + np.exp(-3.0) * rng.normal(size=(n, d))
    assert mutual_information(apart, logvar, z) == pytest.approx(np.log(n), abs=0.2)
    metric = MutualInformation(limit=100)
    state = metric.add(metric.start(), {"mu": apart, "logvar": logvar, "z": z})
    assert state["n"] == 100 and metric.result(state) == pytest.approx(np.log(100), abs=0.3)


def test_unigram_baselines_by_hand():
    from zoo.models.textvae.data import END, unigram_baselines

    train = np.frombuffer(b"aaab", np.uint8)            # a: 3, b: 1 of 4 training bytes
    test = np.array([[97, 97, 98, 99]])                 # a a b c
    out = unigram_baselines(train, test, length=4)
    p = lambda n: (n + 1) / (4 + 256)                   # add-one over the 256 ids  # noqa: E731
    assert out["unigram_baseline_error"] == 0.5         # always "a": right at 2 of 4 positions
    assert out["unigram_bits_per_char"] == pytest.approx(-(2 * np.log2(p(3)) + np.log2(p(1)) + np.log2(p(0))) / 4)
    # Windows of 2 to 4 bytes: END fills (4 - 2) / 2 of 4 positions on average, and wins.
    padded = np.array([[97, 98, END, END], [97, 97, 97, END]])
    out = unigram_baselines(train, padded, length=4, min_length=2)
    assert out["unigram_baseline_error"] == 5 / 8
    assert out["unigram_bits_per_char"] == pytest.approx(
        -(3 * np.log2(0.25 + 0.75 * p(0)) + 4 * np.log2(0.75 * p(3)) + np.log2(0.75 * p(1))) / 8)


# -- the export's client (the session's smoke export) -----------------------------------------------
def test_client_samples_interpolates_and_refuses_bad_input_in_one_line(smoke_run):
    # The run reports the trivial baselines the report's gate reads.
    m = smoke_run("textvae").metrics
    assert 0.0 < m["unigram_baseline_error"] < 1.0 and 0.0 < m["unigram_bits_per_char"] < 8.0
    client = open_export(smoke_run("textvae").export)
    assert client.length == 16 and client.latent_dim == 4
    texts = client.sample(3, seed=1)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    assert client.sample(3, seed=1) == texts and client.sample(0) == [] and client.reconstruct([]) == []
    hot = client.sample(3, seed=1, temperature=5.0)
    assert len(hot) == 3 and hot == client.sample(3, seed=1, temperature=5.0) and hot != texts
    line = client.interpolate("the cat", "a dog sat", steps=5)
    codes = client.encode(["the cat", "a dog sat"])
    assert len(line) == 5 and line[0] == client.decode(codes[0]) and line[-1] == client.decode(codes[1])
    post = client.posterior("the cat")
    np.testing.assert_allclose(post["mu"], codes[0], atol=1e-6)
    assert post["logvar"].shape == (4,)
    for call, message in [(lambda: client.encode("x" * 17), "text is 17 bytes long but the model reads windows of 16"),
                          (lambda: client.decode(np.zeros(3)), "z must have 4 values per code"),
                          (lambda: client.decode(np.full(4, np.nan)), "z must be finite"),
                          (lambda: client.sample(-1), "count must be a non-negative integer, got -1"),
                          (lambda: client.sample(2, temperature=-1.0), "temperature must be a number in"),
                          (lambda: client.interpolate("a", "b", steps=1), "steps must be an integer >= 2"),
                          (lambda: client.reconstruct("a\0b"), "NUL byte")]:
        with pytest.raises(ExportError, match=message) as e:
            call()
        assert "\n" not in str(e.value)


def test_a_split_recipe_reconstructs_a_longer_text_piece_by_piece(smoke_run, tmp_path):
    import json
    import shutil

    export = tmp_path / "export"
    shutil.copytree(smoke_run("textvae").export, export)
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["recipe"]["task"]["overflow"] = "split"
    (export / "manifest.json").write_text(json.dumps(manifest))
    client = open_export(export)
    text = "a" * 16 + "b" * 16 + "c" * 5
    pieces = client.reconstruct(["a" * 16, "b" * 16, "c" * 5])
    assert client.reconstruct(text) == "".join(pieces)
    with pytest.raises(ExportError, match="text is 37 bytes long"):
        client.encode(text)   # a code is one window's


def test_the_verbs_print_one_text_per_line(smoke_run, capsys):
    from zoo.cli import main

    export = str(smoke_run("textvae").export)
    assert main(["sample", export, "-n", "4", "--seed", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4
    assert main(["interpolate", export, "first", "second", "--steps", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["sample", export, "-n", "-2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "count must be a non-negative integer" in err


def test_sampling_uses_the_zoo_s_sampler_settings():
    model = _model("hybrid_vae_bytenet")
    z = tf.random.stateless_normal([3, model.latent_dim], seed=[5, 6])
    greedy = model.generate(z).numpy()
    np.testing.assert_array_equal(model.generate(z, temperature=1.0, top_k=1, seed=4).numpy(), greedy)
    drawn = model.generate(z, temperature=2.0, seed=4).numpy()
    np.testing.assert_array_equal(model.generate(z, temperature=2.0, seed=4).numpy(), drawn)
    assert not np.array_equal(drawn, greedy)   # 256 bytes at temperature 2: a draw differs from argmax
    with pytest.raises(ValueError, match="top_p must be in"):
        model.generate(z, temperature=1.0, top_p=0.0)


def test_two_replicas_keep_batch_norm_in_step_and_evaluate_as_one_device(tmp_path, monkeypatch):
    """The parts of the task sweep (tests/core/test_task_sweep.py, where text_vae is in the slow
    tier) that caught this family's bugs, at a fraction of its cost: a training step on two
    replicas moves batch norm's moving statistics identically on both replicas' copies (they
    drifted apart before the norm was synchronized), and the evaluation on two replicas gives the
    one-device metrics (the KL of a near-prior posterior once differed in its float32 rounding)."""
    import keras

    from zoo.eval.loop import evaluate
    from zoo.training.trainer import Trainer

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    config = load_recipe(SMOKE, [f"runtime.run_dir={tmp_path / 'run'}", "runtime.strategy=mirrored"])
    trainer = Trainer(config, log=lambda *a, **k: None)
    trainer.load_data()
    keras.utils.set_random_seed(0)
    trainer.build()
    model, task = trainer.model, trainer.task
    assert trainer.strategy.num_replicas_in_sync == 2
    moving = [v for v in model.non_trainable_weights if "moving" in v.path]
    assert moving
    before = [v.numpy() for v in moving]
    trainer.phase_states[-1].steps[0](next(trainer._batches("train", 0)), tf.constant(0, tf.int64))
    for v, b in zip(moving, before):
        copies = [np.asarray(c) for c in v.value.values]
        assert len(copies) == 2 and not np.array_equal(copies[0], b), v.path
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=v.path)
    one, two = evaluate(task, model), evaluate(task, model, strategy=trainer.strategy)
    assert one.keys() == two.keys() and {"kl", "active_units", "mutual_information"} <= set(one)
    for k, v in one.items():
        assert two[k] == pytest.approx(v, rel=1e-5, abs=1e-7), k
