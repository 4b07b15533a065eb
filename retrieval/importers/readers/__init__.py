"""Readers: one module per source format, each returning a `rows.Source` whose rows use bundle field names."""
