"""Downloads: a Wikipedia dump run (dumps.py) or a MovieLens release, resumable and verified.
Standard library HTTP; no Spark, no Java: a download host needs neither."""
