"""EKS records on the store: key layout (the only place that spells it) and typed access.

Key layout::

    /eks/<account>/<region>/clusters/<name>
    /eks/<account>/<region>/updates/<cluster>/<update id>
    /eks/<account>/<region>/nodegroups/<cluster>/<name>
    /eks/<account>/<region>/fargateprofiles/<cluster>/<name>
    /eks/<account>/<region>/accessentries/<cluster>/<principal ARN, percent-encoded>

Every record is the API's shape plus private ``_``-members (``model/eks``). The children of a
cluster are kept under per-family prefixes, so listing clusters never reads them, and removing
a cluster removes each family's ``<cluster>/`` prefix.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from stowage.resources.paging import collect, page
from stowage.resources.records import Doc, Record, Records

PREFIX = "/eks/"
CLUSTERS, UPDATES, NODEGROUPS, FARGATE, ACCESS = (
    "clusters",
    "updates",
    "nodegroups",
    "fargateprofiles",
    "accessentries",
)
CHILDREN = (UPDATES, NODEGROUPS, FARGATE, ACCESS)


def cluster_key(account: str, region: str, name: str) -> str:
    return f"{PREFIX}{account}/{region}/{CLUSTERS}/{name}"


def clusters_prefix(account: str, region: str) -> str:
    return f"{PREFIX}{account}/{region}/{CLUSTERS}/"


def child_prefix(account: str, region: str, family: str, cluster: str) -> str:
    return f"{PREFIX}{account}/{region}/{family}/{cluster}/"


def child_key(account: str, region: str, family: str, cluster: str, name: str) -> str:
    part = quote(name, safe="") if family == ACCESS else name
    return f"{child_prefix(account, region, family, cluster)}{part}"


def parse(key: str) -> tuple[str, str, str, str, str] | None:
    """``(account, region, family, cluster, name)``; for a cluster, ``name`` is ''."""
    parts = key.split("/")
    if len(parts) == 6 and parts[1] == "eks" and parts[4] == CLUSTERS:
        return parts[2], parts[3], CLUSTERS, parts[5], ""
    if len(parts) == 7 and parts[1] == "eks" and parts[4] in CHILDREN:
        name = unquote(parts[6]) if parts[4] == ACCESS else parts[6]
        return parts[2], parts[3], parts[4], parts[5], name
    return None


class EksRecords:
    def __init__(self, records: Records) -> None:
        self.records = records

    async def cluster(self, account: str, region: str, name: str) -> Record | None:
        return await self.records.get(cluster_key(account, region, name))

    async def clusters_page(
        self, account: str, region: str, *, after: str | None, limit: int
    ) -> tuple[list[Record], str | None]:
        return await page(self.records, clusters_prefix(account, region), after=after, limit=limit)

    async def child(self, account: str, region: str, family: str, cluster: str, name: str) -> Record | None:
        return await self.records.get(child_key(account, region, family, cluster, name))

    async def children(self, account: str, region: str, family: str, cluster: str) -> list[Record]:
        return await collect(self.records, child_prefix(account, region, family, cluster))

    async def children_page(
        self, account: str, region: str, family: str, cluster: str, *, after: str | None, limit: int
    ) -> tuple[list[Record], str | None]:
        prefix = child_prefix(account, region, family, cluster)
        return await page(self.records, prefix, after=after, limit=limit)

    async def has_children(self, account: str, region: str, family: str, cluster: str) -> bool:
        found, _more = await self.records.list(child_prefix(account, region, family, cluster), limit=1)
        return bool(found)

    async def all_clusters(self) -> list[Record]:
        """Every cluster of every account (the controller's start-up listing)."""
        return await collect(self.records, PREFIX, lambda r: (parse(r.key) or ("",) * 5)[2] == CLUSTERS)


def doc_of(record: Record | None) -> Doc | None:
    return None if record is None else record.doc
