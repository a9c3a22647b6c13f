"""Ratings data set -> Parquet tables (ratings, items, users) linked to a tables folder's films.

    python -m spark_jobs.ratings --ratings PATH --tables TABLES_DIR --out RATINGS_DIR
                                 [--overwrite] [--config F] [-p k=v] [-q] [-v]
    spark-submit --py-files dist/wikifilms-jobs.zip spark_jobs/ratings.py --ratings ... ...

PATH is a MovieLens release as GroupLens publishes it (spark_jobs/movielens.py): its folder
(local or a Hadoop URI) or its local zip; or an Amazon reviews 2018 category folder
(spark_jobs/amazon.py). `ratings.min_year`/`max_year` and the k-core settings filter the
ratings first (keep_ratings). The job reads the ratings, the catalogue and the
users (extract), gives users and items dense ids and links each catalogue item to a film of
the tables (transform), and writes the tables aside with the manifest last, citing the
tables' manifest id (load, spark_jobs/publish.py), as parse_dump does.

Bad lines never reach the tables: a line that is not a rating, a rating that is NaN or
infinite, or one outside the source's scale (MovieLens 0.5-5, Amazon 1-5) is skipped and
counted by reason, with examples, in the manifest's `lines_skipped`; a (user, item) rated
twice keeps its latest rating (`duplicates`). A source that leaves no rating at all (after
the years and the k-core) is refused with one line saying what emptied it; nothing is written.

Linking: an item's names (its title with the article put back, and alternative titles in
parentheses) meet the films' titles without their "(… film)" qualifier and the redirects to
them, as movielens.title_key folds them; a candidate's year (the infobox year, else the
qualifier's) must be within `ratings.year_tolerance` of the item's. The candidates of the
closest year win; when they are more than one film, the item stays unlinked (ambiguous,
counted, examples in the manifest): never two items to different films on a guess.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from conf import Config, cli
from conf.manifest import RATINGS_KIND, RATINGS_SCHEMA_VERSION, build_manifest
from conf.outputs import check_output_folder, check_placement
from spark_jobs import amazon
from spark_jobs.inputs import InputError, is_local
from spark_jobs.movielens import GENRES_100K, LAYOUTS, Layout, item_year
from spark_jobs.publish import (
    OutputPublisher,
    read_manifest,
    read_manifest_through,
)

logger = logging.getLogger("spark_jobs.ratings")

WHAT = "ratings folder"
ITEM_KEY_SCHEMA = "array<struct<key: string, via: string>>"


# --- extract ------------------------------------------------------------------------------
def find_layout(spark, folder: str) -> Layout:
    """The MovieLens layout whose ratings and items files `folder` holds (any Hadoop URI)."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(folder)
    fs = path.getFileSystem(conf)
    for layout in LAYOUTS:
        if all(fs.exists(jvm.org.apache.hadoop.fs.Path(f"{folder}/{name}"))
               for name in (layout.ratings, layout.items)):
            return layout
    names = ([status.getPath().getName() for status in fs.listStatus(path)]
             if fs.exists(path) and fs.getFileStatus(path).isDirectory() else [])
    found = amazon.find_files(names)
    if found:
        return Layout("amazon", found[0], found[1], None, amazon.SCALE)
    wanted = "; ".join(f"{x.ratings} + {x.items}" for x in LAYOUTS)
    raise InputError(f"{folder} is neither a MovieLens release (it holds none of {wanted}) nor "
                     "an Amazon reviews category (one meta_NAME.json.gz and one reviews "
                     ".json.gz): give the unzipped folder or the .zip as GroupLens serves it")


def unpacked(path: str, scratch: Path) -> str:
    """The release folder of `path`: itself, or for a local zip the folder it unpacks to in
    `scratch` (GroupLens' zips hold one folder, ml-100k/ ...)."""
    if not is_local(path):
        if path.endswith(".zip"):
            raise InputError(f"{path}: a zip is read from a local path only; unzip it first")
        return path.rstrip("/")
    local = Path(path).expanduser().resolve()
    if not local.exists():
        raise InputError(f"{path}: not found")
    if local.is_dir():
        return str(local)
    try:
        with zipfile.ZipFile(local) as archive:
            archive.extractall(scratch)
    except (zipfile.BadZipFile, zlib.error, OSError) as e:
        raise InputError(f"{path}: not a readable zip ({e}); download it again") from e
    folders = [p for p in scratch.iterdir() if p.is_dir()]
    return str(folders[0] if len(folders) == 1 else scratch)


