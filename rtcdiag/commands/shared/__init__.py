"""Code every subcommand shares, one job per module: ``options`` (click options), ``running`` (event loop,
signals, progress), ``output`` (render, write, exit code), ``secrets`` (credentials, ICE server lists).
Subcommands never import one another; they import these."""
