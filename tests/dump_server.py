"""A loopback HTTP server that serves a dump run like dumps.wikimedia.org, and misbehaves on
request: cuts a body short, flips a byte, stalls, answers 5xx, or has no such file."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class DumpServer:
    """Serves `files` (URL path -> bytes) with range requests on 127.0.0.1.

    Misbehaviour, per path, each for a number of requests (`times`):
      cut[path]     = [after_bytes, times]   promise the whole body, close after `after_bytes`
      corrupt[path] = times                  flip one byte in the middle of the body
      stall[path]   = [after_bytes, seconds, times]  go silent after `after_bytes`
      errors[path]  = [code, ...]            answer these statuses first
    `requests` records (path, range start) of every GET, `user_agents` their User-Agents.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, list[int]] = {}
        self.corrupt: dict[str, int] = defaultdict(int)
        self.stall: dict[str, list[float]] = {}
        self.errors: dict[str, list[int]] = defaultdict(list)
        self.requests: list[tuple[str, int]] = []
        self.user_agents: set[str] = set()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> DumpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_run(self, wiki: str, date: str, jobs: dict[str, list[Path]],
                status: str = "done") -> dict:
        """Serve these files and a dumpstatus.json listing them under `jobs`; update the
        wiki's directory listing. Returns the status dict."""
        status_json = {"jobs": {}, "version": "0.8"}
        for job, paths in jobs.items():
            entries = {}
            for path in paths:
                data = path.read_bytes()
                url = f"/{wiki}/{date}/{path.name}"
                self.files[url] = data
                entries[path.name] = {"size": len(data), "url": url,
                                      "sha1": hashlib.sha1(data).hexdigest(),
                                      "md5": hashlib.md5(data).hexdigest()}
            status_json["jobs"][job] = {"status": status, "updated": "2026-11-02 10:00:00",
                                        "files": entries}
        self.files[f"/{wiki}/{date}/dumpstatus.json"] = json.dumps(status_json).encode()
        dates = sorted({p.split("/")[2] for p in self.files if p.startswith(f"/{wiki}/")
                        and p.count("/") == 3})
        links = "".join(f'<a href="{d}/">{d}/</a>\n' for d in dates)
        self.files[f"/{wiki}/"] = f"<html><body><pre>{links}</pre></body></html>".encode()
        return status_json

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        start = 0
        if h.headers.get("Range", "").startswith("bytes="):
            start = int(h.headers["Range"][6:].split("-")[0])
        with self._lock:
            self.requests.append((path, start))
            self.user_agents.add(h.headers.get("User-Agent", ""))
            if self.errors[path]:
                code = self.errors[path].pop(0)
                h.send_error(code)
                return
            if path not in self.files:
                h.send_error(404)
                return
            body = self.files[path]
            if self.corrupt[path] > 0:
                self.corrupt[path] -= 1
                flipped = bytearray(body)
                flipped[len(body) // 2] ^= 0x01
                body = bytes(flipped)
            cut = stall = None
            if self.cut.get(path, [0, 0])[1] > 0:
                self.cut[path][1] -= 1
                cut = int(self.cut[path][0])
            if self.stall.get(path, [0, 0, 0])[2] > 0:
                self.stall[path][2] -= 1
                stall = (int(self.stall[path][0]), self.stall[path][1])
        if start >= len(body) and start:
            h.send_error(416)
            return
        h.send_response(206 if start else 200)
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        h.send_header("Content-Length", str(len(body) - start))
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()
        payload = body[start:]
        try:
            if cut is not None:
                h.wfile.write(payload[:cut])
                h.wfile.flush()
                h.close_connection = True
                return
            if stall is not None:
                h.wfile.write(payload[:stall[0]])
                h.wfile.flush()
                time.sleep(stall[1])
                payload = payload[stall[0]:]
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