def _delimited(spark, path: str, separator: str, names: list[str], encoding: str = "UTF-8"):
    """A file of separated fields (no quoting: MovieLens' .dat and u.* files) as string
    columns `names`; `_bad` marks lines with too few fields (counted and skipped)."""
    from pyspark.sql import functions as F

    schema = ", ".join(f"`{n}` string" for n in names)
    df = (spark.read.schema(schema).option("sep", separator).option("encoding", encoding)
          .option("quote", "").option("mode", "PERMISSIVE").csv(path))
    return df.withColumn("_bad", F.col(names[-1]).isNull())


# Why a ratings line is skipped (counted in the manifest's lines_skipped, with examples).
NOT_PARSED, NOT_FINITE, OUT_OF_SCALE = "ratings_not_parsed", "rating_not_finite", \
    "rating_out_of_scale"
SKIP_REASONS = (NOT_PARSED, NOT_FINITE, OUT_OF_SCALE)


def read_ratings(spark, folder: str, layout: Layout):
    """user, item (source ids, strings), rating (double), timestamp (long), `line` (the
    line's position in the file: the later of two ratings with one timestamp wins), and
    `skip`: null for a rating, else why the line is skipped (SKIP_REASONS): not a rating
    line, a rating that is NaN or infinite, or one outside the source's scale."""
    from pyspark.sql import functions as F

    names = ["user", "item", "rating", "timestamp"]
    path = f"{folder}/{layout.ratings}"
    if layout.name == "amazon":
        raw = (spark.read.schema("reviewerID string, asin string, overall string, "
                                 "unixReviewTime string, _corrupt string")
               .option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", "_corrupt")
               .json(path)
               .select(F.col("reviewerID").alias("user"), F.col("asin").alias("item"),
                       F.col("overall").alias("rating"),
                       F.col("unixReviewTime").alias("timestamp"),
                       F.col("_corrupt").isNotNull().alias("_bad")))
    elif layout.name == "csv":
        raw = spark.read.option("header", True).csv(path).toDF(*names) \
            .withColumn("_bad", F.lit(False))
    else:
        raw = _delimited(spark, path, "\t" if layout.name == "100k" else "::", names)
    # try_cast: a field that is not a number is a bad line, not a failed job (ANSI mode).
    rating = F.trim("rating").try_cast("double")
    timestamp = F.trim("timestamp").try_cast("long")
    low, high = layout.scale
    skip = (F.when(F.col("_bad") | F.col("user").isNull() | F.col("item").isNull()
                   | rating.isNull() | timestamp.isNull(), F.lit(NOT_PARSED))
            .when(F.isnan(rating) | (F.abs(rating) == float("inf")), F.lit(NOT_FINITE))
            .when((rating < low) | (rating > high), F.lit(OUT_OF_SCALE)))
    return raw.select(F.trim("user").alias("user"), F.trim("item").alias("item"),
                      rating.alias("rating"), timestamp.alias("timestamp"),
                      F.monotonically_increasing_id().alias("line"),
                      F.col("rating").alias("rating_text"), skip.alias("skip"))


def skipped_lines(raw, examples: int) -> tuple[dict, dict]:
    """({reason: lines}, {reason: up to `examples` of them as user, item, rating text}) of
    read_ratings' skipped lines, every reason listed."""
    from pyspark.sql import functions as F

    skipped = raw.filter(F.col("skip").isNotNull())
    counts = {r["skip"]: r["count"] for r in skipped.groupBy("skip").count().collect()}
    shown = {}
    for reason in SKIP_REASONS:
        if counts.get(reason) and examples:
            shown[reason] = [r.asDict() for r in skipped.filter(F.col("skip") == reason)
                             .select("user", "item", F.col("rating_text").alias("rating"))
                             .limit(examples).collect()]
    return {reason: counts.get(reason, 0) for reason in SKIP_REASONS}, shown


