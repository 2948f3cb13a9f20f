"""One module per subcommand; ``rtcdiag.cli`` imports each only when it is invoked (fast start-up)."""
