"""One sweep over every registered model: build, call, backward, `.keras` round trip
(timm / keras-hub style): a model is tested by being registered."""
from pathlib import Path

import numpy as np
import keras
import pytest

import zoo
from zoo.registry import model_entry

MODELS = zoo.list_models()
TESTS = Path(__file__).resolve().parents[1]


def test_unknown_model_names_the_registered_ones():
    with pytest.raises(KeyError, match=MODELS[0]):
        zoo.create_model("no_such_model")


@pytest.mark.parametrize("name", MODELS)
def test_build_call_and_keras_round_trip(name, tmp_path):
    entry = model_entry(name)
    model = zoo.create_model(name, build=True, **entry.smoke)
    x = entry.example_input(model, 2, np.random.default_rng(1))
    y = np.asarray(model(x, training=False))
    assert y.shape[0] == 2 and np.all(np.isfinite(y))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)), y, atol=1e-5)
    # Checkpoints (resumable training) hold every weight under its path inside the model.
    from zoo.runs import model_checkpoint
    import tensorflow as tf
    prefix = model_checkpoint(model).write(str(tmp_path / "ckpt"))
    saved = [n for n, _ in tf.train.list_variables(prefix) if n.startswith("model_weights/")]
    assert len(saved) == len(model.weights)
    # The shapes-only build that checks a recipe's memory (zoo.training.memory) sees every weight.
    from zoo.training.memory import symbolic_weights
    assert [s for _, s, _ in symbolic_weights(name, entry.smoke)] == [tuple(v.shape) for v in model.weights]
    # from_config(get_config()) rebuilds the same architecture.
    clone = type(model).from_config(model.get_config())
    zoo.registry.build_model(clone, entry)
    assert clone.count_params() == model.count_params()


@pytest.mark.parametrize("name", MODELS)
def test_backward_gives_every_trainable_weight_a_finite_nonzero_gradient(name):
    import tensorflow as tf

    entry = model_entry(name)
    # Seeded: a tiny ReLU stack (the attention model's 4-filter context network) can start with
    # every unit of a layer dead, which zeroes the gradient of the layers below it by chance.
    keras.utils.set_random_seed(0)
    model = zoo.create_model(name, build=True, **entry.smoke)
    x = entry.example_input(model, 2, np.random.default_rng(3))
    with tf.GradientTape() as tape:
        y = model(x, training=False)
        # A random projection of the outputs: no weight can hide behind a symmetric loss.
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.random.stateless_normal(tf.shape(y), seed=[1, 2]))
    if getattr(model, "counted", False):
        # Trained by counting (n-gram tables): nothing for a gradient to reach, and tables to fill.
        assert not model.trainable_weights and model.non_trainable_weights
        return
    grads = tape.gradient(loss, model.trainable_weights)
    assert model.trainable_weights
    for w, g in zip(model.trainable_weights, grads):
        assert g is not None, f"{w.path} gets no gradient"
        g = tf.convert_to_tensor(g).numpy()
        assert np.all(np.isfinite(g)), w.path
        assert np.any(g != 0), f"{w.path} gets an all-zero gradient"


def test_every_model_and_task_belongs_to_a_declared_family():
    # `import zoo` declares a family for every folder of zoo/models, and each has its test folder.
    folders = {p.name for p in Path(zoo.__file__).parent.joinpath("models").iterdir() if (p / "__init__.py").is_file()}
    families = {f.name for f in zoo.families()}
    assert families == folders and len(families) >= 5
    assert {p.name for p in TESTS.iterdir() if (p / "__init__.py").is_file()} == families | {"core"}
    assert {model_entry(n).family for n in MODELS} == families
    assert {zoo.task_entry(t).family for t in zoo.list_tasks()} == families
    for fam in zoo.families():
        assert fam.exporter is not None and fam.client is not None and fam.source
        assert fam.default_task in zoo.list_tasks(family=fam.name)
        # The family key is the folder name; keys of earlier manifests still find the family.
        assert all(zoo.family(key) is fam for key in fam.legacy_names)
