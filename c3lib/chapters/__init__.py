"""One module per chapter: its config, its run and its claims (chapters never import chapters)."""
