"""ECS's error answers: one helper per ``__type`` the ECS model declares, with ECS's wording.

Every helper returns an ``AwsError`` for the handler to raise. The codes are the shape names in
botocore's ECS model, so boto3 raises ``client.exceptions.<Code>`` for each of them.
"""

from __future__ import annotations

from stowage.api.aws.errors import AwsError


def client_exception(message: str) -> AwsError:
    return AwsError("ClientException", message)


def invalid_parameter(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


def cluster_not_found(message: str = "Cluster not found.") -> AwsError:
    return AwsError("ClusterNotFoundException", message)


def cluster_contains_services() -> AwsError:
    return AwsError(
        "ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active."
    )


def cluster_contains_tasks() -> AwsError:
    return AwsError("ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")


def cluster_contains_container_instances() -> AwsError:
    return AwsError(
        "ClusterContainsContainerInstancesException",
        "The Cluster cannot be deleted while Container Instances are active or draining.",
    )


def resource_not_found(message: str = "The specified resource could not be found.") -> AwsError:
    return AwsError("ResourceNotFoundException", message)


def resource_in_use(message: str = "The specified resource is in-use and cannot be removed.") -> AwsError:
    return AwsError("ResourceInUseException", message)


def update_in_progress(message: str) -> AwsError:
    return AwsError("UpdateInProgressException", message)


def limit_exceeded(message: str) -> AwsError:
    return AwsError("LimitExceededException", message)


def access_denied(message: str) -> AwsError:
    return AwsError("AccessDeniedException", message)


def target_not_found(message: str) -> AwsError:
    return AwsError("TargetNotFoundException", message)


def attribute_limit_exceeded(message: str) -> AwsError:
    return AwsError("AttributeLimitExceededException", message)


def unsupported_feature(message: str) -> AwsError:
    return AwsError("UnsupportedFeatureException", message)


def namespace_not_found(message: str) -> AwsError:
    return AwsError("NamespaceNotFoundException", message)


def service_not_found() -> AwsError:
    return AwsError("ServiceNotFoundException", "Service not found.")


def service_not_active() -> AwsError:
    return AwsError("ServiceNotActiveException", "Service was not ACTIVE.")
