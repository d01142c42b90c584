"""Text VAEs: the hybrid convolutional-recurrent VAE and its LSTM-VAE baseline, from Semeniuta's
dissertation ch. 5 §5.3 and §5.5 = "A Hybrid Convolutional Variational Autoencoder for Text
Generation" (Semeniuta, Severyn and Barth, 2017).

model.py: the models; data.py: fixed-length byte windows; task.py: the text_vae task (Eq. 5.3.3,
KL annealing, active units, mutual information); export.py, client.py: one SavedModel per
window length and its reader; cli.py: `zoo sample`, `zoo interpolate`; plots.py: KL, active
units and mutual information against the step (posterior collapse at a glance).
"""
from zoo.models.textvae.model import HybridVAE, LSTMVAE, content_noise, kl_to_prior
from zoo.models.textvae.task import TextVAETask
from zoo.models.textvae.client import TextVAEClient
from zoo.models.textvae import cli as _cli, export as _export

from zoo.registry import register_family

FAMILY = register_family(
    __name__,
    source='"A Hybrid Convolutional Variational Autoencoder for Text Generation", Stanislau Semeniuta, '
           'Aliaksei Severyn and Erhardt Barth (2017); Semeniuta\'s dissertation "Recurrent Neural '
           'Networks for Discriminative and Generative Learning" (2019), ch. 5 §5.3, §5.5',
    exporter=_export.export_text_vae,
    client=TextVAEClient,
    # §5.5's knobs: the auxiliary weight alpha, the KL ramp's end, z and the learning rate.
    tune_space={"task.alpha": {"choice": [0.0, 0.2, 0.5, 1.0]},
                "model.latent_dim": {"choice": [16, 32, 50]},
                "trainer.learning_rate": {"min": 1e-4, "max": 3e-3, "sampling": "log"}},
    commands=_cli.add_commands,
    default_task="text_vae",
)

__all__ = ["HybridVAE", "LSTMVAE", "TextVAEClient", "TextVAETask", "content_noise", "kl_to_prior"]
