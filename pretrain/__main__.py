"""``python -m cola_pretrain`` (also what ``torchrun -m cola_pretrain`` runs): the ``cola-pretrain`` command."""

from cola_pretrain.cli import main

raise SystemExit(main())