def latest_ratings(ratings):
    """One rating per (user, item): the latest by timestamp, the later line on a tie (a
    user who changed their mind). In: user, item, rating, timestamp, line. Out: user, item,
    rating, timestamp."""
    from pyspark.sql import functions as F

    latest = F.max_by(F.struct("rating", "timestamp"), F.struct("timestamp", "line"))
    return (ratings.groupBy("user", "item").agg(latest.alias("r"))
            .select("user", "item", "r.rating", "r.timestamp"))


def read_items(spark, folder: str, layout: Layout):
    """item (source id), title, genres (array<string>)."""
    from pyspark.sql import functions as F

    path = f"{folder}/{layout.items}"
    if layout.name == "amazon":
        film_title = F.udf(lambda title: amazon.film_title(title), "string")
        raw = (spark.read.schema("asin string, title string, category array<string>, "
                                 "_corrupt string")
               .option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", "_corrupt")
               .json(path).dropDuplicates(["asin"])
               .select(F.col("asin").alias("item"), film_title("title").alias("title"),
                       F.coalesce("category", F.array()).alias("genre_list"),
                       F.col("_corrupt").isNotNull().alias("_bad")))
        # The category's own name ("Movies & TV") is on every product: not a genre.
        genres = F.filter("genre_list", lambda g: g != "Movies & TV")
    elif layout.name == "100k":
        flags = [f"g{i}" for i in range(len(GENRES_100K))]
        raw = _delimited(spark, path, "|", ["item", "title", "released", "video", "url", *flags],
                         encoding="ISO-8859-1")
        genres = F.filter(F.array(*[F.when(F.col(f) == "1", F.lit(g))
                                    for f, g in zip(flags, GENRES_100K, strict=True)]),
                          lambda g: g.isNotNull())
    elif layout.name == "dat":
        raw = _delimited(spark, path, "::", ["item", "title", "genre_list"],
                         encoding="ISO-8859-1")
        genres = F.split("genre_list", r"\|")
    else:
        raw = (spark.read.option("header", True).option("quote", '"').option("escape", '"')
               .csv(path).toDF("item", "title", "genre_list").withColumn("_bad", F.lit(False)))
        genres = F.split("genre_list", r"\|")
    return raw.filter(~F.col("_bad") & F.col("item").isNotNull()).select(
        F.trim("item").alias("item"), F.trim("title").alias("title"),
        F.filter(genres, lambda g: g != "(no genres listed)").alias("genres"))


def read_users(spark, folder: str, layout: Layout):
    """user (source id) and the attributes the release has (None for the csv layout)."""
    from pyspark.sql import functions as F

    if layout.users is None:
        return None
    path = f"{folder}/{layout.users}"
    if layout.name == "100k":
        raw = _delimited(spark, path, "|", ["user", "age", "gender", "occupation", "zip"])
    else:  # 1M's users.dat: age is a band's lower bound, occupation a code (its README)
        raw = _delimited(spark, path, "::", ["user", "gender", "age", "occupation", "zip"])
    return raw.filter(~F.col("_bad")).select(
        F.trim("user").alias("user"), F.col("age").cast("int").alias("age"),
        F.trim("gender").alias("gender"), F.trim("occupation").alias("occupation"),
        F.trim("zip").alias("zip"))


# --- transform ----------------------------------------------------------------------------
def keep_ratings(ratings, r: dict):
    """The ratings within `ratings.min_year`..`max_year` (0: unbounded), then the k-core:
    users with fewer than `min_user_ratings` and items with fewer than `min_item_ratings`
    dropped together, again until none is left to drop. In/out: user, item, rating,
    timestamp. Returns (ratings, {"outside_years": n, "k_core": n}) (counts of rows
    dropped; the k-core is computed on the driver's side, one round a job)."""
    from pyspark.sql import functions as F

    dropped = {"outside_years": 0, "k_core": 0}
    year = F.year(F.from_unixtime("timestamp"))
    if r["min_year"] or r["max_year"]:
        before = ratings.count()
        keep = F.lit(True)
        if r["min_year"]:
            keep &= year >= r["min_year"]
        if r["max_year"]:
            keep &= year <= r["max_year"]
        ratings = ratings.filter(keep).persist()
        dropped["outside_years"] = before - ratings.count()
    if r["min_user_ratings"] > 1 or r["min_item_ratings"] > 1:
        count = ratings.count()
        start = count
        while True:
            users = ratings.groupBy("user").count().filter(F.col("count") >= r["min_user_ratings"])
            items = ratings.groupBy("item").count().filter(F.col("count") >= r["min_item_ratings"])
            kept = (ratings.join(F.broadcast(users.select("user")), "user")
                    .join(F.broadcast(items.select("item")), "item")
                    .select("user", "item", "rating", "timestamp")).localCheckpoint()
            now = kept.count()
            ratings = kept
            if now == count:
                break
            count = now
        dropped["k_core"] = start - count
    return ratings, dropped


