"""cola_common: what the tools (cola_pretrain, cola_eval, cola_suite) share: audio files, provenance, the task format.

Imports nothing of the project; the HEAR module (cola_hear) does not use it.
"""
