"""CloudWatch Logs' error answers, with its wording, and the mapping from log store errors.

The codes are shape names in botocore's ``logs`` model, so boto3 raises
``client.exceptions.<Code>`` for each.
"""

from __future__ import annotations

from stowage.api.aws.errors import AwsError
from stowage.logstore import GroupExists, GroupNotFound, LogStoreError, StreamExists, StreamNotFound

GROUP_NOT_FOUND = "The specified log group does not exist."
STREAM_NOT_FOUND = "The specified log stream does not exist."
GROUP_EXISTS = "The specified log group already exists"
STREAM_EXISTS = "The specified log stream already exists"


def invalid_parameter(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


def resource_not_found(message: str = GROUP_NOT_FOUND) -> AwsError:
    return AwsError("ResourceNotFoundException", message)


def resource_already_exists(message: str) -> AwsError:
    return AwsError("ResourceAlreadyExistsException", message)


def too_many_tags() -> AwsError:
    return AwsError("TooManyTagsException", "A resource can have no more than 50 tags.")


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def invalid_token() -> AwsError:
    return invalid_parameter("The specified nextToken is invalid.")


def from_store(err: LogStoreError) -> AwsError:
    """The answer CloudWatch Logs gives for a log store error."""
    if isinstance(err, GroupNotFound):
        return resource_not_found(GROUP_NOT_FOUND)
    if isinstance(err, StreamNotFound):
        return resource_not_found(STREAM_NOT_FOUND)
    if isinstance(err, GroupExists):
        return resource_already_exists(GROUP_EXISTS)
    if isinstance(err, StreamExists):
        return resource_already_exists(STREAM_EXISTS)
    return AwsError("ServiceUnavailableException", "The service cannot complete the request.", 503)
