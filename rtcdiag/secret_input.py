"""Load a secret (password, REST secret) from argv, an environment variable or a file.

Precedence: an explicit ``--X``, ``--X-env VAR`` or ``--X-file F`` (at most one of them), else the default
environment variable (e.g. ``RTCDIAG_TURN_PASSWORD``), else nothing. Every secret loaded here is registered
with :func:`rtcdiag.redact.register_secret` at once, so no output format can show it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from rtcdiag.errors import UsageError, warn, warn_if_readable
from rtcdiag.redact import register_secret
from rtcdiag.targets import password_problem

USERNAME_ENV = "RTCDIAG_TURN_USERNAME"
PASSWORD_ENV = "RTCDIAG_TURN_PASSWORD"
SECRET_ENV = "RTCDIAG_TURN_SECRET"


@dataclass(frozen=True)
class SecretArgs:
    """The three ways one secret may be given on the command line (all optional)."""

    value: str | None = None
    env: str | None = None
    file: Path | None = None

    @property
    def given(self) -> bool:
        return self.value is not None or self.env is not None or self.file is not None

    def flag(self, name: str) -> str:
        """The option used, e.g. ``--password-env`` (for messages)."""
        if self.value is not None:
            return f"--{name}"
        return f"--{name}-env" if self.env is not None else f"--{name}-file"


# What an environment variable name conventionally looks like (POSIX.1-2017 §8.1: upper case, digits, _).
# Anything else given to --X-env may be the secret itself, pasted instead of the name: never echoed.
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class SecretProblem(Enum):
    """Why a secret could not be read from its environment variable or file."""

    UNSET = "unset"  # the variable is not set
    UNSET_NOT_A_NAME = "unset, not a name"  # ... and does not look like a name: maybe the secret itself
    EMPTY = "empty"
    UNREADABLE = "unreadable"  # detail: the OS's reason
    NOT_UTF8 = "not UTF-8"


class SecretSourceError(Exception):
    """A secret's source failed; the caller words it for where the source was named (option or config key)."""

    def __init__(self, problem: SecretProblem, detail: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem, self.detail = problem, detail


def read_env_secret(var: str, environ: Mapping[str, str]) -> str:
    """The one reader of a secret from an environment variable (registered for masking). A name that is
    not set and does not look like a variable name may be the secret pasted in its place: it is registered
    too, and never echoed by the caller."""
    if var not in environ:
        if _ENV_NAME.match(var):
            raise SecretSourceError(SecretProblem.UNSET)
        register_secret(var)
        raise SecretSourceError(SecretProblem.UNSET_NOT_A_NAME)
    value = environ[var]
    if not value:
        raise SecretSourceError(SecretProblem.EMPTY)
    register_secret(value)
    return value


def read_file_secret(path: Path) -> str:
    """The one reader of a secret from a file (registered for masking): UTF-8, one trailing line break
    (what editors and ``echo`` add) is never part of the secret."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretSourceError(SecretProblem.UNREADABLE, str(exc.strerror or exc)) from None
    except UnicodeDecodeError:
        raise SecretSourceError(SecretProblem.NOT_UTF8) from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise SecretSourceError(SecretProblem.EMPTY)
    register_secret(text)
    return text


def _unset_env_error(name: str, var: str) -> UsageError:
    if _ENV_NAME.match(var):
        return UsageError(f"--{name}-env {var}: environment variable {var} is not set")
    register_secret(var)  # may be the secret: masked wherever it could still appear
    return UsageError(f"--{name}-env takes the NAME of an environment variable (e.g. TURN_PASSWORD); "
                      f"what was given is not set and not shown, in case it is the {name} itself "
                      f"(use --{name}-file FILE or export a variable)")


def load_secret(args: SecretArgs, *, name: str, default_env: str | None,
                environ: Mapping[str, str] | None = None) -> str | None:
    """Return the secret ``name`` (e.g. "password") or None when none was given anywhere.

    Raises :class:`UsageError` (exit 2) for conflicting options, an unset variable or an unreadable file.
    """
    env = os.environ if environ is None else environ
    given = [flag for flag, present in ((f"--{name}", args.value is not None),
                                        (f"--{name}-env", args.env is not None),
                                        (f"--{name}-file", args.file is not None)) if present]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} are mutually exclusive: give the {name} one way")
    secret: str | None
    if args.value is not None:
        register_secret(args.value)
        warn(f"--{name} on the command line is visible to other users (ps, /proc) and kept in shell history; "
             f"prefer --{name}-env VAR or --{name}-file FILE")
        secret = args.value
    elif args.env is not None:
        try:
            secret = read_env_secret(args.env, env)
        except SecretSourceError as exc:
            if exc.problem is SecretProblem.EMPTY:
                raise UsageError(f"the {name} is empty") from None
            raise _unset_env_error(name, args.env) from None
    elif args.file is not None:
        secret = _read_secret_file(args.file, name)
        warn_if_readable(args.file, f"--{name}-file")
    elif default_env and env.get(default_env):
        secret = env[default_env]
    else:
        secret = None
    if secret is not None and secret == "":
        raise UsageError(f"the {name} is empty")
    register_secret(secret)
    return secret


def _read_secret_file(path: Path, name: str) -> str:
    try:
        return read_file_secret(path)
    except SecretSourceError as exc:
        if exc.problem is SecretProblem.UNREADABLE:
            raise UsageError(f"--{name}-file {path}: {exc.detail}") from None
        if exc.problem is SecretProblem.NOT_UTF8:
            raise UsageError(f"--{name}-file {path}: not UTF-8 text") from None
        raise UsageError(f"the {name} is empty") from None


def load_turn_secrets(password_args: SecretArgs, secret_args: SecretArgs, *,
                      environ: dict[str, str] | None = None) -> tuple[str | None, str | None]:
    """The TURN password and REST API secret of one command: at most one of the two (the config file
    refuses both as well). An option given for one beats the other's default environment variable.

    Raises :class:`UsageError` for both, or for a password no TURN server can check (control characters).
    """
    if password_args.given and secret_args.given:
        raise UsageError(f"{password_args.flag('password')} and {secret_args.flag('secret')} are mutually "
                         "exclusive: give a password (long-term credentials) or a REST API secret, not both")
    password = load_secret(password_args, name="password",
                           default_env=None if secret_args.given else PASSWORD_ENV, environ=environ)
    secret = load_secret(secret_args, name="secret",
                         default_env=None if password_args.given else SECRET_ENV, environ=environ)
    if password is not None and secret is not None:
        raise UsageError(f"${PASSWORD_ENV} and ${SECRET_ENV} are both set: unset one, or choose with "
                         "--password-env VAR or --secret-env VAR")
    problem = password_problem(password) if password is not None else None
    if problem:
        raise UsageError(f"the password {problem}")
    return password, secret


def load_username(value: str | None, *, default_env: str = USERNAME_ENV,
                  environ: dict[str, str] | None = None) -> str | None:
    """The user name from ``-u`` or the default environment variable (a name is not a secret)."""
    env = os.environ if environ is None else environ
    if value is not None:
        return value or None
    return env.get(default_env) or None
