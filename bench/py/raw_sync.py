"""The floor of a blocking Python client with N threads (issue 18's sync client at 100 in flight).

Each thread writes a prebuilt go-micro request (spec §4.11's headers) on its own kept-alive
socket and reads until the whole reply is in, parsing nothing but Content-Length: what any
blocking client written in Python pays for the GIL and its threads, with no client library.

    python raw_sync.py HOST:PORT [threads=100] [seconds=2]

Prints {"requests": N, "rate": calls/s}, counted after a 0.5 s warm-up.
"""
import json
import socket
import sys
import threading
import time

BODY = b'{"name":"bench"}'
WARMUP = 0.5


def request(addr: str) -> bytes:
    """go-micro's unary request to the greeter at ``addr``, headers and body (shared with
    ``raw_asyncio.py``)."""
    head = ("POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
            "Micro-Id: 1\r\nMicro-Service: greeter\r\nMicro-Method: Greeter.Hello\r\n"
            "Micro-Endpoint: Greeter.Hello\r\nTimeout: 5000000000\r\nContent-Length: {}\r\n\r\n")
    return head.format(addr, len(BODY)).encode() + BODY


def reply_whole(buf: bytes) -> bool:
    """Whether ``buf`` holds one whole reply: its head, then Content-Length bytes of body
    (the only header read). Shared with ``raw_asyncio.py``."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    at = buf.find(b"Content-Length: ", 0, end)
    length = int(buf[at + 16:buf.find(b"\r\n", at)]) if at >= 0 else 0
    return len(buf) >= end + 4 + length


def read_reply(s: socket.socket) -> None:
    """Reads one reply whole."""
    buf = b""
    while not reply_whole(buf):
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buf += chunk


def main() -> None:
    addr = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
    host, port = addr.rsplit(":", 1)
    req = request(addr)
    counts = [0] * threads
    start = time.perf_counter() + WARMUP
    end = start + seconds

    def worker(i: int) -> None:
        s = socket.create_connection((host, int(port)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        clock, n = time.perf_counter, 0
        while (t := clock()) < end:
            s.sendall(req)
            read_reply(s)
            if t >= start:
                n += 1
        counts[i] = n
        s.close()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps({"requests": sum(counts), "rate": sum(counts) / seconds}))


if __name__ == "__main__":
    main()
