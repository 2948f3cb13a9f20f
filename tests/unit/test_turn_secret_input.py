"""rtcdiag.secret_input: one secret from argv, env var or file; registered for redaction at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rtcdiag.errors import UsageError
from rtcdiag.redact import clear_secrets, mask
from rtcdiag.secret_input import SecretArgs, load_secret, load_turn_secrets, load_username


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


# --- password and REST secret together; pasted secrets; warnings ------------------------------------------


def test_password_and_secret_options_together_are_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--password-env and --secret are mutually exclusive"):
        load_turn_secrets(SecretArgs(env="PW"), SecretArgs(value="s"), environ={"PW": "p"})


def test_an_option_beats_the_other_kinds_default_variable() -> None:
    env = {"RTCDIAG_TURN_PASSWORD": "dflt-pw", "RTCDIAG_TURN_SECRET": "dflt-secret", "MY": "mine"}
    assert load_turn_secrets(SecretArgs(env="MY"), SecretArgs(), environ=env) == ("mine", None)
    assert load_turn_secrets(SecretArgs(), SecretArgs(env="MY"), environ=env) == (None, "mine")
    with pytest.raises(UsageError, match="are both set"):
        load_turn_secrets(SecretArgs(), SecretArgs(), environ=env)


def test_a_pasted_secret_in_password_env_is_not_echoed_and_is_masked() -> None:
    pasted = "correct horse battery staple"
    with pytest.raises(UsageError) as info:
        load_secret(SecretArgs(env=pasted), name="password", default_env=None, environ={})
    assert pasted not in str(info.value) and "takes the NAME" in str(info.value)
    assert mask(f"x {pasted} y") == "x *** y"
    with pytest.raises(UsageError, match="TURN_PW is not set"):  # a real name is named
        load_secret(SecretArgs(env="TURN_PW"), name="password", default_env=None, environ={})


@pytest.mark.parametrize("password", ["a\x00b", "bell\x07", "del\x7f", "c1\x85"])
def test_a_control_character_in_the_password_is_a_usage_error(password: str) -> None:
    with pytest.raises(UsageError) as info:
        load_turn_secrets(SecretArgs(env="PW"), SecretArgs(), environ={"PW": password})
    assert "U+00" in str(info.value) and password not in str(info.value)


def test_a_printable_unicode_password_is_accepted() -> None:
    assert load_turn_secrets(SecretArgs(env="PW"), SecretArgs(), environ={"PW": "pässwörd ✓"}) == \
        ("pässwörd ✓", None)


def test_argv_password_and_readable_file_warn_once(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    load_secret(SecretArgs(value="argv-pw"), name="password", default_env=None, environ={})
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rtcdiag: warning: --password on the command line")
    secret_file = tmp_path / "secret"
    secret_file.write_text("file-secret\n")
    secret_file.chmod(0o604)
    load_secret(SecretArgs(file=secret_file), name="secret", default_env=None, environ={})
    err = capsys.readouterr().err
    assert "readable by everyone (mode 0604)" in err and "file-secret" not in err
    secret_file.chmod(0o600)
    load_secret(SecretArgs(file=secret_file), name="secret", default_env=None, environ={})
    assert capsys.readouterr().err == ""


def test_the_config_file_and_the_command_line_read_secrets_with_one_reader(tmp_path: Path) -> None:
    """One reader of env vars and files (rtcdiag.secret_input), worded for where the source was named: the
    same file gives the same secret to ``--password-file`` and to a config's ``password_file``."""
    from rtcdiag.config import ConfigError, load_config
    from rtcdiag.secret_input import (
        SecretArgs,
        SecretProblem,
        SecretSourceError,
        load_secret,
        read_file_secret,
    )

    secret_file = tmp_path / "pw"
    secret_file.write_text("one-reader-pw\r\n", encoding="utf-8")
    secret_file.chmod(0o600)
    assert read_file_secret(secret_file) == "one-reader-pw"
    assert load_secret(SecretArgs(file=secret_file), name="password", default_env=None) == "one-reader-pw"
    toml = tmp_path / "rtcdiag.toml"
    toml.write_text('[[servers]]\nurls = ["turn:127.0.0.1"]\nusername = "u"\npassword_file = "pw"\n')
    assert load_config(toml, environ={}).servers[0].password == "one-reader-pw"
    secret_file.write_text("\n", encoding="utf-8")
    with pytest.raises(SecretSourceError) as caught:
        read_file_secret(secret_file)
    assert caught.value.problem is SecretProblem.EMPTY
    with pytest.raises(ConfigError, match="is empty"):
        load_config(toml, environ={})