def title_year(column: str):
    """The year of a MovieLens title column ("Heat (1995)" -> 1995), null where it has none."""
    from pyspark.sql import functions as F

    return F.udf(lambda title: item_year(title or ""), "int")(column)


def dense_ids(df, source_col: str, id_col: str):
    """source ids -> dense int32 ids 0..n-1, numerically ordered where ids are numbers.
    In: `source_col` (string). Out: `source_col`, `id_col`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # try_cast: Amazon's ids ("A1B2...") are not numbers; MovieLens' are.
    order = Window.orderBy(F.col(source_col).try_cast("long").asc_nulls_last(), source_col)
    return (df.select(source_col).distinct()
            .withColumn(id_col, (F.row_number().over(order) - 1).cast("int")))


def item_candidates(items, films, redirects, year_tolerance: int):
    """Every (item, film) whose names meet, with how and how far apart their years are.

    In: items (item_id, title), films (film_id, title, year), redirects (source, target).
    Out: item_id, film_id, via ("title", "alternative title", "redirect", ...), year_gap
    (0.. year_tolerance, or null when the film's year is unknown)."""
    from pyspark.sql import functions as F

    from spark_jobs.movielens import film_title_parts, item_keys, title_key

    @F.udf(ITEM_KEY_SCHEMA)
    def keys_of_item(title):
        return [{"key": k, "via": v} for k, v in item_keys(title or "")]

    @F.udf("struct<key: string, year: int>")
    def key_of_film(title):
        base, year = film_title_parts(title or "")
        return {"key": title_key(base), "year": year}

    item_rows = items.select("item_id", title_year("title").alias("item_year"),
                             F.explode(keys_of_item("title")).alias("k")).select(
        "item_id", "item_year", F.col("k.key").alias("key"), F.col("k.via").alias("via"))
    titled = films.select("film_id", "title", "year")
    by_title = titled.select("film_id", "year", key_of_film("title").alias("k"),
                             F.lit(False).alias("redirect"))
    by_redirect = (redirects.join(titled, redirects["target"] == titled["title"])
                   .select("film_id", "year", key_of_film("source").alias("k"),
                           F.lit(True).alias("redirect")))
    film_rows = by_title.unionByName(by_redirect).select(
        "film_id", F.coalesce("year", "k.year").alias("film_year"),
        F.col("k.key").alias("key"), "redirect").filter(F.col("key") != "")
    gap = F.abs(F.col("item_year") - F.col("film_year"))
    return (item_rows.join(film_rows, "key")
            .withColumn("year_gap", gap)
            .filter(F.col("item_year").isNull() | F.col("film_year").isNull()
                    | (gap <= year_tolerance))
            .withColumn("via", F.when(F.col("redirect"), F.concat("via", F.lit(" via redirect")))
                        .otherwise(F.col("via")))
            .select("item_id", "film_id", "via", "year_gap"))


def link_items(candidates):
    """One film per item where the candidates of the closest year are one film.

    In: item_candidates' columns. Out: item_id, film_id (null when ambiguous), linked_by
    ("title, same year", "alternative title via redirect, year ±1", ... or "ambiguous: N
    films"), candidates (int)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # Unknown years rank after a gap of one year: a film with a known, equal year wins.
    rank = F.coalesce(F.col("year_gap"), F.lit(2))
    best = Window.partitionBy("item_id")
    closest = (candidates.withColumn("rank", rank)
               .withColumn("best", F.min("rank").over(best))
               .filter(F.col("rank") == F.col("best")))
    per_item = closest.groupBy("item_id").agg(
        F.countDistinct("film_id").alias("candidates"), F.min("film_id").alias("film_id"),
        F.min("via").alias("via"), F.min("rank").alias("rank"))
    year = (F.when(F.col("rank") == 0, F.lit("same year"))
            .when(F.col("rank") == 1, F.lit("year ±1")).otherwise(F.lit("year unknown")))
    return per_item.select(
        "item_id",
        F.when(F.col("candidates") == 1, F.col("film_id")).alias("film_id"),
        F.when(F.col("candidates") == 1, F.concat_ws(", ", "via", year))
        .otherwise(F.concat(F.lit("ambiguous: "), F.col("candidates").cast("string"),
                            F.lit(" films"))).alias("linked_by"),
        "candidates")


# --- the job ------------------------------------------------------------------------------
def empty_reason(path: str, lines: int, skipped: dict, distinct: int, filtered: dict) -> str:
    """The one line that says why a ratings source left no rating to write."""
    why = [f"{lines} lines read"]
    why += [f"{n} {reason.replace('_', ' ')}" for reason, n in skipped.items() if n]
    if distinct:
        why.append(f"{distinct} distinct ratings, all dropped by "
                   + " and ".join(f"{k.replace('_', ' ')} ({n})"
                                  for k, n in filtered.items() if n))
    return (f"{path}: no ratings left to write ({'; '.join(why)}): give a release with "
            "ratings, or loosen ratings.min_year/max_year/min_user_ratings/min_item_ratings")


def run(spark, cfg: Config, ratings_path: str, tables_dir: str, out: str,
        overwrite: bool = False) -> dict:
    """The whole job (module docstring); returns the manifest."""
    check_placement(out, [ratings_path, tables_dir])
    tables_manifest = read_manifest_through(spark, tables_dir)
    publisher = OutputPublisher(spark, out, overwrite=overwrite, kind=RATINGS_KIND, what=WHAT)
    with tempfile.TemporaryDirectory(prefix="wikifilms-ratings-") as scratch, \
            publisher.claimed():
        return _run(spark, cfg, ratings_path, tables_dir, tables_manifest, publisher,
                    Path(scratch))


@dataclass
class Source:
    """The ratings of a source, read and cleaned (extract): bad lines counted, a repeated
    (user, item) kept once, the years and the k-core applied."""

    folder: str
    layout: Layout
    ratings: object  # DataFrame: user, item, rating, timestamp
    skipped: dict
    skipped_examples: dict
    replaced: int  # ratings of a (user, item) rated again later
    filtered: dict
    cached: list  # DataFrames to unpersist when the job is done


def read_source(spark, ratings_path: str, folder: str, r: dict) -> Source:
    """read_ratings -> skipped_lines -> latest_ratings -> keep_ratings; InputError (nothing
    written) when no rating is left."""
    from pyspark.sql import functions as F

    layout = find_layout(spark, folder)
    logger.info("%s: layout %s", folder, layout.name)
    raw = read_ratings(spark, folder, layout).persist()
    skipped, examples = skipped_lines(raw, r["examples"])
    rated = raw.filter(F.col("skip").isNull())
    deduplicated = latest_ratings(rated).persist()
    parsed, distinct = rated.count(), deduplicated.count()
    good, filtered = keep_ratings(deduplicated, r)
    kept = good.count() if any(filtered.values()) else distinct
    if kept == 0:
        raise InputError(empty_reason(ratings_path, parsed + sum(skipped.values()), skipped,
                                      distinct, filtered))
    return Source(folder, layout, good, skipped, examples, parsed - distinct, filtered,
                  [raw, deduplicated])


def linked_tables(spark, source: Source, tables_dir: str, tables_manifest: dict, r: dict):
    """(ratings, items, users) DataFrames to write (transform): dense ids, each catalogue
    item linked to a film of the tables or told why not."""
    from pyspark.sql import functions as F

    good, folder, layout = source.ratings, source.folder, source.layout
    catalogue = read_items(spark, folder, layout)
    if layout.name == "amazon":  # the products of the kept reviews, not the whole shop
        catalogue = catalogue.join(good.select("item").distinct(), "item", "left_semi")
    user_ids = dense_ids(good.select("user"), "user", "user_id").persist()
    item_ids = dense_ids(good.select("item").unionByName(catalogue.select("item")), "item",
                         "item_id").persist()
    films = spark.read.parquet(f"{tables_dir}/{tables_manifest['tables']['films']['path']}")
    redirects = spark.read.parquet(
        f"{tables_dir}/{tables_manifest['tables']['redirects']['path']}").select(
        "source", "target") if "redirects" in tables_manifest["tables"] else \
        spark.createDataFrame([], "source string, target string")
    items = item_ids.join(catalogue, "item", "left").persist()
    links = link_items(item_candidates(items, films, redirects, r["year_tolerance"])).persist()
    source.cached += [user_ids, item_ids, items, links]
    items_out = (items.join(links, "item_id", "left")
                 .select("item_id", F.col("item").alias("source_id"), "title",
                         title_year("title").alias("year"),
                         "genres", F.col("film_id").cast("int").alias("film_id"),
                         F.coalesce("linked_by", F.when(F.col("title").isNull(),
                                                        F.lit("not in the catalogue"))
                                    .otherwise(F.lit("no film of that title and year")))
                         .alias("linked_by"))
                 .repartition(1).sortWithinPartitions("item_id"))
    ratings_out = (good.join(F.broadcast(user_ids), "user").join(F.broadcast(item_ids), "item")
                   .select("user_id", "item_id", F.col("rating").cast("float").alias("rating"),
                           "timestamp")
                   .repartition(max(1, spark.sparkContext.defaultParallelism))
                   .sortWithinPartitions("user_id", "item_id"))
    users = read_users(spark, folder, layout)
    users_out = user_ids.join(users, "user", "left") if users is not None else user_ids
    users_out = (users_out.withColumnRenamed("user", "source_id")
                 .select("user_id", "source_id", *[c for c in users_out.columns
                                                   if c not in ("user", "user_id")])
                 .repartition(1).sortWithinPartitions("user_id"))
    return ratings_out, items_out, users_out


def write_tables(spark, publisher: OutputPublisher, tables: dict) -> dict:
    """Each table into the staging folder (load); {name: path, rows, columns}."""
    counts = {}
    for name, df in tables.items():
        df.write.mode("overwrite").parquet(publisher.table_path(name))
        counts[name] = {"path": name, "rows": spark.read.parquet(publisher.table_path(name))
                        .count(), "columns": df.columns}
    return counts


def _run(spark, cfg: Config, ratings_path: str, tables_dir: str, tables_manifest: dict,
         publisher: OutputPublisher, scratch: Path) -> dict:
    from spark_jobs.progress import StageProgress
    from spark_jobs.session import apply_job_settings

    apply_job_settings(spark, cfg)
    started = time.monotonic()
    r = cfg["ratings"]
    progress = StageProgress(spark.sparkContext, cfg["spark"]["progress_interval_s"], "ratings")
    with progress:
        source = read_source(spark, ratings_path, unpacked(ratings_path, scratch), r)
        ratings_out, items_out, users_out = linked_tables(spark, source, tables_dir,
                                                          tables_manifest, r)
        counts = write_tables(spark, publisher, {"ratings": ratings_out, "items": items_out,
                                                 "users": users_out})
        linking = _linking_report(spark, publisher, r["examples"])
    manifest = build_manifest(
        RATINGS_KIND, RATINGS_SCHEMA_VERSION, cfg, sections=["ratings"],
        manifest_id=publisher.run_id,
        input={"path": ratings_path, "layout": source.layout.name},
        films_tables={"folder": tables_dir, "id": tables_manifest["id"]},
        tables=counts,
        scale=list(source.layout.scale),
        lines_skipped=source.skipped,
        skipped_examples=source.skipped_examples,
        duplicates={"ratings_replaced": source.replaced,
                    "rule": "a repeated (user, item) keeps its latest rating by timestamp "
                            "(the later line on a tie)"},
        ratings_filtered=source.filtered,
        linking=linking,
        seconds=round(time.monotonic() - started, 3),
    )
    publisher.commit(manifest)
    for df in source.cached:
        df.unpersist()
    logger.info("done: %d ratings, %d users, %d items; %.1f %% of items and %.1f %% of "
                "ratings linked to films", counts["ratings"]["rows"], counts["users"]["rows"],
                counts["items"]["rows"], 100 * linking["share_of_items"],
                100 * linking["share_of_ratings"])
    return manifest


def _linking_report(spark, publisher: OutputPublisher, examples: int) -> dict:
    """Shares of items and ratings linked, by how, with examples of what was not."""
    from pyspark.sql import functions as F

    items = spark.read.parquet(publisher.table_path("items"))
    ratings = spark.read.parquet(publisher.table_path("ratings"))
    per_item = ratings.groupBy("item_id").count()
    rows = items.join(per_item, "item_id", "left").fillna(0, ["count"])
    totals = rows.agg(F.count("*").alias("items"), F.sum("count").alias("ratings"),
                      F.count("film_id").alias("items_linked"),
                      F.sum(F.when(F.col("film_id").isNotNull(), F.col("count")).otherwise(0))
                      .alias("ratings_linked")).first()
    how = {r["linked_by"]: r["n"] for r in rows.filter(F.col("film_id").isNotNull())
           .groupBy(F.regexp_replace("linked_by", ", (same year|year ±1|year unknown)$", "")
                    .alias("linked_by")).agg(F.count("*").alias("n")).collect()}

    def sample(condition) -> list[dict]:
        return [r.asDict() for r in rows.filter(condition).orderBy(F.desc("count"), "item_id")
                .select("source_id", "title", "linked_by", F.col("count").alias("ratings"))
                .limit(examples).collect()]

    return {
        "items": totals["items"], "items_linked": totals["items_linked"],
        "share_of_items": totals["items_linked"] / max(totals["items"], 1),
        "ratings": totals["ratings"], "ratings_linked": totals["ratings_linked"],
        "share_of_ratings": totals["ratings_linked"] / max(totals["ratings"], 1),
        "linked_by": dict(sorted(how.items())),
        "ambiguous": rows.filter(F.col("linked_by").startswith("ambiguous")).count(),
        "ambiguous_examples": sample(F.col("linked_by").startswith("ambiguous")),
        "unlinked_examples": sample(F.col("film_id").isNull()
                                    & ~F.col("linked_by").startswith("ambiguous")),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python -m spark_jobs.ratings",
        "Read a MovieLens release (folder or zip) and write its ratings, items and users as "
        "Parquet tables, each item linked to a film of a tables folder where its title and "
        "year say so unambiguously. Local mode by default; spark-submit runs this file on a "
        "cluster.",
        "python -m spark_jobs.ratings --ratings ml-100k.zip --tables data/tables "
        "--out data/ratings")
    parser.add_argument("--ratings", required=True, metavar="PATH",
                        help="MovieLens folder (local or Hadoop URI) or local .zip")
    parser.add_argument("--tables", required=True, metavar="TABLES_DIR",
                        help="tables folder written by spark_jobs.parse_dump")
    parser.add_argument("--out", required=True, metavar="RATINGS_DIR",
                        help="output folder: new, empty, or ratings to replace with --overwrite")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the ratings folder already at --out")
    cli.add_config_arguments(parser)
    cli.add_logging_arguments(parser, spark=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    from spark_jobs.session import remove_default_log, spark_log_note, spark_log_path, spark_session

    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    spark_log = None
    try:
        cfg = cli.load(args)
        out, tables = (p if not is_local(p) else str(Path(p).resolve())
                       for p in (args.out, args.tables))
        if is_local(tables):
            read_manifest(tables)  # before Spark starts: a typo fails in a second
        if is_local(out):
            check_output_folder(out, RATINGS_KIND, WHAT, inputs=[args.ratings, tables],
                                overwrite=args.overwrite)
        spark = spark_session(cfg)
        spark_log = spark_log_path(cfg)  # named in an error from here on
        run(spark, cfg, args.ratings, tables, out, overwrite=args.overwrite)
    except cli.KNOWN_ERRORS as e:
        return cli.fail("ratings", e, spark_log_note(spark_log))
    remove_default_log(cfg, spark_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
