"""The dispatch table: every ``X-Amz-Target`` the API answers, compiled from botocore models once.

For each service the model gives the target prefix (``metadata.targetPrefix``), the JSON
version (hence the content type), and the SigV4 signing name; for each operation its input and
output shapes (compiled by ``shapes``) and its error list, from which the validation error code
is chosen: the code that operation documents for bad parameters (``InvalidParameterException``
for every ECS operation), so SDKs map it to the exception class users catch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel

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


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    service_name: str
    target_prefix: str
    signing_name: str
    content_type: str
    """``application/x-amz-json-1.0`` or ``-1.1``, from the model's ``jsonVersion``."""


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


@dataclass(frozen=True, slots=True)
class Catalog:
    operations: dict[str, Operation]
    """Full target (``Prefix.Operation``) → operation, only for operations with a handler."""
    services: dict[str, ServiceInfo]
    """Target prefix → service, to answer an unknown operation of a known service."""


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
    for service in services:
        model = load_model(service.service_name, loader)
        if model.protocol != "json":
            raise ValueError(f"{service.service_name}: protocol {model.protocol!r} is not AWS JSON")
        meta = model.metadata
        info = ServiceInfo(
            service_name=service.service_name,
            target_prefix=meta["targetPrefix"],
            signing_name=meta.get("signingName") or meta["endpointPrefix"],
            content_type=f"application/x-amz-json-{meta.get('jsonVersion', '1.0')}",
        )
        infos[info.target_prefix] = info
        inputs, outputs = InputCompiler(), OutputCompiler(strict=strict)
        unknown = set(service.handlers) - set(model.operation_names)
        if unknown:
            raise ValueError(
                f"{service.service_name}: handlers for operations not in the model: {sorted(unknown)}"
            )
        for name, handler in service.handlers.items():
            op = model.operation_model(name)
            operations[f"{info.target_prefix}.{name}"] = Operation(
                name=name,
                service=info,
                handler=handler,
                validate=inputs.compile(op.input_shape) if op.input_shape is not None else None,
                serialize=outputs.compile(op.output_shape) if op.output_shape is not None else None,
                has_output=op.output_shape is not None,
                validation_code=validation_code(op),
            )
    return Catalog(operations, infos)


def validation_code(op: OperationModel) -> str:
    listed = {shape.name for shape in op.error_shapes}
    return next((code for code in _VALIDATION_CODES if code in listed), "ValidationException")
