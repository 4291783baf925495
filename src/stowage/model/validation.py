"""The one exception pure ECS model helpers raise when a request breaks a rule.

Its message is written for the API user; the ECS facade answers it as an
``InvalidParameterException`` (or the code the operation documents for that rule).
"""

from __future__ import annotations


class Invalid(ValueError):
    """A value breaks an ECS rule; ``str(exc)`` is the message to return."""
