"""Third stage: Annoy index over a run's embeddings, title lookup, and the query CLI.

    build.py   run folder -> index folder (forests, vectors, title tables, manifest last)
    recall.py  exact neighbours, recall@k, search_k tuning (shared with bench/index.py)
    lookup.py  typed title -> item id (normalised, folded, redirects, base names)
    folder.py  the index folder's files and the checks made before a query
    query.py   nearest neighbours of one or several items
    cli.py     `python -m index build|query`

Never imports TensorFlow or PySpark (DESIGN.md). Title rules come from spark_jobs.titles,
standard library only, so a query normalises titles exactly as the ingestion did.
"""
