"""Fixtures for the real-NAT lab: every lab made here is torn down at teardown, even when a test fails."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator

import pytest

from rtcdiag.lab.kinds import NatKind
from rtcdiag.lab.lab import Lab

_counter = itertools.count()


def lab_skip_reason(need_coturn: bool = True) -> str | None:
    if os.geteuid() != 0:
        return "NAT lab needs root (network namespaces, nftables); CI runs it as root"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"NAT lab needs `{tool}` (apt-get install {package})"
    if need_coturn and shutil.which("turnserver") is None:
        return "NAT lab needs coturn's turnserver (apt-get install coturn)"
    return None


MakeLab = Callable[..., Lab]


@pytest.fixture
def make_lab() -> Iterator[MakeLab]:
    """``make_lab(kind, loss_percent=0, stun=True)``: a fresh lab with a unique name (pid + counter)."""
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    made: list[Lab] = []

    def factory(kind: NatKind, **kwargs: object) -> Lab:
        name = f"rtcdt{os.getpid()}n{next(_counter)}"
        lab = Lab.create(kind, name, **kwargs)  # type: ignore[arg-type]
        made.append(lab)
        return lab

    yield factory
    problems = [problem for lab in made for problem in lab.down()]
    assert not problems, problems
