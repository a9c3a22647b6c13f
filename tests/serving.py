"""`index serve`'s server on a free local port in a thread, for tests that speak HTTP to it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def serving(index: Path, **kwargs) -> Iterator[str]:
    """The server over `index` (make_server's `kwargs`) while the block runs; its address."""
    from index.serve import make_server

    server, sock, url = make_server(index, "127.0.0.1", 0, **kwargs)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
