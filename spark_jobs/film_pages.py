"""Arrow batches of prefiltered page records -> parsed film rows (runs in Python workers).

`parse_film_batches` is the function given to `DataFrame.mapInArrow`: it receives batches
with the columns of `CANDIDATE_COLUMNS` and yields batches of `FILM_PAGE_SCHEMA`. It needs
pyarrow but not Spark, so tests call it on hand-made batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from spark_jobs.wikitext import LIST_FIELDS, infobox_keys, parse_film_record

CANDIDATE_COLUMNS = ("record", "title")

_LINK = pa.struct([("target", pa.string()), ("count", pa.int32())])
FILM_PAGE_SCHEMA = pa.schema(
    [
        ("page_id", pa.int64()),
        ("title", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("links", pa.list_(_LINK)),
        ("image", pa.string()),
        *[(name, pa.list_(pa.string())) for name in LIST_FIELDS],
        ("year", pa.int32()),
        ("runtime_min", pa.int32()),
    ]
)
# The same schema as a Spark DDL string, for mapInArrow.
FILM_PAGE_DDL = ", ".join(
    [
        "page_id BIGINT", "title STRING", "status STRING", "error STRING",
        "links ARRAY<STRUCT<target: STRING, count: INT>>", "image STRING",
        *[f"{name} ARRAY<STRING>" for name in LIST_FIELDS],
        "year INT", "runtime_min INT",
    ]
)


def parse_film_batches(
    batches: Iterator[pa.RecordBatch],
    infobox_names: list[str],
    keep_categories: bool,
    timeout_s: float,
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: parse every record; one output row per input row, status says what."""
    keys = infobox_keys(infobox_names)
    for batch in batches:
        records = batch.column("record").to_pylist()
        titles = batch.column("title").to_pylist()
        rows: dict[str, list] = {name: [] for name in FILM_PAGE_SCHEMA.names}
        for record, title in zip(records, titles, strict=True):
            page = parse_film_record(
                record, keys, keep_categories=keep_categories, timeout_s=timeout_s,
                fallback_title=title,
            )
            rows["page_id"].append(page.page_id)
            rows["title"].append(page.title)
            rows["status"].append(page.status)
            rows["error"].append(page.error)
            rows["links"].append(
                [{"target": t, "count": c} for t, c in sorted(page.links.items())]
            )
            for name in ("image", *LIST_FIELDS, "year", "runtime_min"):
                default = [] if name in LIST_FIELDS else None
                rows[name].append(page.infobox.get(name, default))
        yield pa.RecordBatch.from_pydict(rows, schema=FILM_PAGE_SCHEMA)
