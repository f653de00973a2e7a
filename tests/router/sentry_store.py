"""A stand-in Sentry store endpoint for the router tests.

    python3 sentry_store.py PORT OUT

Listens on 127.0.0.1:PORT, answers every POST 200 (as Sentry answers an
accepted event) and appends each request to OUT as one JSON line:
{"method", "path", "headers": [[name, value], ...] in the order received,
"body": the body base64-encoded (byte for byte)}. The line is written before
the answer, so a client that has its answer finds its request in OUT.
"""
import base64
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, out = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()


class Store(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        record = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": base64.b64encode(body).decode("ascii"),
        }
        with lock, open(out, "a") as f:
            f.write(json.dumps(record) + "\n")
        answer = b'{"id": "stand-in"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Store).serve_forever()
