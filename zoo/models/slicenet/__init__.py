"""SliceNet family (seed 002): depthwise-separable convolutional translation models."""
from zoo.models.slicenet.layers import (AttentionModule, ConvModule, ConvStep, SliceConv1D, attend,
                                        table1_weights, timing_signal)
from zoo.models.slicenet.model import SliceNet
from zoo.models.slicenet import task  # noqa: F401  (registers the slicenet task)
