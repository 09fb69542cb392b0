"""How a model is scored: task folders, cached embeddings, linear probe, heareval, fine-tuning, result rows."""
