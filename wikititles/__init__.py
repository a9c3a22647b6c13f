"""MediaWiki's title rules, the one piece of logic ingestion and the index's title lookup must
apply identically. Standard library only: it runs on Spark executors and in `index query`."""
