"""TXT lookups for domain verification, through dnspython.

The resolver is the system's unless ``SSO_DNS_NAMESERVERS`` lists name servers ("host" or
"host:port"); tests point it at a DNS server of their own on loopback, so nothing leaves the
machine.
"""

from __future__ import annotations

import dns.exception
import dns.resolver
from django.conf import settings

LIFETIME_SECONDS = 5.0


class LookupFailed(Exception):
    """The lookup itself failed (no such name, no TXT record, timeout); the message says which."""


def resolver() -> dns.resolver.Resolver:
    servers = [s.strip() for s in getattr(settings, "SSO_DNS_NAMESERVERS", ()) if s.strip()]
    if not servers:
        res = dns.resolver.Resolver()
    else:
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = []
        for server in servers:
            host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
            res.nameservers.append(host)
            if port:
                res.port = int(port)
    res.lifetime = LIFETIME_SECONDS
    return res


def txt_values(name: str) -> list[str]:
    """The TXT strings published at ``name`` (each record's strings joined, as RFC 7208 reads them)."""
    try:
        answer = resolver().resolve(name, "TXT", search=False)
    except dns.resolver.NXDOMAIN:
        raise LookupFailed(f"{name} does not exist in DNS.") from None
    except dns.resolver.NoAnswer:
        raise LookupFailed(f"{name} has no TXT record.") from None
    except dns.exception.Timeout:
        raise LookupFailed("The DNS lookup timed out.") from None
    except dns.exception.DNSException as error:
        raise LookupFailed(f"The DNS lookup failed ({error.__class__.__name__}).") from None
    return [b"".join(rdata.strings).decode("utf-8", errors="replace") for rdata in answer]
