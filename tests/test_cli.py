"""Command-line behaviour shared by every project tool: no silent abbreviations, output under the working directory."""

from __future__ import annotations

import importlib

import pytest

PARSERS = [  # module, parser factory, its arguments, a command line with an abbreviated option
    ("eval.cli", "build_parser", (), ["probe", "--module", "m", "--tasks-dir", "t", "--tasks", "x"]),
    ("suite.cli", "_parser", (), ["build", "--ou", "x"]),
    ("pretrain.cli", "_train_parser", ("train",), ["--max-step", "3"]),
]


@pytest.mark.parametrize(("module", "factory", "args", "argv"), PARSERS)
def test_an_abbreviated_option_is_an_error_not_another_option(module, factory, args, argv, capsys):
    parser = getattr(importlib.import_module(module), factory)(*args)
    with pytest.raises(SystemExit):
        parser.parse_args(argv)
    assert "unrecognized arguments" in capsys.readouterr().err


def test_default_output_folders_are_relative_to_the_working_directory(tmp_path, monkeypatch):
    from eval.cli import build_parser

    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["probe", "--module", "m", "--tasks-dir", "t"])
    for path in (args.results_dir, args.cache_dir):
        assert not path.is_absolute()
        assert path.resolve().is_relative_to(tmp_path)
