"""JSON text that every reader accepts: no NaN or Infinity anywhere.

Python's json module writes float("nan") as the bare word NaN, which is not JSON (RFC 8259):
browsers' JSON.parse, jq and most other languages refuse the whole document. Every JSON the
project writes (manifests, metrics, `--json` lines, the web API) goes through `dumps`, which
writes a number that is not finite as null: "no value", not a wrong one. Standard library
only; numpy scalars and arrays are turned into plain numbers and lists on the way.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(data: Any) -> Any:
    """`data` with every float that is not finite replaced by None, recursively (dicts,
    lists, tuples; numpy scalars and arrays through their `tolist`)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(v) for v in data]
    if hasattr(data, "tolist") and not isinstance(data, (str, bytes)):
        return finite(data.tolist())  # numpy scalar or array
    return data


def dumps(data: Any, **kwargs: Any) -> str:
    """json.dumps of finite(data): never NaN or Infinity (ValueError if one got through)."""
    return json.dumps(finite(data), allow_nan=False, **kwargs)
