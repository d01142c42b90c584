"""SliceNet and its ByteNet-like baseline, from "Depthwise Separable Convolutions for Neural
Machine Translation" (Lukasz Kaiser, Aidan N. Gomez and François Chollet, 2017).

layers.py: separable, sub- and super-separable convolutions (§2-3, Table 1), ConvStep,
ConvModule, attention; model.py: SliceNet (§3, Figure 1) and the Table 2 variants; data.py:
parallel corpora and tokenizers; placeholders.py: placeholder protection; decoding.py: greedy
and beam-search translation; task.py: the translation task; export.py: the `translate`
SavedModel and its reader; cli.py: `zoo translate`.
"""
from zoo.models.slicenet.layers import (AttentionModule, ConvModule, ConvStep, SliceConv1D, attend,
                                        table1_weights, timing_signal)
from zoo.models.slicenet.model import SliceNet
from zoo.models.slicenet.task import TranslationTask
from zoo.models.slicenet.export import TranslationClient, export_slicenet
from zoo.models.slicenet import cli as _cli
from zoo.registry import register_family

FAMILY = register_family(
    __name__,
    source='"Depthwise Separable Convolutions for Neural Machine Translation", Lukasz Kaiser, '
           'Aidan N. Gomez, François Chollet (2017)',
    exporter=export_slicenet,
    client=TranslationClient,
    # The paper's axes: separability, kernel scheme (dilation vs large kernels, Table 2), width.
    tune_space={"model.separability": {"choice": ["none", "full", "super"]},
                "model.kernel_sizes": {"choice": ["3-3-3-3", "3-7-15-31"]},
                "model.dilations": {"choice": ["1-2-4-8", "1-1-1-1"]},
                "model.filters": {"choice": [48, 96]},
                "model.dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
                "trainer.learning_rate": {"min": 3e-4, "max": 3e-3, "sampling": "log"}},
    commands=_cli.add_commands,
    default_task="translation",
)

__all__ = ["AttentionModule", "ConvModule", "ConvStep", "SliceConv1D", "SliceNet", "TranslationClient",
           "TranslationTask", "attend", "table1_weights", "timing_signal"]
