"""Process exit codes: the same for every subcommand (documented in docs/usage.md and ``--help``)."""

OK = 0  # every check passed (warnings allowed)
FINDING_ERROR = 1  # at least one finding at error severity
USAGE = 2  # bad arguments, bad config, unreadable file, malformed URI
INCONCLUSIVE = 3  # nothing could be decided (e.g. server lacks RFC 5780, network down)
INTERNAL = 4  # a bug in rtcdiag itself; please report it
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
HANGUP = 129  # SIGHUP (128 + 1): allocations released first, as for Ctrl-C
TERMINATED = 143  # SIGTERM (128 + 15), e.g. from `timeout` or a CI runner: allocations released first

EPILOG = (
    "Exit codes: 0 all checks pass (warnings allowed), 1 a finding at error severity, "
    "2 usage or configuration error, 3 inconclusive, 4 internal error, 130 interrupted, "
    "143 terminated (SIGTERM), 129 hang-up (SIGHUP)."
)


def epilog(*examples: str) -> str:
    """A subcommand's ``--help`` epilog: the exit codes, then two or three real examples, one a line
    (click keeps a paragraph that starts with ``\\b`` as written)."""
    shown = "\n".join(f"  {example}" for example in examples)
    return f"{EPILOG}\n\n\b\nExamples:\n{shown}"
