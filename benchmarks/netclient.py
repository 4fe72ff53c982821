"""A client that keeps asking: `netclient.py HOST PORT GAP` sends GET / on a
new TCP connection every GAP seconds until SIGTERM, then prints a JSON
summary: how many requests were answered, how many failed and how (refused,
reset, timed out), which bodies came back, and when failures happened
(CLOCK_MONOTONIC seconds, the clock of every process of the machine). It
prints "ready" once the first request was answered. Run inside a test's or
the benchmarks' network namespace (tests/support/nettest.py,
benchmarks/network.py)."""

from __future__ import annotations

import json
import signal
import socket
import sys
import time

stop = False


def on_term(_signo: int, _frame: object) -> None:
    global stop
    stop = True


def get(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=2) as conn:
        conn.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0]:
        raise OSError(f"bad answer: {head[:40]!r}")
    return body.decode().strip()


def main() -> int:
    host, port, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    signal.signal(signal.SIGTERM, on_term)
    start = time.monotonic()
    ok = 0
    failures: list[tuple[float, str]] = []
    bodies: dict[str, int] = {}
    announced = False
    while not stop:
        try:
            body = get(host, port)
        except OSError as e:
            failures.append((time.monotonic(), type(e).__name__))
            if not announced and time.monotonic() - start > 10:
                print(f"no answer in 10 s: {e}", file=sys.stderr)
                return 1
        else:
            ok += 1
            bodies[body] = bodies.get(body, 0) + 1
            if not announced:
                print("ready", flush=True)
                announced = True
        time.sleep(gap)
    print(json.dumps({"ok": ok, "failed": len(failures), "start": start,
                      "failures": [t for t, _ in failures], "kinds": [k for _, k in failures],
                      "bodies": bodies, "seconds": round(time.monotonic() - start, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
