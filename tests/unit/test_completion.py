"""Shell completion through the real entry point (issue 22): click's ``_RTCDIAG_COMPLETE`` protocol, as the
scripts `_RTCDIAG_COMPLETE=bash_source rtcdiag` (zsh_source, fish_source) print ask it."""

from __future__ import annotations

import os
import subprocess
import sys


def _complete(words: str, shell: str = "bash") -> list[str]:
    env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ")
                                                                                     else 1)),
           "_RTCDIAG_COMPLETE": f"{shell}_complete"}
    proc = subprocess.run([sys.executable, "-m", "rtcdiag"], capture_output=True, text=True, timeout=30,
                          env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_the_completion_script_is_printed() -> None:
    proc = subprocess.run([sys.executable, "-m", "rtcdiag"], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "_RTCDIAG_COMPLETE": "bash_source"}, check=False)
    assert "_rtcdiag_completion()" in proc.stdout and "complete " in proc.stdout


def test_subcommands_finding_ids_transports_and_files_complete() -> None:
    assert "plain,explain" in _complete("rtcdiag expl")
    assert _complete("rtcdiag explain turn-au") == ["plain,TURN-AUTH-401", "plain,TURN-AUTH-441"]
    assert _complete("rtcdiag turn-check -t udp,t") == ["plain,udp,tcp", "plain,udp,tls"]
    assert _complete("rtcdiag lint /etc/turn") == ["file,/etc/turn"]  # the shell lists the files
    assert _complete("rtcdiag analyze dump") == ["file,dump"]
