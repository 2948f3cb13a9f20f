"""rtcdiag.secret_input: one secret from argv, env var or file; registered for redaction at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rtcdiag.errors import UsageError
from rtcdiag.redact import clear_secrets, mask
from rtcdiag.secret_input import SecretArgs, load_secret, load_username


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Iterator[None]:
    clear_secrets()
    yield
    clear_secrets()


def test_value_wins_and_is_registered_for_redaction() -> None:
    got = load_secret(SecretArgs(value="hunter2-pw"), name="password", default_env="PW", environ={"PW": "x"})
    assert got == "hunter2-pw"
    assert mask("password is hunter2-pw") == "password is ***"


def test_named_env_var() -> None:
    got = load_secret(SecretArgs(env="MY_PW"), name="password", default_env="PW",
                      environ={"MY_PW": "from-env-1", "PW": "default"})
    assert got == "from-env-1"
    assert "from-env-1" not in mask("x from-env-1 y")


def test_unset_named_env_var_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="MY_PW is not set"):
        load_secret(SecretArgs(env="MY_PW"), name="password", default_env=None, environ={})


def test_file_strips_one_trailing_newline_only(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text("s3cret \n", encoding="utf-8")
    assert load_secret(SecretArgs(file=f), name="password", default_env=None, environ={}) == "s3cret "


def test_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--secret-file"):
        load_secret(SecretArgs(file=tmp_path / "missing"), name="secret", default_env=None, environ={})


def test_two_sources_conflict() -> None:
    with pytest.raises(UsageError, match="mutually exclusive"):
        load_secret(SecretArgs(value="a", env="B"), name="password", default_env=None, environ={"B": "b"})


def test_default_env_then_none() -> None:
    got = load_secret(SecretArgs(), name="password", default_env="PW", environ={"PW": "dflt-pw"})
    assert got == "dflt-pw"
    assert load_secret(SecretArgs(), name="password", default_env="PW", environ={}) is None


def test_empty_secret_rejected() -> None:
    with pytest.raises(UsageError, match="empty"):
        load_secret(SecretArgs(value=""), name="password", default_env=None, environ={})


def test_username_from_flag_or_env() -> None:
    assert load_username("bob", environ={"RTCDIAG_TURN_USERNAME": "alice"}) == "bob"
    assert load_username(None, environ={"RTCDIAG_TURN_USERNAME": "alice"}) == "alice"
    assert load_username(None, environ={}) is None
