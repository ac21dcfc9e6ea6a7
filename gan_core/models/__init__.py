"""G and D for images (DCGAN) and for points and table rows (MLP).

`build_models(cfg.model, dataset.sample_shape) -> (G, D)` and `sample_latent` are
the whole public surface; the architecture modules are importable for tests.
"""

from gan_core.models.build import build_models, info_codes, resolve_arch, sample_latent

__all__ = ["build_models", "info_codes", "resolve_arch", "sample_latent"]
