"""bench/README.md's summary tables are what `python -m bench.report` renders from the
committed bench/results/*.json: written by the command, never edited by hand."""

from bench.report import PROJECT_README, README, render, render_readme, written


def test_the_readme_summary_is_the_rendered_results():
    assert written(README.read_text()) == render(), (
        "bench/README.md's summary differs from bench/results: run python -m bench.report --write")
    assert written(PROJECT_README.read_text()) == render_readme(), (
        "README.md's tables differ from bench/results: run python -m bench.report --write")
