"""Benchmarks of cola-hear: ratios measured side by side in one run (``python -m benchmarks``)."""
