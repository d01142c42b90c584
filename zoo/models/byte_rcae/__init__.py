"""The byte-level recursive convolutional autoencoder and its LSTM baseline, from
"Byte-level Recursive Convolutional Auto-Encoder for Text" (Xiang Zhang and Yann LeCun, 2018).

model.py, layers.py: the recursive / static convolutional autoencoder (§2, §4.5-4.7);
lstm.py: the LSTM encoder-decoder baseline (§4.1); data.py: the byte pipeline (§2, §3.1);
task.py: the byte_autoencoder task (§3.2); analysis.py, plots.py: the §4 analyses of `zoo eval`;
export.py, client.py: one SavedModel per recursion depth and its reader; cli.py: `zoo reconstruct`.
"""
from zoo.models.byte_rcae.layers import ResidualConvStack, ResidualDenseStack, TemporalPool
from zoo.models.byte_rcae.model import ByteRCAE, recursion_depth
from zoo.models.byte_rcae.lstm import LSTMAutoencoder
from zoo.models.byte_rcae.task import ByteAutoencoderTask
from zoo.models.byte_rcae.client import ByteAutoencoderClient
from zoo.models.byte_rcae import cli as _cli, export as _export
from zoo.registry import register_family

FAMILY = register_family(
    __name__,
    source='"Byte-level Recursive Convolutional Auto-Encoder for Text", Xiang Zhang and Yann LeCun (2018)',
    exporter=_export.export_byte_autoencoder,
    client=ByteAutoencoderClient,
    # Table 6 (depth n), Table 4 (pooling) and the learning rate.
    tune_space={"model.n": {"choice": [2, 4]},
                "model.pooling": {"choice": ["max", "average", "l2"]},
                "trainer.learning_rate": {"min": 1e-4, "max": 3e-3, "sampling": "log"}},
    commands=_cli.add_commands,
    default_task="byte_autoencoder",
    legacy_names=("byte_autoencoder",),
)

__all__ = ["ByteAutoencoderClient", "ByteAutoencoderTask", "ByteRCAE", "LSTMAutoencoder",
           "ResidualConvStack", "ResidualDenseStack", "TemporalPool", "recursion_depth"]
