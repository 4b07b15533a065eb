"""Importers: read a data set (native bundle, Amazon ESCI parquet, WANDS CSVs), validate all of it, then write it.

The pipeline follows doccano's shape, one small module per step:

- `readers/` turn each source format into `SourceRow`s that carry the bundle's field names and a
  `file:line` location (`readers.bundle`, `readers.esci`, `readers.wands`);
- `validation` converts every row into a typed record and checks what spans rows (duplicate ids, dangling
  references) in one streaming pass, keeping only the id sets those checks need;
- `segments` derives head/torso/tail from query frequency where a query has no segment;
- `writer` upserts everything by natural keys in batches inside one transaction;
- `services.import_dataset` wires them; `import_bundle_work` runs it as a Job.

This package imports nothing at load time so that scripts can use its Django-free parts (`readers`, `html_text`).
"""
