"""Baselines, each a HEAR module the same runner evaluates.

* ``eval.baselines.logmel_stats``: mean and std of the 64 log-mel bands.
* ``eval.baselines.random_init``: writes a seeded random-init weights file, run as
  module ``cola_hear`` with that file (the frozen random EfficientNet-B0 baseline).
"""
