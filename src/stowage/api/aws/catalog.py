"""The dispatch table: every ``X-Amz-Target`` the API answers, compiled from botocore models once.

For each service the model gives the target prefix (``metadata.targetPrefix``), the JSON
version (hence the content type), and the SigV4 signing name; for each operation its input and
output shapes (compiled by ``shapes``) and its error list, from which the validation error code
is chosen: the code that operation documents for bad parameters (``InvalidParameterException``
for every ECS operation), so SDKs map it to the exception class users catch.

Protocols: a model's ``protocols`` list (or, for older models, its single ``protocol``) says
which wire protocols the service speaks; the ones served here are AWS JSON (``json``) and
Smithy RPC v2 CBOR (``smithy-rpc-v2-cbor``) and the AWS query protocol (``query``). CloudWatch
lists all three: the same ``Operation`` answers ``POST /`` with ``X-Amz-Target:
GraniteServiceVersion20100801.ListMetrics``, ``POST /service/GraniteServiceVersion20100801/
operation/ListMetrics`` (both keyed ``<targetPrefix>.<Operation>``) and ``Action=ListMetrics&
Version=2010-08-01`` (keyed ``(apiVersion, Action)``). CBOR answers need their own serializer
(timestamps as tag 1, blobs as byte strings) and query ones a form decoder and an XML writer
(``query``), compiled only for the services that speak those protocols.

A model with ``awsQueryCompatible`` (CloudWatch) migrated from the query protocol: its errors
carry query-era codes (``InvalidParameterValue``) besides their shape names, and a model
validation failure is ``ValidationException`` (query code ``ValidationError``), as AWS answers;
``compat`` owns that mapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel

from stowage.api.aws.compat import QueryErrors
from stowage.api.aws.query import QueryCodec, compile_codec
from stowage.api.aws.serialize import OutputCompiler, Serializer
from stowage.api.aws.service import AwsService, Handler
from stowage.api.aws.shapes import InputCompiler, Validator
from stowage.model.aws_models import MODELS_DIR

# Preference order for the code of a model-validation failure, among those the operation lists.
_VALIDATION_CODES = (
    "InvalidParameterException",
    "ValidationException",
    "InvalidParameterValueException",
    "ClientException",
)

JSON = "json"
CBOR = "smithy-rpc-v2-cbor"
QUERY = "query"
SERVED_PROTOCOLS = (JSON, CBOR, QUERY)
"""Wire protocols this catalog serves, among those a model lists."""


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    service_name: str
    target_prefix: str
    signing_name: str
    content_type: str
    """``application/x-amz-json-1.0`` or ``-1.1``, from the model's ``jsonVersion``."""
    protocols: frozenset[str] = frozenset({JSON})
    """The served protocols the model lists (``JSON``, ``CBOR``)."""
    query_errors: QueryErrors | None = None
    """Query-era error codes, for ``awsQueryCompatible`` services only."""
    shape_namespace: str = ""
    """The Smithy namespace of the model's shapes (``com.amazonaws.cloudwatch``): CBOR errors
    name their shape by absolute id."""
    api_version: str = ""
    """The query protocol's ``Version`` (``2010-08-01``)."""
    xml_namespace: str = ""
    """The query protocol's XML namespace, from the model's ``xmlNamespace``."""


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    service: ServiceInfo
    handler: Handler
    validate: Validator | None
    """``None`` when the operation has no input shape: any JSON object is accepted as ``{}``."""
    serialize: Serializer | None
    """``None`` when the output needs no conversion; ``has_output`` False means always ``{}``."""
    has_output: bool
    validation_code: str
    serialize_cbor: Serializer | None = None
    """The output serializer for CBOR answers; ``None`` when it needs no conversion, as for
    ``serialize`` (and always for a service that does not speak CBOR)."""
    query: QueryCodec | None = None
    """Form decoding and XML writing, for a service that speaks the query protocol."""


