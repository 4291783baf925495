"""What every EKS handler shares: its dependencies (``EksPlane``: records, where the clusters are
served, the endpoint port range), cluster lookups and pages."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from stowage.api.aws.context import RequestContext
from stowage.api.ecs.pagination import decode_token, encode_token
from stowage.api.eks import errors
from stowage.model.eks import clusters as model
from stowage.resources.eks import EksRecords
from stowage.resources.eks_ports import EksPorts
from stowage.resources.records import Doc, Record, Records

DEFAULT_PAGE = 100


@dataclass
class KubeEndpoint:
    """Where the clusters' Kubernetes APIs are served: the Kubernetes listener's URL and CA,
    known once it has started (``api/k8s/serving.K8sListener``; each cluster's own listener
    has its host and the address it binds, ``bind``)."""

    url: Callable[[], str]
    ca_cert: Callable[[], Path | None]
    bind: str = "127.0.0.1"

    def host(self) -> str:
        """The listener URL's host (``127.0.0.1``, ``[::1]``, a name): the clusters' too."""
        netloc = urlsplit(self.url()).netloc
        return netloc.rsplit(":", 1)[0] if netloc else ""

    def ca_data(self) -> str:
        """base64 of the CA's PEM, as EKS's ``certificateAuthority.data``."""
        path = self.ca_cert()
        return base64.b64encode(path.read_bytes()).decode() if path is not None else ""


@dataclass
class EksPlane:
    records: Records
    endpoint: KubeEndpoint
    ports: EksPorts

    @property
    def eks(self) -> EksRecords:
        return EksRecords(self.records)

    def render(self, doc: Doc) -> Doc:
        return model.render(
            doc, host=self.endpoint.host(), base_url=self.endpoint.url(), ca_data=self.endpoint.ca_data()
        )


async def cluster_record(plane: EksPlane, ctx: RequestContext, name: str) -> Record:
    rec = await plane.eks.cluster(ctx.account_id, ctx.region, name)
    if rec is None:
        raise errors.cluster_not_found(name)
    return rec


async def usable_cluster(plane: EksPlane, ctx: RequestContext, name: str) -> Record:
    """A cluster that can take new children: not being created or deleted."""
    rec = await cluster_record(plane, ctx, name)
    status = rec.doc.get("status")
    if status in (model.CREATING, model.DELETING, model.FAILED):
        raise errors.in_use(f"Cluster {name} is in {status} state", cluster=name)
    return rec


def page_args(operation: str, params: Doc, maximum: int = 100) -> tuple[str | None, int]:
    limit = params.get("maxResults")
    if limit is not None and not 1 <= limit <= maximum:
        raise errors.invalid_parameter(f"maxResults must be between 1 and {maximum}")
    return decode_token(operation, params.get("nextToken")), int(limit or DEFAULT_PAGE)


def next_token(operation: str, after: str | None) -> str | None:
    return None if after is None else encode_token(operation, after)
