"""The command line as a thin shell: an explicit registry, cheap parsers, no import circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import fastnax.commands as commands
from fastnax.cli import build_parser, main

COMMANDS_DIR = Path(commands.__file__).parent


def test_every_command_module_is_registered_once():
    # a subcommand module is one that registers a parser (helpers such as options.py do not)
    modules = {p.stem for p in COMMANDS_DIR.glob("*.py") if "\ndef register(" in p.read_text()}
    assert {"search", "hw", "spaces", "sample", "fit", "train", "run", "rank", "explore"} <= modules
    assert {m.__name__.rsplit(".", 1)[1] for m in commands.COMMANDS.values()} == modules
    for name, module in commands.COMMANDS.items():
        assert callable(module.register) and callable(module.run), name
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == list(commands.COMMANDS)  # the order --help lists them in
    for name in commands.COMMANDS:  # each parser runs its own command's run
        argv = {"fit": [name, "r.jsonl", "--out", "p.json"], "explore": [name, "r.json"],
                "train": [name, "--baseline", "resnet20"], "sample": [name, "--out", "s.jsonl"]}.get(name, [name])
        assert parser.parse_args(argv).run is commands.COMMANDS[name].run


def test_no_command_module_imports_the_cli():
    # the commands sit below fastnax.cli: importing back would make an import circle
    for path in [*COMMANDS_DIR.glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            assert "fastnax.cli" not in names, f"{path.name} imports fastnax.cli"
    source = (COMMANDS_DIR.parent / "cli.py").read_text()
    assert "importlib" not in source and "not built yet" not in source


def test_help_is_cheap_and_torch_free():
    code = ("import sys; from fastnax.cli import build_parser; build_parser().format_help(); "
            "print(sorted(m for m in ('torch', 'xgboost', 'scipy', 'matplotlib', 'networkx', 'sklearn') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    proc = subprocess.run([sys.executable, "-m", "fastnax.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and all(name in proc.stdout for name in commands.COMMANDS)


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["nope"], ["hw", "--no-such-option"]])
def test_usage_errors_are_one_line(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fastnax")
