"""Third stage: Annoy index over a run's embeddings, title lookup, the query CLI, the web page.

    build.py   run folder -> index folder (forests, vectors, title tables, manifest last)
    recall.py  exact neighbours, recall@k, search_k tuning (bench/index.py uses it too)
    lookup.py  typed title -> item id (normalised, folded, redirects, base names)
    folder.py  the index folder's files and the checks made before a query
    colink.py  the films' sparse link vectors that re-rank "films like X"
    verified.py  whole-file SHA-256 checks, remembered per version of each file
    query.py   nearest neighbours of one or several items
    ranking.py, rating.py  the personal models copied from ranking and rating runs
    answers.py the answers as rows (and why two films are alike): the CLI's and the API's
    arguments.py  the checks of what a query asks (titles), shared by both
    serve.py   the web page's server and JSON API (Starlette, uvicorn); web/ the page
    cli.py     `python -m index build|query|verify|serve`

Never imports TensorFlow or PySpark (DESIGN.md). Title rules come from wikititles.titles,
standard library only, so a query normalises titles exactly as the ingestion did.
"""
