"""Relevance judges: the judges themselves and the shared scoring loop (`judges`), their training data
(`examples`), their training job (`training`) and its weighted loss (`losses`)."""
