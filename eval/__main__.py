"""``python -m cola_eval`` is ``cola-eval``."""

import sys

from cola_eval.cli import main

sys.exit(main())
