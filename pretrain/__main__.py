"""``python -m pretrain`` (also what ``torchrun -m pretrain`` runs): the ``cola-pretrain`` command."""

from pretrain.cli import main

raise SystemExit(main())
