"""The one exception task-definition validation raises, naming which ECS error it becomes.

The model cannot import the API's error types (layering), so it says which ECS shape applies:
``ClientException`` for almost everything RegisterTaskDefinition rejects, and
``InvalidParameterException`` where ECS uses that instead (tags, request parameters).
"""

from __future__ import annotations

CLIENT_EXCEPTION = "ClientException"
INVALID_PARAMETER = "InvalidParameterException"


class TaskDefinitionInvalid(ValueError):
    def __init__(self, message: str, code: str = CLIENT_EXCEPTION) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
