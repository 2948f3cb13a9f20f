"""Every list option of every command takes both spellings: repeated (``--x a --x b``, how click users write
lists) and comma-separated (``--x a,b``), mixed too — never a silent drop of all but the last (issue 20).

The command tree is introspected (``rtcdiag.cli.SUBCOMMANDS`` and every group's subcommands), so a list
option added later without :class:`rtcdiag.commands.shared.options.ListOption` fails here. What the commands
then do with both spellings against real servers: tests/integration/test_list_options_live.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest

from rtcdiag import exitcodes
from rtcdiag.cli import SUBCOMMANDS, cli, main
from rtcdiag.commands.shared.options import ListOption, split_list


def _commands() -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(cli)
    pending: list[tuple[str, click.Command]] = [(name, cli.get_command(ctx, name)) for name in SUBCOMMANDS]
    while pending:
        path, command = pending.pop(0)
        yield path, command
        if isinstance(command, click.Group):
            pending += [(f"{path} {name}", command.get_command(ctx, name))
                        for name in command.list_commands(ctx)]


COMMANDS = dict(_commands())
LIST_OPTIONS = [(path, option) for path, command in COMMANDS.items() for option in command.params
                if isinstance(option, ListOption)]
_LIST_WORDS = re.compile(r"(?i:comma|repeat)|\bLIST\b|,\.\.\.|\w\(s\)")


def _flag(option: click.Option) -> str:
    """The option's first long spelling (the one its messages name)."""
    return next(o for o in option.opts if o.startswith("--"))


def _required(command: click.Command) -> list[str]:
    """Placeholders for the command's required arguments and options, so that it parses."""
    args: list[str] = []
    for param in command.params:
        if isinstance(param, click.Option) and param.required:
            args += [param.opts[0], "x"]
        elif isinstance(param, click.Argument) and param.required:
            args.append("x")
    return args


def _parsed(path: str, option: ListOption, values: list[str]) -> object:
    command = COMMANDS[path]
    flag = _flag(option)
    argv = [arg for value in values for arg in (flag, value)] + _required(command)
    ctx = command.make_context(path, argv)
    return ctx.params[option.name or ""]


def test_the_tree_has_the_list_options_we_know() -> None:
    """The walk found the list options (so the checks below are not vacuous), subcommand groups included."""
    found = {(path, _flag(option)) for path, option in LIST_OPTIONS}
    assert {("stun", "--transport"), ("turn-check", "--transport"), ("turn-check", "--acl-peers"),
            ("nat-type", "--server"), ("nat-type", "--servers"), ("check", "--checks"),
            ("check", "--nat-server"), ("ports", "--ports")} <= found
    assert "lab up" in COMMANDS and "lab down" in COMMANDS


@pytest.mark.parametrize(("path", "name"), [(path, option.name) for path, option in
                                            ((p, o) for p, c in COMMANDS.items() for o in c.params
                                             if isinstance(o, click.Option))])
def test_no_other_option_takes_a_list(path: str, name: str) -> None:
    """An option that repeats, or whose help or metavar speaks of a list, is a ListOption."""
    option = next(o for o in COMMANDS[path].params if o.name == name)
    assert isinstance(option, click.Option)
    if isinstance(option, ListOption):
        return
    assert not option.multiple, f"{path} {option.opts}: multiple=True but not a ListOption"
    words = f"{option.help or ''} {option.metavar or ''}"
    assert not _LIST_WORDS.search(words), f"{path} {option.opts} reads like a list option: {words!r}"


@pytest.mark.parametrize(("path", "option"), LIST_OPTIONS,
                         ids=[f"{path} {_flag(option)}" for path, option in LIST_OPTIONS])
def test_both_spellings_give_the_same_list(path: str, option: ListOption) -> None:
    a, b = option.examples
    assert _parsed(path, option, [a, b]) == (a, b)  # repeated
    assert _parsed(path, option, [f"{a},{b}"]) == (a, b)  # comma-separated
    assert _parsed(path, option, [f" {a} ,", f"{b},{a}"]) == (a, b)  # mixed, spaces, a duplicate
    assert _parsed(path, option, []) == ()  # not given
    if option.choices is not None:
        assert _parsed(path, option, [f"{a.upper()},{b}"]) == (a, b)  # words compare in lower case


@pytest.mark.parametrize(("path", "option"), LIST_OPTIONS,
                         ids=[f"{path} {_flag(option)}" for path, option in LIST_OPTIONS])
def test_an_empty_list_is_a_usage_error(path: str, option: ListOption,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Through the real entry point: one line, exit 2, before anything runs."""
    with pytest.raises(SystemExit) as exit_info:
        main([*path.split(), _flag(option), " , ", *_required(COMMANDS[path])])
    assert exit_info.value.code == exitcodes.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "name at least one value" in err and _flag(option) in err


@pytest.mark.parametrize(("path", "flag", "good"), [("stun", "--transport", "udp"),
                                                    ("turn-check", "--transport", "udp"),
                                                    ("check", "--checks", "stun")])
def test_an_unknown_word_is_named_in_one_line(path: str, flag: str, good: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*path.split(), flag, good, flag, "sctp", *_required(COMMANDS[path])])
    assert exit_info.value.code == exitcodes.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'sctp' is not one of" in err


def test_split_list() -> None:
    assert split_list(["a,b", " c", "a", ",,"]) == ("a", "b", "c")
    assert split_list(["UDP,Tcp"], lower=True) == ("udp", "tcp")
    assert split_list([]) == ()
