"""A middle tier written in Python, registered with the real py-eureka-client.

Driven by edge/tests/it/interop_eureka.rs: our edge must route to this service exactly while our
registry lists it. It serves the middle tier's read API (`GET /middletier/rss/user/{user}`,
and the river at `.../items`) with one feed whose title carries MARKER and the port, so the
test can tell its answers in a page, and prints one `request <path>` line per request it
receives (before answering), so the test can count them.

Given `--tls CA CERT KEY` it serves HTTPS as a real middle tier must: its certificate (naming
`middletier.rss-recipe.internal`) from the deployment CA, and a client certificate from the same
CA naming `edge.rss-recipe.internal` required of every caller (Python's `ssl` checks the chain;
the name is checked per connection below). It then registers its secure port, as Eureka
clients do (`securePort` enabled, the plain port disabled).

It starts serving at once but registers only when told: commands arrive one per line on
stdin, each answered with one line on stdout:

- `register`: registers app MIDDLETIER, VIP `middletier` (what the edge discovers), then
  prints `registered <instance id>` and `discovered <ids>`: the UP MIDDLETIER instances it
  reads back from the registry (the client reads XML);
- `renew`: one heartbeat (renewal), then `renewed`;
- `stop`: py-eureka-client's stop (marks the instance DOWN, then cancels it), then `stopped`;
  the HTTP server keeps serving, so a request the edge still sent would show up;
- `ping`: `pong`; every request line printed before it has been written;
- `exit`: `bye`, and the process ends.

Renewals are asked for rather than left to the client's timer: once py-eureka-client's heartbeat
thread has started, `stop()` cannot end it (`threading.Timer.cancel` only stops a timer that has
not fired), and its next renewal, answered 404, registers the instance UP again. The long
renewal interval keeps that thread from starting during the test.
"""

import asyncio
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import py_eureka_client.eureka_client as eureka_client

MARKER = "Served by py-eureka-client"
# The only caller a TLS middle tier accepts (see platform::tls).
EDGE_NAME = "edge.rss-recipe.internal"
PREFIX = "/middletier/rss/user/"

# One line per write: the handler threads and the command loop share stdout.
_print_lock = threading.Lock()


def say(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    port = 0

    def setup(self) -> None:
        super().setup()
        # With TLS, the handshake (chain checked against the CA) ran on accept; the name is ours
        # to check: anything but the edge's certificate is closed before a request is read.
        if isinstance(self.connection, ssl.SSLSocket):
            names = [value for kind, value in self.connection.getpeercert().get(
                "subjectAltName", ()) if kind == "DNS"]
            if names != [EDGE_NAME]:
                say(f"refused {names}")
                self.close_connection = True
                raise ConnectionAbortedError("not the edge")

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        path = urlsplit(self.path).path
        say(f"request {path}")
        if path == "/health":
            self.answer(200, {"status": "UP"})
            return
        if not path.startswith(PREFIX):
            self.answer(404, {"error": "not found"})
            return
        rest = path[len(PREFIX):].split("/")
        user = rest[0]
        title = f"{MARKER} on port {self.port}"
        feed_url = f"https://python.example/{self.port}/feed.xml"
        item = {
            "id": "python-1",
            "title": f"{MARKER}: first item",
            "link": "https://python.example/first",
            "description": "<p>An item from the Python middle tier.</p>",
            "published": "2026-01-01T00:00:00Z",
            "read": False,
            "starred": False,
        }
        if rest[1:] == []:
            self.answer(200, {
                "user": user,
                "subscriptions": [{"url": feed_url, "title": title, "items": [item],
                                   "status": {"last_success": "2026-01-01T00:00:00Z"},
                                   "unread": 1}],
            })
        elif rest[1:] == ["items"]:
            self.answer(200, {
                "user": user,
                "items": [{"feed_url": feed_url, "feed_title": title, "item": item}],
                "next": None,
                "unread": 1,
                "feeds": [{"url": feed_url, "title": title, "category": None, "unread": 1,
                           "error": None}],
            })
        else:
            self.answer(404, {"error": "not found"})

    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the http.server API)
        pass  # the `request` lines are the log


class TlsServer(ThreadingHTTPServer):
    """Handshakes in the connection's thread, so one slow client can't stall accepting."""

    context: ssl.SSLContext | None = None

    def get_request(self):
        sock, address = super().get_request()
        if self.context is None:
            return sock, address
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), address

    def finish_request(self, request, client_address) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as error:
                say(f"handshake refused {error}")
                return
        try:
            super().finish_request(request, client_address)
        except ConnectionAbortedError:
            pass


async def main(server: str, tls: list[str]) -> None:
    httpd = TlsServer(("127.0.0.1", 0), Handler)
    if tls:
        ca, cert, key = tls
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.load_verify_locations(ca)
        context.verify_mode = ssl.CERT_REQUIRED
        httpd.context = context
    port = httpd.server_address[1]
    Handler.port = port
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    say(f"listening {port}")

    client = eureka_client.EurekaClient(
        eureka_server=server,
        app_name="middletier",
        vip_adr="middletier",
        instance_host="127.0.0.1",
        instance_ip="127.0.0.1",
        instance_port=port,
        instance_unsecure_port_enabled=not tls,
        instance_secure_port=port,
        instance_secure_port_enabled=bool(tls),
        renewal_interval_in_secs=600,
        duration_in_secs=1800,
    )
    loop = asyncio.get_running_loop()
    while True:
        command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if command == "register":
            await client.start()
            say(f"registered 127.0.0.1:middletier:{port}")
            application = client.applications.get_application("MIDDLETIER")
            ids = sorted(instance.instanceId for instance in application.up_instances)
            say(f"discovered {','.join(ids)}")
        elif command == "renew":
            await client.send_heartbeat()
            say("renewed")
        elif command == "stop":
            await client.stop()
            say("stopped")
        elif command == "ping":
            say("pong")
        elif command in ("exit", ""):
            httpd.shutdown()
            say("bye")
            return
        else:
            say(f"unknown command {command!r}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    tls_files = arguments[2:5] if arguments[1:2] == ["--tls"] else []
    asyncio.run(main(arguments[0], tls_files))
