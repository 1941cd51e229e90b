"""A model hub on 127.0.0.1 for download tests: Range requests, dropped connections, slow and failing modes."""

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    """How the hub misbehaves. Counters count down per request."""

    drop_times: int = 0  # the next N responses stop halfway through the body and close the connection
    ignore_range: bool = False  # answer 200 with the whole file even to a Range request
    chunk_delay_s: float = 0.0  # sleep between 1 KiB chunks (a slow server)
    fail_status: int = 0  # answer with this status ...
    fail_times: int = 0  # ... this many times
    send_length: bool = True
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class LocalHub:
    """``hub.files[name] = bytes``; ``hub.url(name)``; ``hub.behaviour`` controls failures."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.behaviour = Behaviour()
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                hub.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        b = self.behaviour
        name = request.path.lstrip("/")
        range_header = request.headers.get("Range")
        with self.lock:
            b.requests.append((name, range_header))
            failing = b.fail_times > 0
            if failing:
                b.fail_times -= 1
            dropping = b.drop_times > 0
            if dropping:
                b.drop_times -= 1
        data = self.files.get(name)
        if failing or data is None:
            status = b.fail_status if failing else 404
            request.send_response(status)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        start = 0
        if range_header and not b.ignore_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                request.send_response(416)
                request.send_header("Content-Range", f"bytes */{len(data)}")
                request.send_header("Content-Length", "0")
                request.end_headers()
                return
            request.send_response(206)
            request.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            request.send_response(200)
        body = data[start:]
        request.send_header("Accept-Ranges", "bytes")
        if b.send_length:
            request.send_header("Content-Length", str(len(body)))
        else:
            request.close_connection = True
        request.end_headers()
        if dropping:
            body = body[: len(body) // 2]
        try:
            for i in range(0, len(body), 1024):
                request.wfile.write(body[i : i + 1024])
                if b.chunk_delay_s:
                    request.wfile.flush()
                    time.sleep(b.chunk_delay_s)
            request.wfile.flush()
        except OSError:
            return
        if dropping:
            request.close_connection = True
            request.connection.shutdown(socket.SHUT_RDWR)


def closed_port_url(name: str = "file.bin") -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"
