"""The hear-wrappers command: the registry as a table (also the README's), one spec, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hear_wrappers.cli import main, models_table
from hear_wrappers.core.registry import get_spec, list_models

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- models table: begin -->", "<!-- models table: end -->"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hear_wrappers", *args], capture_output=True, text=True)


def test_list_prints_every_registered_checkpoint():
    result = run("list")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert [row.split(" | ")[0].removeprefix("| ") for row in rows[1:]] == list_models()
    for name in list_models():
        spec = get_spec(name)
        row = next(r for r in rows if r.startswith(f"| {name} |"))
        assert f"| {spec.sample_rate} |" in row and f"| {spec.frame_size} |" in row and spec.extra in row


def test_list_takes_a_pattern_and_says_when_nothing_matches(capsys):
    assert main(["list", "crepe-*"]) == 0
    assert capsys.readouterr().out.count("| crepe-") == len(list_models("crepe-*")) == 2
    assert main(["list", "no-such-*"]) == 1
    assert "no registered model matches" in capsys.readouterr().err


def test_info_gives_one_spec_and_unknown_names_are_clear(capsys):
    assert main(["info", "encodec-48khz"]) == 0
    out = capsys.readouterr().out
    assert "48000 Hz" in out and "hear-wrappers[encodec]" in out and "CC BY-NC 4.0" in out
    assert main(["info", "encodec-44khz"]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_version():
    import hear_wrappers

    assert run("--version").stdout.split() == ["hear-wrappers", hear_wrappers.__version__]


def test_the_readme_table_is_the_registry():
    """README.md shows `hear-wrappers list`'s table between two markers; regenerate it with
    ``python -m hear_wrappers list`` when a model is added."""
    text = README.read_text()
    if BEGIN not in text:
        pytest.fail(f"README.md has no {BEGIN} ... {END} block")
    block = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert block == models_table()


@pytest.mark.parametrize(
    ("command", "prog"),
    [
        ("embed", "python -m hear_wrappers.embed"),
        ("evaluate", "python -m hear_wrappers.evaluate"),
        ("predictions", "python -m hear_wrappers.evaluate predictions"),
    ],
)
def test_tool_commands_hand_their_arguments_to_the_tool(command, prog, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {prog} ")
