"""The synthesis app: at start-up it registers its job kinds and opens the retrieval app's extra-pairs door with the
"synthetic" source."""
from django.apps import AppConfig


class SynthesisConfig(AppConfig):
    name = "synthesis"
    verbose_name = "Synthetic training data"

    def ready(self) -> None:
        from retrieval.pair_sources import register_pair_source

        from .selectors import synthetic_pairs

        register_pair_source("synthetic", synthetic_pairs)

        from . import rewriter_training, services  # noqa: F401  (job kinds)
