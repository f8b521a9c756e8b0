"""A Hugging Face hub and a torch hub file server on 127.0.0.1, for the download tests: nothing leaves the machine.

The hub side answers ``HEAD`` / ``GET /{repo_id}/resolve/{revision}/{filename}`` as the real hub does
for a large file: the content's sha256 as its ETag, a commit hash, its length; a missing file is a
404 with ``X-Error-Code: EntryNotFound``. ``mode`` serves the file ``"altered"`` (same length, other
bytes, the original's ETag) or ``"truncated"`` (half of it, the whole length announced).
"""

import hashlib
import http.server
import threading

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class LoopbackHub:
    def __init__(self):
        self.files, self.mode, self.requests = {}, "ok", []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub._answer(self, body=False)

            def do_GET(self):
                hub._answer(self, body=True)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_hf(self, repo_id, filename, data):
        self.files[f"/{repo_id}/resolve/main/{filename}"] = data

    def add_file(self, name, data):
        """A plain file (a torch hub checkpoint); returns its URL."""
        self.files[f"/files/{name}"] = data
        return f"{self.url}/files/{name}"

    def _answer(self, handler, body):
        path = handler.path.split("?")[0]
        self.requests.append((handler.command, path))
        data = self.files.get(path)
        if data is None:
            handler.send_response(404)
            handler.send_header("X-Error-Code", "EntryNotFound")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        sha = hashlib.sha256(data).hexdigest()
        sent = data
        if self.mode == "altered":
            sent = data[:-64] + bytes(64)
        elif self.mode == "truncated":
            sent = data[: len(data) // 2]
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("ETag", f'"{sha}"')
        handler.send_header("X-Repo-Commit", COMMIT)
        handler.end_headers()
        if body:
            handler.wfile.write(sent)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
