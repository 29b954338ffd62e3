"""A lab nameserver that answers SERVFAIL to CAA queries and relays every other query to the
primary: the old appliance or DNS proxy that chokes on a type it does not know. A CAA query
for a name whose first label starts with ``silent`` gets no answer at all (the firewall
that drops what it does not know), while the same address answers every other type.

    python3 lab/caa_refuser.py LISTEN_IP UPSTREAM_IP

Standard library only (the lab starts it with the system's python3); UDP and TCP on port 53.
The relayed answers are the primary's own (authoritative, AA set), so for every other type
this server is indistinguishable from a healthy secondary.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading

CAA = 257
PORT = 53


def question_end(message: bytes) -> int:
    """The offset just past the first question's QTYPE and QCLASS (uncompressed QNAME)."""
    offset = 12
    while message[offset]:
        offset += 1 + message[offset]
    return offset + 5


def is_caa(message: bytes) -> bool:
    try:
        end = question_end(message)
        return struct.unpack(">H", message[end - 4:end - 2])[0] == CAA
    except (IndexError, struct.error):
        return False


def servfail(query: bytes) -> bytes:
    """The query's ID and question, with QR set, its opcode and RD kept, RCODE SERVFAIL."""
    flags = struct.unpack(">H", query[2:4])[0]
    flags = 0x8000 | (flags & 0x7900) | 2
    return query[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + query[12:question_end(query)]


def relay(query: bytes, upstream: str, tcp: bool) -> bytes | None:
    if is_caa(query):
        first = query[13:13 + query[12]].lower() if len(query) > 12 else b""
        return None if first.startswith(b"silent") else servfail(query)
    kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(3)
        try:
            if tcp:
                sock.connect((upstream, PORT))
                sock.sendall(struct.pack(">H", len(query)) + query)
                size = struct.unpack(">H", read(sock, 2))[0]
                return read(sock, size)
            sock.sendto(query, (upstream, PORT))
            return sock.recv(65535)
        except (OSError, struct.error):
            return None


def read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


def serve_udp(listen: str, upstream: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((listen, PORT))

    def answer(query: bytes, peer: tuple[str, int]) -> None:
        reply = relay(query, upstream, tcp=False)
        if reply:
            sock.sendto(reply, peer)

    while True:
        query, peer = sock.recvfrom(65535)
        threading.Thread(target=answer, args=(query, peer), daemon=True).start()


def serve_tcp(listen: str, upstream: str) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((listen, PORT))
    server.listen(16)

    def answer(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                query = read(conn, struct.unpack(">H", read(conn, 2))[0])
                reply = relay(query, upstream, tcp=True)
                if reply:
                    conn.sendall(struct.pack(">H", len(reply)) + reply)
            except (OSError, struct.error):
                pass

    while True:
        conn, _ = server.accept()
        threading.Thread(target=answer, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    listen_ip, upstream_ip = sys.argv[1], sys.argv[2]
    threading.Thread(target=serve_tcp, args=(listen_ip, upstream_ip), daemon=True).start()
    serve_udp(listen_ip, upstream_ip)
