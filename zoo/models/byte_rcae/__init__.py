"""Byte-level recursive convolutional autoencoder family (seed 000) and its LSTM baseline."""
from zoo.models.byte_rcae.layers import ResidualConvStack, ResidualDenseStack, TemporalPool
from zoo.models.byte_rcae.model import ByteRCAE, recursion_depth
from zoo.models.byte_rcae import task  # noqa: F401  (registers the byte_autoencoder task)
from zoo.models.byte_rcae.lstm import LSTMAutoencoder
