"""EKS's error answers: one helper per error shape of botocore's EKS model, with EKS's wording
and the members EKS fills in (``clusterName``, ``nodegroupName``, ``fargateProfileName``), which
boto3 exposes on the exception's response."""

from __future__ import annotations

from stowage.api.aws.rest import RestError


def invalid_parameter(
    message: str, *, cluster: str | None = None, nodegroup: str | None = None, profile: str | None = None
) -> RestError:
    return RestError(
        "InvalidParameterException",
        message,
        400,
        clusterName=cluster,
        nodegroupName=nodegroup,
        fargateProfileName=profile,
    )


def invalid_request(message: str, *, cluster: str | None = None, nodegroup: str | None = None) -> RestError:
    return RestError("InvalidRequestException", message, 400, clusterName=cluster, nodegroupName=nodegroup)


def in_use(message: str, *, cluster: str | None = None, nodegroup: str | None = None) -> RestError:
    return RestError("ResourceInUseException", message, 409, clusterName=cluster, nodegroupName=nodegroup)


def limit_exceeded(message: str, *, cluster: str | None = None, nodegroup: str | None = None) -> RestError:
    return RestError(
        "ResourceLimitExceededException", message, 400, clusterName=cluster, nodegroupName=nodegroup
    )


def not_found(
    message: str, *, cluster: str | None = None, nodegroup: str | None = None, profile: str | None = None
) -> RestError:
    return RestError(
        "ResourceNotFoundException",
        message,
        404,
        clusterName=cluster,
        nodegroupName=nodegroup,
        fargateProfileName=profile,
    )


def cluster_not_found(name: str) -> RestError:
    return not_found(f"No cluster found for name: {name}.", cluster=name)


def bad_request(message: str) -> RestError:
    """The tagging operations' own 400 (they answer BadRequestException, not InvalidParameter)."""
    return RestError("BadRequestException", message, 400)


def tag_target_not_found(arn: str) -> RestError:
    return RestError("NotFoundException", f"Resource {arn} was not found", 404)
