"""The unlabelled pretraining pools: the disjoint pool (the default) and the in-suite pool."""
