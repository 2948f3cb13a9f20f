"""TURN credentials on the command line (values loaded by rtcdiag.secret_input) and the ICE server list
of ``rtcdiag ice`` and ``rtcdiag browser``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from rtcdiag.errors import UsageError
from rtcdiag.secret_input import PASSWORD_ENV, SECRET_ENV, USERNAME_ENV, SecretArgs

if TYPE_CHECKING:

    from rtcdiag.checks.ice import IceServer
    from rtcdiag.targets import Target


F = TypeVar("F", bound=Callable[..., Any])


# --- TURN credentials (values loaded by rtcdiag.secret_input) ---------------------------------------------


def secret_options(name: str, *, default_env: str, what: str) -> Callable[[F], F]:
    """Click options ``--NAME``, ``--NAME-env VAR`` and ``--NAME-file F`` passed as one ``SecretArgs``.

    The command receives a keyword argument ``NAME_args`` (dashes become underscores).
    """
    key = name.replace("-", "_")

    def decorate(func: F) -> F:
        options = [
            click.option(f"--{name}", f"_{key}_value", metavar="VALUE",
                         help=f"The {what} (visible in the process list; prefer --{name}-env or "
                              f"--{name}-file). Default: ${default_env}."),
            click.option(f"--{name}-env", f"_{key}_env", metavar="VAR",
                         help=f"Read the {what} from environment variable VAR."),
            click.option(f"--{name}-file", f"_{key}_file", metavar="FILE",
                         type=click.Path(dir_okay=False, path_type=Path),
                         help=f"Read the {what} from FILE (one trailing newline is ignored)."),
        ]

        @functools.wraps(func)  # keeps __click_params__ of options declared below this decorator
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs[f"{key}_args"] = SecretArgs(value=kwargs.pop(f"_{key}_value"),
                                               env=kwargs.pop(f"_{key}_env"),
                                               file=kwargs.pop(f"_{key}_file"))
            return func(*args, **kwargs)

        decorated: Any = wrapper
        for option in reversed(options):
            decorated = option(decorated)
        return decorated  # type: ignore[no-any-return]

    return decorate


def turn_credential_options(func: F) -> F:
    """``-u/--user``, ``--password[-env|-file]``, ``--secret[-env|-file]`` and ``--ttl`` for TURN commands.

    The command receives ``username``, ``password_args``, ``secret_args`` and ``ttl``.
    """
    decorators = [
        click.option("-u", "--user", "username", metavar="USER",
                     help=f"TURN user name (for REST credentials: the user part). Default: ${USERNAME_ENV}."),
        secret_options("password", default_env=PASSWORD_ENV, what="TURN password (long-term credentials)"),
        secret_options("secret", default_env=SECRET_ENV,
                       what="TURN REST API shared secret (coturn static-auth-secret)"),
        click.option("--ttl", type=click.IntRange(min=1), default=86400, show_default=True, metavar="S",
                     help="Lifetime in seconds of REST credentials generated from the secret."),
    ]
    decorated: Any = func
    for decorator in reversed(decorators):
        decorated = decorator(decorated)
    return decorated  # type: ignore[no-any-return]


def refuse_half_credentials(user_option: str | None, username: str | None, password: str | None,
                            secret: str | None, targets: Sequence[Target]) -> None:
    """A user name without a password (or a password without a user name) for TURN targets that take the
    command line's credentials: one line, exit 2, before any traffic (the run could only stop at the 401).

    ``user_option``: what ``-u`` said (None: the name came from $RTCDIAG_TURN_USERNAME, or there is none).
    """
    from rtcdiag.targets import half_credentials

    if not any(t.is_turn and not (t.username or t.credential) for t in targets):
        return  # nothing would use them (STUN only, or ice-servers entries with their own)
    half = half_credentials(username, password, secret)
    if half is None:
        return
    if username:
        given = f"-u {username}" if user_option is not None else f"${USERNAME_ENV} ({username})"
        raise UsageError(f"{given} without a password: give it in ${PASSWORD_ENV}, --password-env VAR or "
                         f"--password-file FILE (or a REST secret: ${SECRET_ENV}, --secret-env VAR)")
    raise UsageError(f"a password without a user name: add -u USER (or ${USERNAME_ENV})")


def ice_server_list(targets: tuple[str, ...], ice_servers: Path | None, user_option: str | None,
                    user: str | None, password: str | None, secret: str | None, ttl: int, *,
                    unusable: str) -> list[IceServer]:
    """The ICE servers of ``rtcdiag ice`` and ``rtcdiag browser``: URIs / ``host[:port]`` and an RTCIceServer
    file, with long-term credentials or REST credentials minted from ``secret`` (a ready-made
    ``expiry:user`` keeps exactly that name). Usage errors (exit 2) before any traffic; ``unusable`` says
    why no given server can be used."""
    from rtcdiag.checks.ice import ice_servers_from_targets
    from rtcdiag.targets import load_ice_servers, parse_targets

    given = parse_targets(targets, default_scheme="turn")
    refuse_half_credentials(user_option, user, password, secret, given)
    if secret is not None:
        from rtcdiag.protocol.credentials import DEFAULT_REST_USER, rest_login

        user, password, _ = rest_login(secret, user or DEFAULT_REST_USER, ttl)
    parsed = parse_targets(targets, default_scheme="turn", username=user, credential=password)
    if ice_servers is not None:
        parsed += load_ice_servers(ice_servers)
    if not parsed:
        raise UsageError("give at least one TURN/STUN URI, host[:port] or --ice-servers FILE")
    servers = ice_servers_from_targets(list(parsed))
    if not servers:
        raise UsageError(f"no usable server: {unusable}")
    for server in servers:
        if server.is_turn and (not server.username or not server.password):
            raise UsageError(f"{server.url}: TURN needs a user name and a password (-u USER and "
                             f"${PASSWORD_ENV}, --password-env VAR or --password-file F, or a REST secret)")
    return servers
