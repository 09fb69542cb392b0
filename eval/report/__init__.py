"""What the result rows say: results/README.md, its statistics and figures, and the main README's headline."""
