#!/usr/bin/env python3
"""Readiness probe for the test Cassandra node, with no dependency beyond the standard library.

Speaks just enough of the CQL native protocol v4 (the version the Rust scylla driver uses):
STARTUP, then QUERY `SELECT release_version FROM system.local`, and prints the release version.
Exit status: 0 when the query answered, 1 otherwise (the reason goes to stderr).
`--versions` prints the protocol versions the server advertises (OPTIONS -> SUPPORTED) instead.
"""
import argparse
import socket
import struct
import sys

VERSION = 0x04
OPCODES = {"ERROR": 0x00, "STARTUP": 0x01, "READY": 0x02, "AUTHENTICATE": 0x03,
           "OPTIONS": 0x05, "SUPPORTED": 0x06, "QUERY": 0x07, "RESULT": 0x08}


def string(s):
    data = s.encode()
    return struct.pack(">H", len(data)) + data


def request(sock, stream, opcode, body):
    sock.sendall(struct.pack(">BBhBi", VERSION, 0, stream, opcode, len(body)) + body)
    header = recv_exact(sock, 9)
    _version, _flags, _stream, op, length = struct.unpack(">BBhBi", header)
    return op, Reader(recv_exact(sock, length))


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by server")
        buf += chunk
    return buf


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        value = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value[0]

    def string(self):
        n = self.take(">H")
        self.pos += n
        return self.data[self.pos - n:self.pos].decode()

    def bytes(self):
        n = self.take(">i")
        self.pos += max(n, 0)
        return None if n < 0 else self.data[self.pos - n:self.pos]


def fail_unless(op, expected, body):
    if op == OPCODES["ERROR"]:
        code = body.take(">i")
        raise RuntimeError(f"server error 0x{code:04x}: {body.string()}")
    if op != OPCODES[expected]:
        raise RuntimeError(f"expected {expected}, got opcode 0x{op:02x}")


def release_version(sock):
    op, body = request(sock, 1, OPCODES["STARTUP"], struct.pack(">H", 1) + string("CQL_VERSION") + string("3.0.0"))
    fail_unless(op, "READY", body)
    encoded = b"SELECT release_version FROM system.local"
    # <long string query><consistency ONE><flags none>
    op, body = request(sock, 2, OPCODES["QUERY"], struct.pack(">i", len(encoded)) + encoded + struct.pack(">HB", 0x0001, 0))
    fail_unless(op, "RESULT", body)
    if body.take(">i") != 0x0002:  # kind Rows
        raise RuntimeError("QUERY answered without rows")
    flags, columns = body.take(">i"), body.take(">i")
    if flags & 0x0002:  # has_more_pages: skip the paging state
        body.bytes()
    if flags & 0x0001:  # global_tables_spec: keyspace and table once
        body.string(), body.string()
    for _ in range(columns):
        if not flags & 0x0001:
            body.string(), body.string()
        body.string()       # column name
        body.take(">H")     # type id (varchar: no parameters)
    if body.take(">i") < 1:
        raise RuntimeError("system.local returned no row")
    return body.bytes().decode()


def supported_versions(sock):
    op, body = request(sock, 1, OPCODES["OPTIONS"], b"")
    fail_unless(op, "SUPPORTED", body)
    options = {}
    for _ in range(body.take(">H")):
        key = body.string()
        options[key] = [body.string() for _ in range(body.take(">H"))]
    return ", ".join(options.get("PROTOCOL_VERSIONS", ["(not advertised)"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9042)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds for connect and each reply")
    parser.add_argument("--versions", action="store_true", help="print the protocol versions the server supports")
    args = parser.parse_args()
    try:
        with socket.create_connection((args.host, args.port), timeout=args.timeout) as sock:
            print(supported_versions(sock) if args.versions else release_version(sock))
    except (OSError, RuntimeError, struct.error, UnicodeDecodeError) as exc:
        print(f"cql_ping: {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
