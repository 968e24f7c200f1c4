"""Shared data: every member loads the same rows and the same split, checked by sha256.

- ``catalogue``: the dataset cards in ``datasets/`` (``read_cards``, ``Card``, ``CardError``).
- ``sources``: a card's source files, located and verified (``resolve_sources``, ``file_sha256``).
- ``splits``: seeded, hash-based train/test splits (``stratified_split``, ``grouped_split``).
- ``builders``: a card's sources turned into tables (``get_builder``).
- ``datasets``: the API (``load_dataset``, ``list_datasets``, ``dataset_info``,
  ``dataset_checksum``, ``load_hierarchy``, ``get_data_home``) and the Parquet cache.
"""
