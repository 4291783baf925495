"""Service cluster IP and node port ranges, pure: parsing, membership, and picking a free value
the way the API server's allocators do.

A range is a list of offsets ``0 .. size-1`` (for an IPv4 CIDR the network and broadcast
addresses are not in it). Its lowest offsets are a *static band* (Kubernetes' "static
subrange": ``min(max(16, size/16), 256)`` addresses, ``min(max(16, size/32), 128)`` ports)
that dynamic allocation uses only once the rest is full, so a user who asks for a specific
low address or port rarely finds it taken. Dynamic picks are random (a few probes, then a scan
from a random start), as the API server's bitmap allocator does.

Only IPv4 service ranges are supported (the cluster is single-stack IPv4).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Collection
from dataclasses import dataclass

DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_NODE_PORTS = (30000, 32767)
_PROBES = 32


def _band(size: int, step: int, upper: int) -> int:
    if size <= 16:
        return 0
    return min(max(16, size // step), upper)


@dataclass(frozen=True)
class IpRange:
    network: ipaddress.IPv4Network

    @classmethod
    def parse(cls, cidr: str) -> IpRange:
        """An IPv4 CIDR such as ``10.96.0.0/12``; ValueError with a readable message."""
        try:
            net = ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError:
            raise ValueError(f"not a CIDR: {cidr!r}") from None
        if not isinstance(net, ipaddress.IPv4Network):
            raise ValueError(f"only IPv4 service ranges are supported: {cidr!r}")
        if net.prefixlen > 30:
            raise ValueError(f"the service range {cidr!r} is too small (at most /30)")
        return cls(net)

    def __str__(self) -> str:
        return str(self.network)

    @property
    def size(self) -> int:
        return int(self.network.num_addresses) - 2  # no network, no broadcast address

    @property
    def static_band(self) -> int:
        return _band(self.size, 16, 256)

    def offset(self, ip: str) -> int | None:
        """The offset of ``ip`` in the range, None when it is not in it (or not an IP)."""
        try:
            addr = ipaddress.IPv4Address(ip)
        except ValueError:
            return None
        off = int(addr) - int(self.network.network_address) - 1
        return off if 0 <= off < self.size else None

    def at(self, offset: int) -> str:
        return str(ipaddress.IPv4Address(int(self.network.network_address) + 1 + offset))

    def pick(self, taken: Collection[str], rng: random.Random | None = None) -> str | None:
        offsets = {o for o in (self.offset(ip) for ip in taken) if o is not None}
        found = pick_offset(self.size, self.static_band, offsets, rng or random.Random())
        return None if found is None else self.at(found)


@dataclass(frozen=True)
class PortRange:
    first: int
    last: int

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """``FIRST-LAST`` (``30000-32767``) or ``FIRST+COUNT`` as kube-apiserver takes it."""
        base, sep, rest = text.strip().partition("-" if "-" in text else "+")
        try:
            first = int(base)
            last = int(rest) if sep == "-" else first + int(rest) if sep == "+" else first
        except ValueError:
            raise ValueError(f"not a port range FIRST-LAST: {text!r}") from None
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"not a port range within 1-65535: {text!r}")
        return cls(first, last)

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    @property
    def static_band(self) -> int:
        return _band(self.size, 32, 128)

    def contains(self, port: int) -> bool:
        return self.first <= port <= self.last

    def pick(self, taken: Collection[int], rng: random.Random | None = None) -> int | None:
        offsets = {p - self.first for p in taken if self.contains(p)}
        found = pick_offset(self.size, self.static_band, offsets, rng or random.Random())
        return None if found is None else self.first + found


def pick_offset(size: int, band: int, taken: set[int], rng: random.Random) -> int | None:
    """A free offset in ``0 .. size-1``: the dynamic part (``band ..``) first, then the static
    band; random probes, then a scan from a random start. None when everything is taken."""
    for low, high in ((band, size), (0, band)):
        count = high - low
        if count <= 0 or sum(1 for t in taken if low <= t < high) >= count:
            continue
        for _ in range(_PROBES):
            candidate = low + rng.randrange(count)
            if candidate not in taken:
                return candidate
        start = rng.randrange(count)
        for i in range(count):
            candidate = low + (start + i) % count
            if candidate not in taken:
                return candidate
    return None
