"""One sweep over every registered model: build, call, `.keras` round trip (timm/keras-hub style)."""
import numpy as np
import keras
import pytest

import zoo
from zoo.registry import model_entry

MODELS = zoo.list_models()


def test_registry_lists_the_issue_variants():
    for name in ["byte_rcae_n2", "byte_rcae_n4", "byte_rcae_n8", "byte_rcae_n16",
                 "byte_rcae_static_n8", "lstm_autoencoder"]:
        assert name in MODELS
    assert zoo.list_models("byte_rcae_n*") == ["byte_rcae_n16", "byte_rcae_n2", "byte_rcae_n4", "byte_rcae_n8"]


def test_unknown_model_names_the_registered_ones():
    with pytest.raises(KeyError, match="byte_rcae_n8"):
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
    from zoo.training.run import model_checkpoint
    import tensorflow as tf
    prefix = model_checkpoint(model).write(str(tmp_path / "ckpt"))
    saved = [n for n, _ in tf.train.list_variables(prefix) if n.startswith("model_weights/")]
    assert len(saved) == len(model.weights)
    # from_config(get_config()) rebuilds the same architecture.
    clone = type(model).from_config(model.get_config())
    zoo.registry.build_model(clone, entry)
    assert clone.count_params() == model.count_params()
