"""Error codes of ``awsQueryCompatible`` services (CloudWatch): one error, two names.

CloudWatch was a query-protocol service (``<Code>InvalidParameterValue</Code>``) before it
spoke AWS JSON and CBOR. Its model keeps both names of each error: the shape name
(``InvalidParameterValueException``), which goes in the JSON/CBOR ``__type``, and the query code
(``error.code`` in the model: ``InvalidParameterValue``), which AWS sends in the
``x-amzn-query-error: <Code>;<Sender|Receiver>`` header. botocore reads that header and reports
the query code as ``ClientError.response["Error"]["Code"]`` (and raises the modeled exception
class, e.g. ``client.exceptions.InvalidParameterValueException``), so scripts written against
the query API keep matching the codes they always matched.

**Convention for handler authors.** Raise ``AwsError`` with either name; both resolve to the
same error, on every protocol::

    raise AwsError("InvalidParameterValue", "The value -1 for parameter Period is invalid.")
    raise AwsError("InvalidParameterValueException", "...")   # the same answer

The HTTP status comes from the model (``ResourceNotFound`` is 404, ``LimitExceeded`` 400,
``InternalServiceError`` 500) whatever ``status`` the handler passed. A code the model does not
know is sent as it is (``__type`` and query code alike), with the handler's status. Errors the
protocol layer raises itself (SigV4, validation, unknown operations) get the codes the query
protocol always used for them: ``ValidationError``, ``InvalidClientTokenId``,
``SignatureDoesNotMatch``, ``MissingAuthenticationToken``, ``IncompleteSignature``,
``InvalidAction``, ``Throttling``, ``InternalFailure``.

(Where two shapes share a query code, e.g. CloudWatch's ``ResourceNotFound`` and
``DashboardNotFoundError``, the shape named like the code wins: clients key on the code.)
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.model import ServiceModel

from stowage.api.aws.errors import AwsError


@dataclass(frozen=True, slots=True)
class ErrorForm:
    """How one error goes on the wire for a query-compatible service."""

    shape: str
    """The error shape's name: the JSON/CBOR ``__type``."""
    query_code: str
    """The query-era code: ``x-amzn-query-error``, the query protocol's ``<Code>``."""
    sender: bool
    """``Sender`` (the caller's fault) or ``Receiver`` (the service's)."""
    status: int

    @property
    def header(self) -> str:
        return f"{self.query_code};{'Sender' if self.sender else 'Receiver'}"


# The protocol layer's own errors, by the AWS JSON code it raises, and their query codes.
_FRAMEWORK_CODES = {
    "ValidationException": "ValidationError",
    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
    "IncompleteSignatureException": "IncompleteSignature",
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "UnrecognizedClientException": "InvalidClientTokenId",
    "UnknownOperationException": "InvalidAction",
    "ThrottlingException": "Throttling",
    "ServerException": "InternalFailure",
}


class QueryErrors:
    """Every error name a handler may raise → its ``ErrorForm``, compiled from one model."""

    def __init__(self, model: ServiceModel) -> None:
        self._forms: dict[str, ErrorForm] = {}
        for shape, query in _FRAMEWORK_CODES.items():
            form = ErrorForm(shape, query, sender=shape != "ServerException", status=0)
            self._forms[shape] = self._forms[query] = form
        by_code: dict[str, ErrorForm] = {}
        for shape in model.error_shapes:
            error = shape.metadata.get("error") or {}
            status = int(error.get("httpStatusCode") or 0)
            sender = bool(error.get("senderFault", status < 500))
            form = ErrorForm(shape.name, error.get("code") or shape.name, sender, status)
            self._forms[shape.name] = form
            if form.query_code not in by_code or form.query_code == shape.name:
                by_code[form.query_code] = form
        for code, form in by_code.items():
            self._forms.setdefault(code, form)

    def resolve(self, err: AwsError) -> ErrorForm:
        """The wire form of ``err``: model status when the model has one, else ``err.status``."""
        form = self._forms.get(err.code)
        if form is None:
            return ErrorForm(err.code, err.code, err.status < 500, err.status)
        if form.status:
            return form
        return ErrorForm(form.shape, form.query_code, form.sender, err.status)
