"""Every subcommand's --help ends with two or three real examples (issue 22), and each of them parses: the
options it uses exist, their values are valid, the arguments are where the command wants them (click parses
the example exactly as the shell would split it; nothing is run)."""

from __future__ import annotations

import shlex

import click
import pytest
from click.testing import CliRunner

from rtcdiag.cli import SUBCOMMANDS, cli


def _command(path: list[str]) -> click.Command:
    ctx = click.Context(cli)
    command: click.Command | None = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.get_command(ctx, name)
        assert command is not None, path
    return command


def _examples(name: str) -> list[str]:
    text = CliRunner().invoke(cli, [name, "--help"], terminal_width=200).output
    tail = text.rstrip().split("\n\n")[-1].splitlines()
    assert tail[0].strip() == "Examples:", f"{name} --help does not end with examples:\n{text}"
    return [line.strip() for line in tail[1:]]


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_help_ends_with_two_or_three_examples_that_parse(name: str) -> None:
    examples = _examples(name)
    assert 2 <= len(examples) <= 3, examples
    ran_rtcdiag = 0
    for example in examples:
        words = shlex.split(example)  # quoted as a shell needs it (a bare `?` globs in zsh)
        assert all("?" not in w or f"'{w}'" in example for w in words), f"unquoted ? in {example!r}"
        if words[0] == "sudo":
            words = words[1:]
        if words[0] != "rtcdiag":
            continue  # e.g. the curl that scrapes the exporter
        ran_rtcdiag += 1
        path = words[1:2]
        command = _command(path)
        args = words[2:]
        if isinstance(command, click.Group):
            path, args = [*path, args[0]], args[1:]
            command = _command(path)
        ctx = command.make_context(" ".join(path), list(args))  # raises on an unknown option or bad value
        assert ctx.params is not None
    assert ran_rtcdiag >= 2
