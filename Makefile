# wikifilms: `make demo` and `make test` work on a fresh machine with Python 3.11+ and Java 17.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO   := data/demo

.PHONY: setup demo test test-fast bench bench-ingest bench-parse bench-train bench-index \
	bench-quality bench-ranking bench-serve zip lint clean \
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

# The zip for `spark-submit --py-files`: the project's packages (conf files included).
zip: dist/wikifilms-jobs.zip

dist/wikifilms-jobs.zip: $(shell find spark_jobs conf wikititles -name '*.py' -o -name '*.toml' -o -name '*.conf' -o -name '*.properties')
	$(PYTHON) scripts/build_zip.py $@

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf dist $(DEMO) .pytest_cache
