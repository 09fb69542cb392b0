"""Command-line behaviour shared by every project tool: no silent abbreviations, output under the working directory."""

from __future__ import annotations

import importlib

import pytest

PARSERS = [  # module, parser factory, its arguments, a command line with an abbreviated option
    ("cola_eval.cli", "build_parser", (), ["probe", "--module", "m", "--tasks-dir", "t", "--tasks", "x"]),
    ("cola_suite.cli", "_parser", (), ["build", "--ou", "x"]),
    ("cola_pretrain.cli", "_train_parser", ("train",), ["--max-step", "3"]),
    ("cola_pretrain.compact_cli", "compact_parser", (), ["--data", "d", "--out", "o", "--size", "3"]),
]


@pytest.mark.parametrize(("module", "factory", "args", "argv"), PARSERS)
def test_an_abbreviated_option_is_an_error_not_another_option(module, factory, args, argv, capsys):
    parser = getattr(importlib.import_module(module), factory)(*args)
    with pytest.raises(SystemExit):
        parser.parse_args(argv)
    assert "unrecognized arguments" in capsys.readouterr().err


def test_default_output_folders_are_relative_to_the_working_directory(tmp_path, monkeypatch):
    from cola_eval.cli import build_parser

    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["probe", "--module", "m", "--tasks-dir", "t"])
    for path in (args.results_dir, args.cache_dir):
        assert not path.is_absolute()
        assert path.resolve().is_relative_to(tmp_path)


def test_every_command_exits_2_on_usage_errors_and_1_on_other_errors(tmp_path, capsys):
    """Issue 28: the same exit status for the same kind of failure on every command (README, "Bad input")."""
    from cola_eval.cli import main as eval_main
    from cola_eval.embed.cli import main as embed_main
    from cola_pretrain.cli import main as pretrain_main
    from cola_suite.cli import main as suite_main

    missing = str(tmp_path / "missing")
    usage = {  # an unknown option, or a bad option value
        "cola-embed": lambda: embed_main([missing, "-o", "e.npz", "--chunk-seconds", "0"]),
        "cola-eval": lambda: eval_main(["probe", "--module", "m", "--tasks-dir", missing, "--nope"]),
        "cola-suite": lambda: suite_main(["build", "--nope"]),
        "cola-pretrain": lambda: pretrain_main(["--data", missing, "--batch-size", "0"]),
    }
    for name, run in usage.items():
        try:
            code = run()
        except SystemExit as stop:
            code = stop.code
        assert code == 2, name
    other = {  # a well-formed command line naming something that is not there
        "cola-embed": embed_main([missing, "-o", str(tmp_path / "e.npz")]),
        "cola-eval": eval_main(["probe", "--module", "m", "--tasks-dir", missing]),
        "cola-suite": suite_main(["check", missing]),
        "cola-pretrain": pretrain_main(["--data", missing, "--out", str(tmp_path / "run"), "--no-cache"]),
    }
    assert other == dict.fromkeys(other, 1)
    assert missing in capsys.readouterr().err
