#!/usr/bin/env bash
# Checks the two prerequisites before anything is installed: Python 3.11+ and Java 17+.
set -u
python=${1:-python3}
fail=0
if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python not found. Install Python 3.11 or newer (or run: make PYTHON=/path/to/python3.11 ...)." >&2
  fail=1
elif ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "error: $("$python" --version 2>&1) is too old: wikifilms needs Python 3.11 or newer (make PYTHON=python3.11 ...)." >&2
  fail=1
elif ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "error: $python lacks venv/ensurepip (on Debian/Ubuntu: apt-get install python3-venv)." >&2
  fail=1
fi
if ! command -v java >/dev/null 2>&1; then
  echo "error: java not found. Spark needs Java 17 (on Debian/Ubuntu: apt-get install openjdk-17-jre-headless; or set JAVA_HOME and PATH)." >&2
  fail=1
else
  major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  if [ -z "$major" ] || [ "$major" -lt 17 ]; then
    echo "error: Java ${major:-?} found; Spark 4 needs Java 17 or newer." >&2
    fail=1
  fi
fi
exit $fail
