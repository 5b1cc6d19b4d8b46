"""A local HTTPS endpoint standing in for CloudFormation's presigned response URL.

Its certificate comes from trustme; the handler trusts it through SSL_CERT_FILE, exactly as it
would trust S3's certificate in AWS (no patching of crhelper or of the handler).

Faults: ``scripted_statuses`` answers the next PUTs with given HTTP statuses (an int, or S3's status and
error code such as ``"400 RequestTimeout"``, which S3 sends with an XML error body when the upload was too
slow: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html); ``outage_until``
(virtual time) answers every PUT with HTTP 503 until then (``outage_kind="drop"`` closes the
connection without an answer instead); ``outage_plan`` chains several windows, e.g.
``[(t + 45, "503"), (t + 90, "drop")]``. A dropped PUT is recorded with ``http_status`` 0.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme

from .virtual_clock import VirtualClock


@dataclass
class Received:
    request_id: str
    body: dict[str, Any]
    size: int
    at: float
    http_status: int


@dataclass
class ResponseStore:
    clock: VirtualClock
    received: list[Received] = field(default_factory=list)
    scripted_statuses: list[int | str] = field(default_factory=list)  # answer these first: 503, "400 RequestTimeout"
    outage_until: float = 0.0  # every PUT before this virtual time fails (outage_kind)
    outage_kind: str = "503"  # "503" (or any HTTP status as text) or "drop" (connection closed, no answer)
    outage_plan: list[tuple[float, str]] = field(default_factory=list)  # [(until, kind), ...] in time order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.scripted_statuses.clear()
            self.outage_until = 0.0
            self.outage_kind = "503"
            self.outage_plan.clear()

    def outcome_at(self, now: float) -> tuple[int, str]:
        """The HTTP status a PUT gets now (0: the connection is dropped) and S3's error code for the body
        ("" for none). Call with the lock held."""
        for until, kind in [*self.outage_plan, (self.outage_until, self.outage_kind)]:
            if now < until:
                return (0, "") if kind == "drop" else (int(kind), "")
        scripted = str(self.scripted_statuses.pop(0)) if self.scripted_statuses else "200"
        status, _, code = scripted.partition(" ")
        return int(status), code

    def accepted(self, request_id: str) -> list[Received]:
        return [r for r in self.received if r.request_id == request_id and r.http_status == 200]


class _Handler(BaseHTTPRequestHandler):
    store: ResponseStore

    def do_PUT(self) -> None:  # noqa: N802
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request_id = self.path.split("?")[0].rsplit("/", 1)[-1]
        with self.store.lock:
            now = self.store.clock.now()
            status, code = self.store.outcome_at(now)
            self.store.received.append(Received(request_id, json.loads(data), len(data), now, status))
        if status == 0:
            self.close_connection = True  # no status line: the client sees the connection drop
            return
        body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code></Error>'.encode() if code else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class HttpsReceiver:
    def __init__(self, clock: VirtualClock, workdir: Path) -> None:
        authority = trustme.CA()
        certificate = authority.issue_cert("127.0.0.1", "localhost")
        self.ca_file = workdir / "local-ca.pem"
        authority.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        self.store = ResponseStore(clock)
        self.legacy_signing = False  # sign response URLs the older way (Expires only); reset per test by the driver
        handler = type("BoundHandler", (_Handler,), {"store": self.store})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> HttpsReceiver:
        self._thread.start()
        return self

    def url_for(self, request_id: str) -> str:
        port = self._server.server_address[1]
        if self.legacy_signing:
            # Signature version 2 query authentication, which presigned S3 URLs may still use: no X-Amz-Date,
            # only Expires (epoch seconds) (https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html).
            expires = int(self.store.clock.now()) + 7200
            return (
                f"https://127.0.0.1:{port}/cloudformation-custom-resource-response-useast1/{request_id}"
                f"?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires={expires}&Signature={'cd' * 14}%3D"
            )
        # Shaped like CloudFormation's presigned S3 URL: signed when the request is sent (X-Amz-Date, on the
        # virtual clock), valid for 2 hours, with a long signature (real ones run to ~1.5 KB).
        signed = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.store.clock.now()))
        return (
            f"https://127.0.0.1:{port}/cloudformation-custom-resource-response-useast1/{request_id}"
            f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={signed}&X-Amz-Expires=7200&X-Amz-Signature={'ab' * 400}"
        )

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
