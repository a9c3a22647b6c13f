"""Transform: pure DataFrame -> DataFrame steps from parsed pages to the output tables.

Each function states its input and output columns; none reads or writes files, so a test can
call it with a hand-made DataFrame. Ids are assigned in a fixed order (films by page_id,
links by film_count then title) so that a re-run gives the same tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.broadcast import Broadcast
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_jobs import pairs
from spark_jobs.pairs import LinkFilms
from spark_jobs.wikitext import FILM, LIST_FIELDS


def resolve_redirects(edges: DataFrame, max_hops: int) -> DataFrame:
    """edges(source, target) -> (source, target, hops, status).

    Chains are followed by pointer jumping (each round doubles the distance looked ahead), so
    a chain of h hops needs log2(h) joins. status: `resolved` (target is the final page, at
    most max_hops away), `too_long` (more hops than allowed), `loop` (the chain never ends: a
    loop, or longer than the rounds could follow). Only `resolved` rows are to be used.

    Each row carries `done` (its target is not itself a redirect, or the chain is known to
    loop), so a round is one join and one materialisation, and the loop stops as soon as no
    unfinished chain is still within max_hops. A chain that comes back to its source is a
    loop at once (self-redirects at the start, two-page loops after one round), and so is a
    chain that reaches a loop: loops, the usual broken redirects, need not run until their
    hop count passes max_hops (2 rounds instead of 5 on the sample dumps). A round is a few
    Spark jobs, so on small dumps the number of rounds, not the data, sets this step's time.
    The result is built on a local checkpoint, so it does not read `edges` again (the caller
    may unpersist what they came from).
    """
    rounds = max(1, math.ceil(math.log2(max_hops))) + 1
    is_source = edges.select(F.col("source").alias("final"), F.lit(False).alias("_done"))
    current = (
        edges.select("source", F.col("target").alias("final"), F.lit(1).alias("hops"))
        .join(is_source, "final", "left")
        .select("source", "final", "hops", (F.col("final") == F.col("source")).alias("loop"),
                F.coalesce("_done", F.lit(True)).alias("_end"))
        .select("source", "final", "hops", "loop", (F.col("_end") | F.col("loop")).alias("done"))
    )
    for _ in range(rounds):
        # Materialised each round: the next round reads it twice, and the plan stays short.
        current = current.localCheckpoint()
        if current.filter(~F.col("done") & (F.col("hops") <= max_hops)).isEmpty():
            break
        ahead = current.select(
            F.col("source").alias("final"), F.col("final").alias("_next"),
            F.col("hops").alias("_more"), F.col("done").alias("_next_done"),
            F.col("loop").alias("_next_loop"),
        )
        # An unfinished row's target is a source, so it finds its row ahead and jumps past
        # it; a finished row stays as it is.
        jump = ~F.col("done")
        current = current.join(ahead, "final", "left").select(
            "source",
            F.when(jump, F.col("_next")).otherwise(F.col("final")).alias("final"),
            F.when(jump, F.col("hops") + F.col("_more")).otherwise(F.col("hops")).alias("hops"),
            (F.col("loop") | (jump & (F.col("_next_loop") | (F.col("_next") == F.col("source")))))
            .alias("loop"),
            F.when(jump, F.col("_next_done")).otherwise(F.col("done")).alias("_done"),
        ).select("source", "final", "hops", "loop", (F.col("_done") | F.col("loop")).alias("done"))
    status = (
        F.when(F.col("loop") | ~F.col("done"), F.lit("loop"))
        .when(F.col("hops") > max_hops, F.lit("too_long"))
        .otherwise(F.lit("resolved"))
    )
    return current.select("source", F.col("final").alias("target"), "hops", status.alias("status"))


def film_rows(parsed: DataFrame) -> DataFrame:
    """parsed film pages (FILM_PAGE_SCHEMA) -> films without ids: status film, one per page_id."""
    return parsed.filter(F.col("status") == FILM).dropDuplicates(["page_id"])


def assign_film_ids(films: DataFrame) -> DataFrame:
    """films(page_id, title, ...) -> the same with film_id 0..n-1 in page_id order."""
    order = Window.orderBy("page_id")
    return films.withColumn("film_id", (F.row_number().over(order) - 1).cast("int"))


def resolve_infobox_names(films: DataFrame, redirects: DataFrame) -> DataFrame:
    """films with LIST_FIELDS -> the same, each name replaced by its redirect's final page.

    `director = [[G. Lucas]]` becomes "George Lucas" when "G. Lucas" redirects there, so the
    names match the links table. One join for all fields: explode, resolve, regroup in order.
    """
    # The per-field expressions are SQL text: built from Column functions and Python lambdas
    # they took thousands of calls into the JVM, a noticeable share of a short job.
    fields = F.expr("array(" + ", ".join(
        f"named_struct('field', '{name}', 'names', `{name}`)" for name in LIST_FIELDS
    ) + ")")
    exploded = (
        films.select("film_id", F.explode(fields).alias("f"))
        .select("film_id", "f.field", F.posexplode("f.names").alias("pos", "name"))
    )
    finals = redirects.filter(F.col("status") == "resolved").select(
        F.col("source").alias("name"), F.col("target").alias("final")
    )
    resolved = (
        exploded.join(finals, "name", "left")
        .select("film_id", "field", "pos", F.coalesce("final", "name").alias("name"))
        .groupBy("film_id")
        .agg(F.map_from_entries(F.collect_list(F.struct(
            F.concat_ws("\u0000", "field", F.format_string("%05d", "pos")), "name"
        ))).alias("_names"))
    )
    # A field's names: the map's keys `field NUL position` of that field, in order.
    regrouped = {
        name: F.expr(
            f"CASE WHEN _names IS NULL THEN `{name}` ELSE array_distinct(transform(array_sort("
            f"filter(map_keys(_names), k -> startswith(k, '{name}' || chr(0)))), "
            f"k -> _names[k])) END"
        )
        for name in LIST_FIELDS
    }
    # One withColumns, not a withColumn per field: each call analyses the whole plan again.
    return films.join(resolved, "film_id", "left").withColumns(regrouped).drop("_names")


def link_occurrences(films: DataFrame, redirects: DataFrame, drop_self_links: bool) -> DataFrame:
    """films(film_id, title, links) + resolved redirects -> (film_id, target, count, via).

    Each raw link target is replaced by its redirect's final target; occurrences of the same
    final target in one film are summed. `via` is `direct`, `redirect` or `broken` (a link to
    a redirect that loops or is too long: dropped by the caller, counted in the manifest).
    """
    raw = films.select("film_id", "title", F.explode("links").alias("link")).select(
        "film_id", "title", F.col("link.target").alias("raw"), F.col("link.count").alias("count")
    )
    finals = redirects.select(
        F.col("source").alias("raw"), F.col("target").alias("final"), F.col("status")
    )
    joined = raw.join(finals, "raw", "left")
    via = (
        F.when(F.col("status").isNull(), F.lit("direct"))
        .when(F.col("status") == "resolved", F.lit("redirect"))
        .otherwise(F.lit("broken"))
    )
    target = F.when(F.col("status").isNull(), F.col("raw")).otherwise(F.col("final"))
    occurrences = joined.select("film_id", "title", target.alias("target"), "count",
                                via.alias("via"))
    if drop_self_links:
        occurrences = occurrences.filter(F.col("target") != F.col("title"))
    return occurrences.groupBy("film_id", "target", "via").agg(
        F.sum("count").cast("int").alias("count")
    )


def build_links(
    film_targets: DataFrame, films: DataFrame, min_film_count: int, stop_list: list[str]
) -> DataFrame:
    """film_targets(film_id, target) + films(film_id, title) ->
    links(link_id, title, film_count, film_id): targets on >= min_film_count films, not stopped.
    """
    counts = film_targets.groupBy("target").agg(F.countDistinct("film_id").alias("film_count"))
    kept = counts.filter(F.col("film_count") >= min_film_count)
    if stop_list:
        kept = kept.filter(~F.col("target").isin(*stop_list))
    order = Window.orderBy(F.col("film_count").desc(), F.col("target"))
    film_titles = films.select(F.col("title").alias("target"), "film_id")
    return (
        kept.withColumn("link_id", (F.row_number().over(order) - 1).cast("int"))
        .join(film_titles, "target", "left")
        .select(
            "link_id",
            F.col("target").alias("title"),
            F.col("film_count").cast("int").alias("film_count"),
            "film_id",
        )
    )


def build_film_links(occurrences: DataFrame, links: DataFrame) -> DataFrame:
    """occurrences(film_id, target, count) + links -> film_links(film_id, link_id, count)."""
    per_film = occurrences.groupBy("film_id", "target").agg(
        F.sum("count").cast("int").alias("count"))
    return per_film.join(
        links.select(F.col("title").alias("target"), "link_id"), "target"
    ).select("film_id", "link_id", "count")


def build_films(film_pages: DataFrame, film_links: DataFrame, film_targets: DataFrame) -> DataFrame:
    """film pages with film_id -> films(film_id, page_id, title, infobox fields, n_links,
    n_links_all): n_links counts kept links, n_links_all all distinct link targets."""
    kept = film_links.groupBy("film_id").agg(F.count("*").cast("int").alias("n_links"))
    every = film_targets.groupBy("film_id").agg(
        F.countDistinct("target").cast("int").alias("n_links_all"))
    return (
        film_pages.join(kept, "film_id", "left")
        .join(every, "film_id", "left")
        .select(
            "film_id", "page_id", "title", "image", *LIST_FIELDS, "year", "runtime_min",
            F.coalesce("n_links", F.lit(0)).alias("n_links"),
            F.coalesce("n_links_all", F.lit(0)).alias("n_links_all"),
        )
    )


@dataclass(frozen=True)
class PairCap:
    """What build_film_pairs will be given: the links used and the pair rows they make."""

    link_films_cap: int  # links on at most this many films make pairs
    links_used: int
    pair_rows: int  # before aggregation: sum of d*(d-1)/2 over the links used
    lowered: bool  # the budget, not max_link_films, set the cap


def pair_cap(films_per_link: Mapping[int, int], max_link_films: int, max_pair_rows: int) -> PairCap:
    """The document-frequency cap for film_pairs, from the links' film counts (film_count ->
    number of links): max_link_films, or lower where the links under it would make more than
    max_pair_rows pair rows (0: no budget). Lowering drops the most-linked links first, those
    that say least about a pair (lowest idf) and cost most."""
    cap = links_used = rows = 0
    for d in sorted(films_per_link):
        if d > max_link_films:
            break
        more = films_per_link[d] * d * (d - 1) // 2
        if max_pair_rows and rows + more > max_pair_rows:
            return PairCap(max(cap, 1), links_used, rows, lowered=True)
        cap, links_used, rows = d, links_used + films_per_link[d], rows + more
    return PairCap(max_link_films, links_used, rows, lowered=False)


def pair_members(film_links: DataFrame, links: DataFrame, max_link_films: int) -> DataFrame:
    """film_links + links -> (link_id, film_id, film_count): the films of every link on at
    most max_link_films films, the links that make pairs (a link on d films makes d(d-1)/2)."""
    used = links.filter(F.col("film_count") <= max_link_films).select("link_id", "film_count")
    return film_links.select("link_id", "film_id").join(used, "link_id")


def build_film_pairs(film_links: DataFrame, link_films: Broadcast[LinkFilms],
                     min_shared: int) -> DataFrame:
    """film_links + the used links' films (pairs.LinkFilms of pair_members' rows, broadcast by
    the caller, who destroys it once the pairs are written) ->
    film_pairs(film_a, film_b, shared, weight), film_a < film_b, shared >= min_shared.

    weight sums the shared links' idf, ln(n_films / film_count): sharing a rare link says more
    than sharing a common one. Each film's pairs are made where the film is: its (film, link)
    rows are spread by film over spark.sql.shuffle.partitions tasks, every task holds the used
    links' sorted films (broadcast: 8 bytes per film_links row of a used link; ~15 M rows on
    the full dump, estimated), and pairs.film_pairs makes and sums the pair rows as numpy
    arrays. Each task's rows come out ordered by (film_a, film_b).
    """
    partitions = int(film_links.sparkSession.conf.get("spark.sql.shuffle.partitions"))

    def film_pairs_of_films(batches):
        return pairs.pair_batches(batches, link_films.value, min_shared)

    return (
        film_links.select("film_id", "link_id")
        .repartition(partitions, "film_id")
        .mapInArrow(film_pairs_of_films, pairs.PAIR_DDL)
    )
