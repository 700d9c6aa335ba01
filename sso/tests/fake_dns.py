"""A DNS server on loopback (UDP) answering TXT questions from a dict: no lookup leaves the machine."""

from __future__ import annotations

import contextlib
import socket
import threading

import dns.message
import dns.rcode
import dns.rrset


class FakeDNS:
    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeDNS:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            values = self.records.get(question.name.to_text().rstrip(".").lower())
            if values:
                quoted = [f'"{v}"' for v in values]
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "TXT", *quoted))
            else:
                response.set_rcode(dns.rcode.NXDOMAIN)
            with contextlib.suppress(OSError):
                self.sock.sendto(response.to_wire(), peer)
