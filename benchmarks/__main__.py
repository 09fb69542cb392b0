"""``python -m benchmarks`` runs the benchmark command (``benchmarks.cli``)."""

import sys

from benchmarks.cli import main

sys.exit(main())
