"""What the tests share: audio and task fixtures, a counting HEAR module, the hear-validator runner and small
pretraining configs. On the test path through pyproject.toml's ``pythonpath`` (``from support.audio import ...``)."""
