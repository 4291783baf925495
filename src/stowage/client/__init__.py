"""An async HTTP client for the control plane's AWS JSON APIs (ECS, CloudWatch Logs, the agent
channel): SigV4-signed, pooled, retrying only what may succeed later. Used by the agent and the
CLI; it knows nothing of the server's internals."""

from stowage.client.errors import ApiError, ClientError, EndpointUnavailableError, is_transient
from stowage.client.json_client import AwsJsonClient, RetryPolicy
from stowage.client.session import ControlPlaneClients, credentials_from_env, region_from_env

__all__ = [
    "ApiError",
    "AwsJsonClient",
    "ClientError",
    "ControlPlaneClients",
    "EndpointUnavailableError",
    "RetryPolicy",
    "credentials_from_env",
    "is_transient",
    "region_from_env",
]
