"""The check registry: each check runs a probe (I/O only) and judges its typed result (pure rules).

``rtcdiag check`` runs every applicable check; each single-purpose command runs the registry filtered to
its own check. :func:`rtcdiag.checks.engine.execute` guards every run: a bug in one check becomes an
INTERNAL-ERROR finding naming the check (exit 4) while every other check is still reported.
"""
