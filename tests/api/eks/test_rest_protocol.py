"""The REST-JSON protocol layer (``api/aws/rest``) as EKS uses it, over raw signed HTTP: routing by
method and path (labels percent-decoded per segment, literals before labels), members from the
query string, and error answers in REST-JSON's shape (``x-amzn-ErrorType`` + ``message``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from stowage.api.aws.rest import RestCatalog
from stowage.api.aws.service import AwsService
from tests.api.eks.support import EksEnv, create_cluster, unique
from tests.support.server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY


def _send(env: EksEnv, method: str, path: str, body: bytes = b"", *, sign: str | None = "eks") -> Any:
    url = env.plane.endpoint + path
    headers = {"Content-Type": "application/json"}
    if sign is not None:
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), sign, REGION).add_auth(request)
        headers = dict(request.headers.items())
    raw = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(raw, timeout=30) as response:
            return response.status, _lower(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, _lower(err.headers), json.loads(err.read() or b"{}")


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_routes_and_errors_over_raw_http(env: EksEnv, eks: Any) -> None:
    name = unique("raw")
    arn = create_cluster(eks, name, tags={"k": "v"})["arn"]
    status, headers, body = _send(env, "GET", f"/clusters/{name}")
    assert status == 200 and body["cluster"]["name"] == name
    assert headers["content-type"] == "application/json" and headers["x-amzn-requestid"]
    # an ARN label arrives as one percent-encoded segment
    status, _, body = _send(env, "GET", "/tags/" + urllib.request.quote(arn, safe=""))
    assert (status, body) == (200, {"tags": {"k": "v"}})
    # query members are typed by the model
    status, headers, body = _send(env, "GET", "/clusters?maxResults=abc")
    assert status == 400 and headers["x-amzn-errortype"] == "SerializationException"
    status, headers, body = _send(env, "GET", "/clusters?maxResults=0")
    assert status == 400 and headers["x-amzn-errortype"] == "InvalidParameterException"
    assert "maxResults" in body["message"]
    # not found, with the modeled member
    status, headers, body = _send(env, "GET", "/clusters/absent")
    assert (status, headers["x-amzn-errortype"]) == (404, "ResourceNotFoundException")
    assert body == {"message": "No cluster found for name: absent.", "clusterName": "absent"}
    # unsigned, signed for another service, unknown path, wrong method, bad JSON
    status, headers, body = _send(env, "GET", "/clusters", sign=None)
    assert (status, headers["x-amzn-errortype"]) == (403, "MissingAuthenticationTokenException")
    status, headers, _ = _send(env, "GET", "/clusters", sign="ecs")
    assert (status, headers["x-amzn-errortype"]) == (403, "InvalidSignatureException")
    status, headers, _ = _send(env, "GET", "/no-such-thing")
    assert (status, headers["x-amzn-errortype"]) == (404, "UnknownOperationException")
    status, headers, _ = _send(env, "PUT", "/clusters")
    assert (status, headers["x-amzn-errortype"]) == (405, "UnknownOperationException")
    status, headers, _ = _send(env, "POST", "/clusters", b"{not json")
    assert (status, headers["x-amzn-errortype"]) == (400, "SerializationException")
    status, headers, body = _send(env, "POST", "/clusters", b"{}")
    assert (status, headers["x-amzn-errortype"]) == (400, "InvalidParameterException")
    assert body["message"].startswith("3 validation errors detected")
    eks.delete_cluster(name=name)


async def _noop(_ctx: Any, _params: Any) -> dict[str, Any]:
    return {}


def test_catalog_prefers_literal_segments_and_decodes_labels() -> None:
    catalog = RestCatalog(
        [
            AwsService(
                "eks",
                {
                    "ListUpdates": _noop,
                    "DescribeUpdate": _noop,
                    "AssociateAccessPolicy": _noop,
                    "DescribeCluster": _noop,
                    "ListClusters": _noop,
                },
            )
        ],
        strict=True,
    )
    op, labels = catalog.match("GET", "/clusters/demo/updates")
    assert (op.name, labels) == ("ListUpdates", {"name": "demo"})
    op, labels = catalog.match("GET", "/clusters/demo/updates/u-1")
    assert (op.name, labels) == ("DescribeUpdate", {"name": "demo", "updateId": "u-1"})
    op, labels = catalog.match(
        "POST", "/clusters/demo/access-entries/arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%2Fb/access-policies"
    )
    assert op.name == "AssociateAccessPolicy"
    assert labels == {"clusterName": "demo", "principalArn": "arn:aws:iam::1:role/a/b"}
    assert catalog.match("GET", "/clusters/")[0].name == "ListClusters"
