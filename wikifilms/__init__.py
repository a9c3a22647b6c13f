"""The `wikifilms` command: every stage's command line under one name (wikifilms/cli.py)."""
