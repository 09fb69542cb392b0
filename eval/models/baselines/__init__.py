"""Baselines, each a HEAR module the same runner evaluates.

* ``cola_eval.models.baselines.logmel_stats``: mean and std of the 64 log-mel bands.
* ``cola_eval.models.baselines.random_init``: writes a seeded random-init weights file, run as
  module ``cola_hear`` with that file (the frozen random EfficientNet-B0 baseline).
"""
