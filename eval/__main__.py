"""``python -m eval`` is ``cola-eval``."""

import sys

from eval.cli import main

sys.exit(main())
