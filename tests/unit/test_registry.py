"""The check registry: every key loads its entry, each entry's declared result type is what its ``run``
returns, and every check a config may name is planned by an entry (``rtcdiag check`` is the registry
filtered)."""

import typing

import pytest

from rtcdiag.checks import registry
from rtcdiag.config import CHECKS


@pytest.mark.parametrize("key", list(registry.MODULES))
def test_every_key_loads_its_own_entry(key: str) -> None:
    entry = registry.entry(key)
    assert entry.name == entry.check.name == key


@pytest.mark.parametrize("key", list(registry.MODULES))
def test_the_declared_result_type_is_what_run_returns(key: str) -> None:
    entry = registry.entry(key)
    returned = typing.get_type_hints(entry.check.run)["return"]
    assert returned == entry.result_type, f"{key}: run returns {returned}, the entry says {entry.result_type}"


@pytest.mark.parametrize("name", CHECKS)
def test_every_configurable_check_is_planned_by_its_entry(name: str) -> None:
    entry = registry.entry(name)
    assert (entry.server_job is None) != (entry.config_jobs is None), name


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(registry.UnknownCheck):
        registry.entry("no-such-check")


def test_entries_keep_registry_order_whatever_the_order_asked() -> None:
    names = [e.name for e in registry.entries(["ice", "dns", "turn"])]
    assert names == ["dns", "turn", "ice"]


def test_a_check_needing_a_config_field_names_a_real_one_and_is_skipped_only_without_it() -> None:
    import dataclasses

    from rtcdiag.config import CheckConfig

    fields = {f.name for f in dataclasses.fields(CheckConfig)}
    assert set(registry.NEEDS_CONFIG_FIELD.values()) <= fields
    empty = CheckConfig()
    for key, field_name in registry.NEEDS_CONFIG_FIELD.items():
        assert not registry.has_input(empty, key)
        assert registry.has_input(dataclasses.replace(empty, **{field_name: ["something"]}), key)
    assert registry.has_input(empty, registry.Key.STUN)  # every other check is planned as before
