"""What every benchmark writes: bench/results/NAME.json with the machine and versions."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def write_result(name: str, result: dict, **versions: str) -> Path:
    """Write `result` plus machine, Python and library `versions` and a timestamp."""
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(),
               "python": sys.version.split()[0], **versions}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine, **result,
                                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=2))
    return path
