"""What this family adds to the Keras-convention sweeps of tests/core/test_keras_conventions.py:
the model class no task's smoke recipe trains (the LSTM-VAE, at its registered smoke size, on the
text_vae smoke recipe). The family has no public layer of its own (the models are built from
Keras's layers and zoo.layers' LSTM cell)."""

LAYER_CASES = []

# (task, model variant, recipe overrides)
MIXED_PRECISION = [("text_vae", "lstm_vae", [])]
