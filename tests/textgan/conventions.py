"""What this family adds to the Keras-convention sweeps of tests/core/test_keras_conventions.py:
nothing. Its one model class (`TextGAN`, every method a registered name) trains in the mixed-
precision sweep on the text_gan smoke recipe (SeqGAN-rollout); every other method's updates
take a step under both mixed policies in tests/textgan/test_textgan.py, without the data the
sweep loads. The family has no public layer (the recurrent parts are written out over weights)."""

LAYER_CASES = []

# (task, model variant, recipe overrides)
MIXED_PRECISION = []
