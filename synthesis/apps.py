"""The synthesis app: at start-up it registers its job kinds and opens the retrieval app's extra-pairs door with the
"synthetic" source (hard pairs) and the "synthetic-margins" source (soft labels)."""
from django.apps import AppConfig


class SynthesisConfig(AppConfig):
    name = "synthesis"
    verbose_name = "Synthetic training data"

    def ready(self) -> None:
        from retrieval.margin_sources import register_margin_source
        from retrieval.pair_sources import register_pair_source

        from .selectors import synthetic_margins, synthetic_pairs

        register_pair_source("synthetic", synthetic_pairs)
        register_margin_source("synthetic-margins", synthetic_margins)

        from . import services  # noqa: F401  (job kind: synthesis)
        from .judging import training  # noqa: F401  (job kind: judge_training)
        from .rewriter import jobs  # noqa: F401  (job kind: rewriter_training)
