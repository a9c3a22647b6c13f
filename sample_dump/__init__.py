"""A synthetic film world written as a realistic MediaWiki dump, with its planted truth.

`python -m sample_dump` (dump.py) writes it; world.py draws the films, people and franchises,
pages.py plans every page and markup.py dresses the text as editors write it. Used by the demo,
the tests and the benchmarks; the pipeline never imports it.
"""
