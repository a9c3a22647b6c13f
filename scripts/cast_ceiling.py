"""How well can anything predict a held-out cast link on a generated sample? (issue 3 diagnostic)

    python scripts/cast_ceiling.py --run RUN_DIR [--tables TABLES_DIR] --truth TRUTH_JSON

The generator draws a film's cast from the actors whose planted career (a country and a span
of years, spark_jobs/sample_world.py) covers the film's country and year, so a held-out actor
link is predictable only through country and era. On the run's own held-out split and sampled
negatives (trainer/evaluate.py), this prints the AUC on held-out actor links of:
  model    the run's exported vectors;
  rule     country + years of the link's *training* films (the film's country among theirs,
           its year within their years +- 5): what the tables alone say about the actor;
  careers  the planted careers themselves (rebuilt from the truth's seed): an upper bound no
           model reaches from the tables; negatives that are not people score lowest.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from conf import load_config
    from spark_jobs.sample_world import World
    from trainer.evaluate import auc_per_positive, held_out_for
    from trainer.tables import load_tables
    from trainer.train import prepare_data

    parser = argparse.ArgumentParser(prog="python scripts/cast_ceiling.py")
    parser.add_argument("--run", required=True)
    parser.add_argument("--tables", help="default: the tables the run's manifest cites")
    parser.add_argument("--truth", required=True)
    args = parser.parse_args(argv)
    run = Path(args.run)
    manifest = json.loads((run / "manifest.json").read_text())
    cfg = load_config(None, [f"{section}.{k}={json.dumps(v)}"
                             for section in ("train", "eval")
                             for k, v in manifest["config"][section].items()])
    tables = load_tables(args.tables or manifest["tables"]["folder"])
    data = prepare_data(tables, cfg)
    held = held_out_for(data.train, data.heldout, tables.n_links, cfg)
    summary = json.loads(Path(args.truth).read_text())["summary"]
    world = World(summary["films"], summary["seed"])
    actors = set(world.actors)
    planted = {f.title: f for f in world.films}

    countries = [set(c or []) for c in tables.film_attributes["country"]]
    years = tables.film_attributes["year"]
    films_of: dict[int, list[int]] = defaultdict(list)
    for film, link in data.train:
        films_of[int(link)].append(int(film))

    def rule(film: int, link: int) -> float:
        others = films_of[link]
        seen = set().union(*(countries[g] for g in others))
        spans = [years[g] for g in others if years[g]]
        score = float(bool(countries[film] & seen))
        if spans and years[film]:
            score += float(min(spans) - 5 <= years[film] <= max(spans) + 5)
        return score

    def careers(film: int, link: int) -> float:
        person, f = tables.link_titles[link], planted.get(tables.film_titles[film])
        if person not in world.careers or f is None:
            return -1.0
        country, start, end = world.careers[person]
        return float(country == f.country) + float(start <= f.year <= end)

    def auc(score, rows) -> float:
        shares = []
        for i in rows:
            film, link = map(int, held.positives[i])
            positive = score(film, link)
            negatives = np.array([score(film, int(n)) for n in held.negatives[i]])
            shares.append(np.mean((negatives < positive) + 0.5 * (negatives == positive)))
        return float(np.mean(shares))

    rows = [i for i, (_, link) in enumerate(held.positives) if tables.link_titles[link] in actors]
    films = np.load(run / "embeddings" / "films.npy")
    links = np.load(run / "embeddings" / "links.npy")
    model = auc_per_positive(films, links, held)
    print(f"held-out links: {len(held.positives)}, of them actors: {len(rows)} "
          f"({len(rows) / len(held.positives):.1%})")
    print(f"AUC on held-out actor links: model {model[rows].mean():.4f}, "
          f"rule {auc(rule, rows):.4f}, careers {auc(careers, rows):.4f}")
    print(f"overall AUC of the run: {model.mean():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
