"""What is evaluated: HEAR modules (ours, baselines, peers) and the named experiments of experiments.toml."""
