"""Load a secret (password, REST secret) from argv, an environment variable or a file.

Precedence: an explicit ``--X``, ``--X-env VAR`` or ``--X-file F`` (at most one of them), else the default
environment variable (e.g. ``RTCDIAG_TURN_PASSWORD``), else nothing. Every secret loaded here is registered
with :func:`rtcdiag.redact.register_secret` at once, so no output format can show it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rtcdiag.errors import UsageError
from rtcdiag.redact import register_secret

USERNAME_ENV = "RTCDIAG_TURN_USERNAME"
PASSWORD_ENV = "RTCDIAG_TURN_PASSWORD"
SECRET_ENV = "RTCDIAG_TURN_SECRET"


@dataclass(frozen=True)
class SecretArgs:
    """The three ways one secret may be given on the command line (all optional)."""

    value: str | None = None
    env: str | None = None
    file: Path | None = None


def load_secret(args: SecretArgs, *, name: str, default_env: str | None,
                environ: dict[str, str] | None = None) -> str | None:
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
        secret = args.value
    elif args.env is not None:
        if args.env not in env:
            raise UsageError(f"--{name}-env {args.env}: environment variable {args.env} is not set")
        secret = env[args.env]
    elif args.file is not None:
        secret = _read_secret_file(args.file, name)
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
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--{name}-file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--{name}-file {path}: not UTF-8 text") from None
    # One trailing line break is what editors and `echo` add; it is never part of the secret.
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    return text


def load_username(value: str | None, *, default_env: str = USERNAME_ENV,
                  environ: dict[str, str] | None = None) -> str | None:
    """The user name from ``-u`` or the default environment variable (a name is not a secret)."""
    env = os.environ if environ is None else environ
    if value is not None:
        return value or None
    return env.get(default_env) or None
