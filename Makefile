# wikifilms: `make demo` and `make test` work on a fresh machine with Python 3.11+ and Java 17.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO   := data/demo

.PHONY: setup demo test test-fast bench bench-ingest bench-parse bench-train bench-index \
	bench-quality bench-ranking bench-serve bench-scale bench-peers peers zip lint clean \
	download full

# Idempotent: re-installs only when pyproject.toml changed since the last install.
setup: $(STAMP)

$(STAMP): pyproject.toml
	@bash scripts/check_prereqs.sh $(PYTHON)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[all,dev]'
	@touch $(STAMP)

demo: setup
	$(PY) -m sample_dump --out $(DEMO)/dump --films 2000 --format multistream
	$(PY) -m spark_jobs.parse_dump --dump $(DEMO)/dump/enwiki-20261101-pages-articles-multistream.xml.bz2 \
		--out $(DEMO)/tables --overwrite
	$(PY) -m spark_jobs.show_tables --tables $(DEMO)/tables
	$(PY) -m trainer train --tables $(DEMO)/tables --out $(DEMO)/run --overwrite \
		--pairs $(DEMO)/dump/enwiki-20261101-truth.json
	$(PY) -m index build --run $(DEMO)/run --out $(DEMO)/index --overwrite
	$(PY) scripts/demo_queries.py --index $(DEMO)/index --truth $(DEMO)/dump/enwiki-20261101-truth.json
	@echo
	@echo "The web page over this index (search, neighbours and why, the map, \"I liked these\"):"
	@echo "  $(PY) -m index serve --index $(DEMO)/index    # then open http://127.0.0.1:8000/"

# The real dump (README "Running on the full English Wikipedia"):
#   make download DUMP_DIR=/data/enwiki [DATE=latest]
#   make full DUMP_DIR=/data/enwiki [WORK=data/full] [TRAIN_CONFIG=gpu]
DATE         ?= latest
WORK         ?= data/full
TRAIN_CONFIG ?= local
DUMP_GLOB    ?= *-pages-articles-multistream.xml.bz2

download: setup
	@test -n "$(DUMP_DIR)" || { echo "make download needs DUMP_DIR=folder for the dump files"; exit 2; }
	$(PY) -m download --wiki enwiki --date $(DATE) --out $(DUMP_DIR)

full: setup
	@test -n "$(DUMP_DIR)" || { echo "make full needs DUMP_DIR=folder holding the dump (make download DUMP_DIR=...)"; exit 2; }
	$(PY) -m spark_jobs.parse_dump --dump '$(DUMP_DIR)/$(DUMP_GLOB)' --out $(WORK)/tables --config local --overwrite
	$(PY) -m trainer train --tables $(WORK)/tables --out $(WORK)/run --config $(TRAIN_CONFIG) --overwrite
	$(PY) -m index build --run $(WORK)/run --out $(WORK)/index --overwrite
	@echo "done: python -m index query --index $(WORK)/index \"Star Wars (film)\""

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

bench: bench-ingest bench-parse bench-train bench-index bench-quality bench-ranking bench-serve
	$(PY) -m bench.report --write

bench-ingest: setup
	$(PY) -m bench.ingest

bench-parse: setup
	$(PY) -m bench.parse

bench-train: setup
	$(PY) -m bench.train

bench-index: setup
	$(PY) -m bench.index

# Film similarity on real films and ratings (../shared/data), against the baselines.
bench-quality: setup
	$(PY) -m bench.quality

# Ranking on MovieLens-100K linked to the films-cast films (docs/recommend.md).
bench-ranking: setup
	$(PY) -m bench.ranking --variants

# The web page and its API on the full-size synthetic index (150k films; chromium for the page).
bench-serve: setup
	$(PY) -m bench.serve

# Every stage at the English Wikipedia's and MovieLens-25M's size (generated under data/scale,
# ~2 GB; the whole run takes hours on 2 cores: bench/README.md, "Real size").
bench-scale: setup
	@test -f data/scale/made.json || $(PY) -m bench.scale --make
	$(PY) -m bench.scale

# LightFM, implicit (ALS, BPR) and EASE on our split of MovieLens-100K (bench-ranking's run)
# and of the 25M shape (bench-scale's), scored by our AUC code.
bench-peers: setup peers
	$(PY) -m bench.ranking --work data/bench/ranking
	$(PY) -m bench.peers --ranking data/bench/ranking/ranking --films-run data/bench/ranking/run \
		--name movielens-100k
	@if test -f data/scale/ranking/manifest.json; then $(PY) -m bench.peers --ranking \
		data/scale/ranking --films-run data/scale/run --name movielens-25m-shape \
		--epochs 20 --iterations 20 --bpr-iterations 100 --small-grid; fi

# The peers are not dependencies of any stage: LightFM 1.17 builds only without build
# isolation, with setuptools < 68 and Cython (docs/stack.md).
peers: setup
	$(PY) -m pip install --disable-pip-version-check -q "setuptools<68" wheel cython
	$(PY) -m pip install --disable-pip-version-check -q --no-build-isolation lightfm==1.17
	$(PY) -m pip install --disable-pip-version-check -q implicit==0.7.3

# The zip for `spark-submit --py-files`: the project's packages (conf files included).
zip: dist/wikifilms-jobs.zip

dist/wikifilms-jobs.zip: $(shell find spark_jobs conf wikititles -name '*.py' -o -name '*.toml' -o -name '*.conf' -o -name '*.properties')
	$(PYTHON) scripts/build_zip.py $@

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf dist $(DEMO) .pytest_cache
