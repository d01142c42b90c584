"""What this family adds to the Keras-convention sweeps of tests/core/test_keras_conventions.py:
its public layer's cases for Keras's layer harness."""
from zoo.models.ram.layers import GlimpseReader

# (id, layer class, run_layer_test arguments): small sizes, every option that adds code.
LAYER_CASES = [
    (f"glimpse_reader{'_relative' if relative else ''}", GlimpseReader, dict(
        init_kwargs=dict(size=3, image_height=6, image_width=5, relative_shift=relative, max_extent=extent),
        input_shape={"images_shape": (2, 6, 5), "state_shape": (2, 4)}, expected_output_shape=(2, 3, 3),
        expected_num_trainable_weights=2,
        # Like the attention module: two inputs, which Keras's fit check cannot feed; the
        # registry sweep checks the reader's gradients inside the model.
        run_training_check=False))
    for relative, extent in ((False, None), (True, 0.5))
]
