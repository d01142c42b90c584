"""Text GANs on equal footing, from S. Semeniuta's dissertation "Recurrent Neural Networks for
Discriminative and Generative Learning" (2019), ch. 5 §5.4 (continuous: Conv-Deconv and
Conv-LSTM WGAN-GP; discrete: SeqGAN-reinforce, -step, -rollout; LeakGAN-leak, -noleak, -mixed)
and §5.6.4 (one generator architecture, a one-layer LSTM, and the maximum-likelihood LM with it).

model.py: `TextGAN` (generator and discriminator in one model, one registered name per method,
`textgan_lm` the MLE LM); task.py: the `text_gan` task (MLE pretraining phase, then the
adversarial phase of discriminator and generator updates; the sample metrics of §5.6.1);
export.py: the `generator` SavedModel (`generate`, `sample`) and `TextGANClient` (`zoo generate`).
The comparison of §5.6.4 (Table 5.4, Figures 5.11-5.12) is declared in recipes/textgan/ and run by
`zoo textgen-study --gans`, beside the metric study whose scorers it shares.
"""
from zoo.models.textgan import model as _model  # noqa: F401  (registers the models)
from zoo.models.textgan import task as _task  # noqa: F401  (registers the task)
from zoo.models.textgan.export import TextGANClient, export_text_gan
from zoo.models.textgan.model import METHODS, TextGAN
from zoo.registry import register_family

FAMILY = register_family(
    __name__,
    source='S. Semeniuta, "Recurrent Neural Networks for Discriminative and Generative Learning" '
           '(dissertation, 2019), ch. 5 §5.4, §5.6.2, §5.6.4; Gulrajani et al., "Improved Training of '
           'Wasserstein GANs" (2017); Yu et al., "SeqGAN: Sequence Generative Adversarial Nets with Policy '
           'Gradient" (2017); Guo et al., "Long Text Generation via Adversarial Training with Leaked '
           'Information" (2018)',
    exporter=export_text_gan,
    client=TextGANClient,
    # §5.6.2: Adam separately for generator and discriminator, gamma for the per-step models
    # (and, for the WGANs, lambda and the critic's steps).
    tune_space={"task.generator_learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log"},
                "task.generator_beta_1": {"choice": [0.0, 0.5, 0.9]},
                "task.discriminator_learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log"},
                "task.discriminator_beta_1": {"choice": [0.0, 0.5, 0.9]},
                "task.gamma": {"choice": [0.5, 0.8, 0.9, 0.95, 0.99]}},
    default_task="text_gan",
)

__all__ = ["METHODS", "TextGAN", "TextGANClient", "export_text_gan"]
