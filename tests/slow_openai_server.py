"""A deliberately slow OpenAI-compatible chat server for UI tests of Stop: it streams a fixed reply one word at a
time (`python tests/slow_openai_server.py PORT [DELAY_S]`). It speaks just enough of the protocol for
rag.llm.openai: GET /v1/models and POST /v1/chat/completions with or without stream."""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLY = ("Russian spies have links to people smuggling gangs trafficking asylum seekers into Europe [1]. "
         "Daniel Mitov said his government has evidence of direct links between Russia's foreign intelligence "
         "agency and the criminal gangs [2]. ") * 3


class Handler(BaseHTTPRequestHandler):
    delay = 0.4

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass

    def _json(self, obj: dict) -> None:
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._json({"object": "list", "data": [{"id": "slow", "object": "model"}]})

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if not request.get("stream"):
            self._json({"choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY},
                                     "finish_reason": "stop"}]})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            for word in REPLY.split(" "):
                chunk = {"choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(self.delay)
            self.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: that is what Stop does


if __name__ == "__main__":
    Handler.delay = float(sys.argv[2]) if len(sys.argv) > 2 else Handler.delay
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
