"""Third stage: Annoy index over a run's embeddings, title lookup, and the query CLI.

    build.py   run folder -> index folder (forests, vectors, title tables, manifest last)
    recall.py  exact neighbours, recall@k, search_k tuning (bench/index.py uses it too)
    lookup.py  typed title -> item id (normalised, folded, redirects, base names)
    folder.py  the index folder's files and the checks made before a query
    colink.py  the films' sparse link vectors that re-rank "films like X"
    verified.py  whole-file SHA-256 checks, remembered per version of each file
    query.py   nearest neighbours of one or several items
    cli.py     `python -m index build|query|verify`

Never imports TensorFlow or PySpark (DESIGN.md). Title rules come from wikititles.titles,
standard library only, so a query normalises titles exactly as the ingestion did.
"""
