"""Which client a request came from, trusting only the proxies we were told to.

Forwarding headers are honoured only when the socket peer is a trusted
proxy, as Werkzeug's ``ProxyFix`` (a hop count) and uvicorn's
``--forwarded-allow-ips`` (an address list) do. The default trusts nobody:
a client can put anything in ``X-Forwarded-For``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Forwarded", "ProxyTrust", "parse_forwarded"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Bounds on what we are willing to parse from a client-controlled header.
_MAX_HOPS = 32
_MAX_ENTRY = 256


@dataclass(frozen=True)
class Forwarded:
    """The per-hop values of ``Forwarded`` or ``X-Forwarded-*``, nearest proxy last."""

    for_: Sequence[str] = ()
    proto: Sequence[str] = ()
    host: Sequence[str] = ()


def _split(value: str | None) -> list[str]:
    if not value:
        return []
    return [part.strip()[:_MAX_ENTRY] for part in value.split(",")[-_MAX_HOPS:]]


def _unquote_node(node: str) -> str:
    """``"[2001:db8::1]:4711"`` → ``2001:db8::1``; ``192.0.2.1:80`` → ``192.0.2.1``."""
    node = node.strip().strip('"')
    if node.startswith("["):
        return node[1 : node.find("]")] if "]" in node else node[1:]
    if node.count(":") == 1:
        return node.split(":", 1)[0]
    return node


def parse_forwarded(forwarded: str | None, x_for: str | None, x_proto: str | None,
                    x_host: str | None) -> Forwarded:
    """Collect forwarding data, preferring RFC 7239 ``Forwarded`` when present."""
    if forwarded:
        fors: list[str] = []
        protos: list[str] = []
        hosts: list[str] = []
        for element in forwarded.split(",")[-_MAX_HOPS:]:
            pairs = dict(_pair(p) for p in element.split(";")[:8])
            fors.append(_unquote_node(pairs.get("for", ""))[:_MAX_ENTRY])
            protos.append(pairs.get("proto", "").strip('"').lower())
            hosts.append(pairs.get("host", "").strip('"')[:_MAX_ENTRY])
        return Forwarded(fors, protos, hosts)
    return Forwarded([_unquote_node(v) for v in _split(x_for)],
                     [v.lower() for v in _split(x_proto)], _split(x_host))


def _pair(part: str) -> tuple[str, str]:
    key, _, value = part.partition("=")
    return key.strip().lower(), value.strip()


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class ProxyTrust:
    """Whom to believe about the original client.

    Either ``hops`` (the app sits behind exactly that many proxies, so the
    peer is one and the client is the ``hops``-th forwarded entry from the
    right) or ``networks`` (walk the forwarded entries from the right,
    skipping trusted addresses; the first untrusted one is the client).
    """

    hops: int = 0
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, value: str) -> ProxyTrust:
        """Parse ``""`` (trust nobody), ``"2"`` (hops) or ``"10.0.0.0/8, 127.0.0.1"``.

        Raises:
            ValueError: naming the entry that is neither a count nor an address.
        """
        value = value.strip()
        if not value:
            return cls()
        if value.isdigit():
            hops = int(value)
            if hops > _MAX_HOPS:
                raise ValueError(f"a hop count above {_MAX_HOPS} is not plausible")
            return cls(hops=hops)
        networks = []
        for entry in value.replace(" ", ",").split(","):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is neither a hop count nor an IP address "
                                 "or CIDR network") from None
        return cls(networks=tuple(networks))

    @property
    def enabled(self) -> bool:
        """Whether any forwarding header is ever honoured."""
        return bool(self.hops or self.networks)

    def _trusted(self, value: str) -> bool:
        address = _address(value)
        return address is not None and any(address in net for net in self.networks)

    def client_hops(self, peer: str | None, forwarded: Forwarded) -> int:
        """How many forwarded entries, counted from the right, to believe (0: none)."""
        fors = forwarded.for_
        if self.hops:
            return self.hops if len(fors) >= self.hops else 0
        if not self.networks or peer is None or not self._trusted(peer):
            return 0
        for depth, entry in enumerate(reversed(fors), 1):
            if not self._trusted(entry):
                return depth
        return len(fors)

    def resolve(self, peer: str | None, scheme: str, host: str | None,
                forwarded: Forwarded) -> tuple[str | None, str, str | None]:
        """Return the client ``(ip, scheme, host)`` as the trusted proxies saw them."""
        depth = self.client_hops(peer, forwarded)
        if not depth:
            return peer, scheme, host
        candidate = forwarded.for_[-depth]
        # An obfuscated or garbage entry ("unknown", "_hidden") names no address.
        ip = candidate if _address(candidate) is not None else None
        proto = _at_depth(forwarded.proto, depth)
        if proto in ("http", "https"):
            scheme = proto
        return ip, scheme, _at_depth(forwarded.host, depth) or host


def _at_depth(values: Sequence[str], depth: int) -> str | None:
    """The entry the proxy nearest the client added; a single value serves every hop."""
    if not values:
        return None
    return values[-min(depth, len(values))] or None
