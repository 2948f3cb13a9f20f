"""Reports: the one data shape every subcommand renders (console, JSON, JUnit, Markdown)."""