@dataclass(frozen=True, slots=True)
class Catalog:
    operations: dict[str, Operation]
    """Full target (``Prefix.Operation``) → operation, only for operations with a handler."""
    services: dict[str, ServiceInfo]
    """Target prefix → service, to answer an unknown operation of a known service."""
    query_actions: dict[tuple[str, str], Operation]
    """(``Version``, ``Action``) → operation, for the services that speak the query protocol."""
    query_services: dict[str, ServiceInfo]
    """``Version`` → service speaking the query protocol (errors before an action is known)."""


def default_loader() -> Loader:
    """botocore's models plus stowage's own (``stowage.model.aws_models``)."""
    return Loader(extra_search_paths=[str(MODELS_DIR)])


def load_model(service_name: str, loader: Loader | None = None) -> ServiceModel:
    loader = loader or default_loader()
    return ServiceModel(loader.load_service_model(service_name, "service-2"), service_name)


def build_catalog(services: Sequence[AwsService], *, strict: bool, loader: Loader | None = None) -> Catalog:
    loader = loader or default_loader()
    operations: dict[str, Operation] = {}
    infos: dict[str, ServiceInfo] = {}
    query_actions: dict[tuple[str, str], Operation] = {}
    query_services: dict[str, ServiceInfo] = {}
    for service in services:
        model = load_model(service.service_name, loader)
        meta = model.metadata
        listed = meta.get("protocols") or [model.protocol]
        protocols = frozenset(p for p in listed if p in SERVED_PROTOCOLS)
        if not protocols:
            raise ValueError(
                f"{service.service_name}: protocols {listed!r} include none of {SERVED_PROTOCOLS}"
            )
        query_compatible = "awsQueryCompatible" in meta
        info = ServiceInfo(
            service_name=service.service_name,
            target_prefix=meta.get("targetPrefix", ""),
            signing_name=meta.get("signingName") or meta["endpointPrefix"],
            content_type=f"application/x-amz-json-{meta.get('jsonVersion', '1.0')}",
            protocols=protocols,
            query_errors=QueryErrors(model) if query_compatible else None,
            shape_namespace="com.amazonaws."
            + "".join(meta.get("serviceId", service.service_name).lower().split()),
            api_version=meta.get("apiVersion", ""),
            xml_namespace=meta.get("xmlNamespace", ""),
        )
        if protocols & {JSON, CBOR}:
            infos[info.target_prefix] = info
        if QUERY in protocols:
            query_services[info.api_version] = info
        inputs, outputs = InputCompiler(), OutputCompiler(strict=strict)
        cbor_outputs = OutputCompiler(strict=strict, wire="cbor") if CBOR in protocols else None
        unknown = set(service.handlers) - set(model.operation_names)
        if unknown:
            raise ValueError(
                f"{service.service_name}: handlers for operations not in the model: {sorted(unknown)}"
            )
        for name, handler in service.handlers.items():
            op = model.operation_model(name)
            out = op.output_shape
            compiled = Operation(
                name=name,
                service=info,
                handler=handler,
                validate=inputs.compile(op.input_shape) if op.input_shape is not None else None,
                serialize=outputs.compile(out) if out is not None else None,
                has_output=out is not None,
                validation_code="ValidationException" if query_compatible else validation_code(op),
                serialize_cbor=cbor_outputs.compile(out) if cbor_outputs and out is not None else None,
                query=_query_codec(op) if QUERY in protocols else None,
            )
            if protocols & {JSON, CBOR}:
                operations[f"{info.target_prefix}.{name}"] = compiled
            if QUERY in protocols:
                query_actions[(info.api_version, name)] = compiled
    return Catalog(operations, infos, query_actions, query_services)


def _query_codec(op: OperationModel) -> QueryCodec:
    out = op.output_shape
    wrapper = out.serialization.get("resultWrapper", f"{op.name}Result") if out is not None else ""
    return compile_codec(op.input_shape, out, wrapper)


def validation_code(op: OperationModel) -> str:
    """The code of a model-validation failure for an AWS JSON service: the one the operation lists.

    (An ``awsQueryCompatible`` service answers ``ValidationException`` instead, whose query
    code ``ValidationError`` is what CloudWatch has always answered for constraint failures.)
    """
    listed = {shape.name for shape in op.error_shapes}
    return next((code for code in _VALIDATION_CODES if code in listed), "ValidationException")
