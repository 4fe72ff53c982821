"""A stand-in for the node's resolver: `fakedns.py ADDRESS PORT` answers an A
query for outside.example.test with 198.51.100.7 (a documentation address,
never contacted) and any other name with NXDOMAIN, as a real resolver would
the cluster names a pod's search list sends it, over UDP, until SIGTERM. It prints "ready" once it listens. Run by the DNS test
inside its network namespace, so cluster DNS's forwarding stays there."""

from __future__ import annotations

import signal
import socket
import sys

from dnslib import QTYPE, RCODE, RR, A, DNSRecord

KNOWN = "outside.example.test."


def main() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((sys.argv[1], int(sys.argv[2])))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    while True:
        data, client = sock.recvfrom(4096)
        query = DNSRecord.parse(data)
        reply = query.reply()
        if str(query.q.qname).lower() != KNOWN:
            reply.header.rcode = RCODE.NXDOMAIN
        elif query.q.qtype == QTYPE.A:
            reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A("198.51.100.7"), ttl=60))
        sock.sendto(reply.pack(), client)


if __name__ == "__main__":
    sys.exit(main())
