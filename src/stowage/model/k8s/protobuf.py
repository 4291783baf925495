"""Decoding of Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``).

kubectl's generators (``kubectl create configmap|secret|namespace|serviceaccount|job|deployment``,
``create service``, ``autoscale``) send typed objects as protobuf, and client-go does not fall
back to JSON (a 415 is final). We decode the few messages the
served types need, by field number (from k8s.io/api and apimachinery ``generated.proto``), into
the same JSON document the JSON path would have produced. Responses are always JSON.

Envelope: the bytes ``k8s\\x00`` then a ``runtime.Unknown`` (1: TypeMeta{1: apiVersion,
2: kind}, 2: raw, 3: contentEncoding, 4: contentType); ``raw`` is the object message.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from stowage.model.k8s.errors import K8sError

MAGIC = b"k8s\x00"

# field number -> (json name, type); types: str, bytes, int, int0 (a Go non-pointer int: JSON
# omits a zero), bool, time (the zero time is omitted, as JSON's null), strmap, bytesmap,
# strlist, intorstr (an IntOrString as int or str), msg:<Name>, msglist:<Name>
Table = dict[int, tuple[str, str]]

MESSAGES: dict[str, Table] = {
    "ObjectMeta": {
        1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"), 4: ("selfLink", "str"),
        5: ("uid", "str"), 6: ("resourceVersion", "str"), 7: ("generation", "int0"),
        8: ("creationTimestamp", "time"), 9: ("deletionTimestamp", "time"),
        10: ("deletionGracePeriodSeconds", "int"), 11: ("labels", "strmap"), 12: ("annotations", "strmap"),
        13: ("ownerReferences", "msglist:OwnerReference"), 14: ("finalizers", "strlist"),
    },
    "OwnerReference": {
        1: ("kind", "str"), 3: ("name", "str"), 4: ("uid", "str"), 5: ("apiVersion", "str"),
        6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool"),
    },
    "ObjectReference": {
        1: ("kind", "str"), 2: ("namespace", "str"), 3: ("name", "str"), 4: ("uid", "str"),
        5: ("apiVersion", "str"), 6: ("resourceVersion", "str"), 7: ("fieldPath", "str"),
    },
    "LocalObjectReference": {1: ("name", "str")},
    "ConfigMap": {
        1: ("metadata", "msg:ObjectMeta"), 2: ("data", "strmap"), 3: ("binaryData", "bytesmap"),
        4: ("immutable", "bool"),
    },
    "Secret": {
        1: ("metadata", "msg:ObjectMeta"), 2: ("data", "bytesmap"), 3: ("type", "str"),
        4: ("stringData", "strmap"), 5: ("immutable", "bool"),
    },
    "Namespace": {
        1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:NamespaceSpec"),
        3: ("status", "msg:NamespaceStatus"),
    },
    "NamespaceSpec": {1: ("finalizers", "strlist")},
    "NamespaceStatus": {1: ("phase", "str")},
    "ServiceAccount": {
        1: ("metadata", "msg:ObjectMeta"), 2: ("secrets", "msglist:ObjectReference"),
        3: ("imagePullSecrets", "msglist:LocalObjectReference"), 4: ("automountServiceAccountToken", "bool"),
    },
    # batch/v1 Job (``kubectl create job``), with the pod template parts that command fills in
    "Job": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:JobSpec")},
    "JobSpec": {
        1: ("parallelism", "int"), 2: ("completions", "int"), 3: ("activeDeadlineSeconds", "int"),
        4: ("selector", "msg:LabelSelector"), 5: ("manualSelector", "bool"),
        6: ("template", "msg:PodTemplateSpec"), 7: ("backoffLimit", "int"),
        8: ("ttlSecondsAfterFinished", "int"), 9: ("completionMode", "str"), 10: ("suspend", "bool"),
        12: ("backoffLimitPerIndex", "int"), 13: ("maxFailedIndexes", "int"),
        14: ("podReplacementPolicy", "str"), 15: ("managedBy", "str"),
    },
    "LabelSelector": {
        1: ("matchLabels", "strmap"), 2: ("matchExpressions", "msglist:LabelSelectorRequirement"),
    },
    "LabelSelectorRequirement": {1: ("key", "str"), 2: ("operator", "str"), 3: ("values", "strlist")},
    "PodTemplateSpec": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:PodSpec")},
    "PodSpec": {
        2: ("containers", "msglist:Container"), 3: ("restartPolicy", "str"),
        4: ("terminationGracePeriodSeconds", "int"), 5: ("activeDeadlineSeconds", "int"),
        6: ("dnsPolicy", "str"), 7: ("nodeSelector", "strmap"), 8: ("serviceAccountName", "str"),
        10: ("nodeName", "str"), 20: ("initContainers", "msglist:Container"),
    },
    "Container": {
        1: ("name", "str"), 2: ("image", "str"), 3: ("command", "strlist"), 4: ("args", "strlist"),
        5: ("workingDir", "str"), 6: ("ports", "msglist:ContainerPort"), 7: ("env", "msglist:EnvVar"),
        13: ("terminationMessagePath", "str"), 14: ("imagePullPolicy", "str"),
        20: ("terminationMessagePolicy", "str"),
    },
    "ContainerPort": {
        1: ("name", "str"), 2: ("hostPort", "int0"), 3: ("containerPort", "int0"), 4: ("protocol", "str"),
        5: ("hostIP", "str"),
    },
    "EnvVar": {1: ("name", "str"), 2: ("value", "str")},
    # apps/v1 Deployment (``kubectl create deployment``)
    "Deployment": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:DeploymentSpec")},
    "DeploymentSpec": {
        1: ("replicas", "int"), 2: ("selector", "msg:LabelSelector"), 3: ("template", "msg:PodTemplateSpec"),
        4: ("strategy", "msg:DeploymentStrategy"), 5: ("minReadySeconds", "int0"),
        6: ("revisionHistoryLimit", "int"), 7: ("paused", "bool"), 9: ("progressDeadlineSeconds", "int"),
    },
    "DeploymentStrategy": {1: ("type", "str"), 2: ("rollingUpdate", "msg:RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "intorstr"), 2: ("maxSurge", "intorstr")},
    # core/v1 Service (``kubectl create service clusterip|nodeport|loadbalancer|externalname``)
    "Service": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:ServiceSpec")},
    "ServiceSpec": {
        1: ("ports", "msglist:ServicePort"), 2: ("selector", "strmap"), 3: ("clusterIP", "str"),
        4: ("type", "str"), 5: ("externalIPs", "strlist"), 7: ("sessionAffinity", "str"),
        8: ("loadBalancerIP", "str"), 9: ("loadBalancerSourceRanges", "strlist"),
        10: ("externalName", "str"), 11: ("externalTrafficPolicy", "str"),
        12: ("healthCheckNodePort", "int"), 13: ("publishNotReadyAddresses", "bool"),
        17: ("ipFamilyPolicy", "str"), 18: ("clusterIPs", "strlist"), 19: ("ipFamilies", "strlist"),
        20: ("allocateLoadBalancerNodePorts", "bool"), 21: ("loadBalancerClass", "str"),
        22: ("internalTrafficPolicy", "str"),
    },
    "ServicePort": {
        1: ("name", "str"), 2: ("protocol", "str"), 3: ("port", "int"), 4: ("targetPort", "intorstr"),
        5: ("nodePort", "int"), 6: ("appProtocol", "str"),
    },
    # autoscaling/v1 and v2 HorizontalPodAutoscaler (``kubectl autoscale``): named
    # "<apiVersion>:<kind>" as the two versions number their fields differently
    "autoscaling/v1:HorizontalPodAutoscaler": {
        1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:HPAv1Spec"),
    },
    "HPAv1Spec": {
        1: ("scaleTargetRef", "msg:CrossVersionObjectReference"), 2: ("minReplicas", "int"),
        3: ("maxReplicas", "int"), 4: ("targetCPUUtilizationPercentage", "int"),
    },
    "CrossVersionObjectReference": {1: ("kind", "str"), 2: ("name", "str"), 3: ("apiVersion", "str")},
    "autoscaling/v2:HorizontalPodAutoscaler": {
        1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:HPAv2Spec"),
    },
    "HPAv2Spec": {
        1: ("scaleTargetRef", "msg:CrossVersionObjectReference"), 2: ("minReplicas", "int"),
        3: ("maxReplicas", "int"), 4: ("metrics", "msglist:MetricSpec"),
        5: ("behavior", "msg:HorizontalPodAutoscalerBehavior"),
    },
    "MetricSpec": {
        1: ("type", "str"), 4: ("resource", "msg:ResourceMetricSource"),
        7: ("containerResource", "msg:ContainerResourceMetricSource"),
    },
    "ResourceMetricSource": {1: ("name", "str"), 2: ("target", "msg:MetricTarget")},
    "ContainerResourceMetricSource": {
        1: ("name", "str"), 2: ("target", "msg:MetricTarget"), 3: ("container", "str"),
    },
    "MetricTarget": {
        1: ("type", "str"), 2: ("value", "quantity"), 3: ("averageValue", "quantity"),
        4: ("averageUtilization", "int"),
    },
    "HorizontalPodAutoscalerBehavior": {
        1: ("scaleUp", "msg:HPAScalingRules"), 2: ("scaleDown", "msg:HPAScalingRules"),
    },
    "HPAScalingRules": {
        3: ("stabilizationWindowSeconds", "int"), 1: ("selectPolicy", "str"),
        2: ("policies", "msglist:HPAScalingPolicy"),
    },
    "HPAScalingPolicy": {1: ("type", "str"), 2: ("value", "int"), 3: ("periodSeconds", "int")},
    "Quantity": {1: ("string", "str")},
    "IntOrString": {1: ("type", "int"), 2: ("intVal", "int"), 3: ("strVal", "str")},
    "Time": {1: ("seconds", "int"), 2: ("nanos", "int")},
    "Unknown": {
        1: ("typeMeta", "msg:TypeMeta"), 2: ("raw", "raw"),
        3: ("contentEncoding", "str"), 4: ("contentType", "str"),
    },
    "TypeMeta": {1: ("apiVersion", "str"), 2: ("kind", "str")},
    "MapEntry": {1: ("key", "raw"), 2: ("value", "raw")},
}  # fmt: skip


def _bad(message: str) -> K8sError:
    return K8sError(400, "BadRequest", f"error decoding protobuf body: {message}")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _bad("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) in order; value is int or bytes."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise _bad("truncated field")
            value, pos = data[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == 5:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise _bad(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _text(value: Any) -> str:
    if not isinstance(value, bytes):
        raise _bad("expected a length-delimited string")
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise _bad("invalid UTF-8") from None


def decode_message(data: bytes, name: str) -> dict[str, Any]:
    table = MESSAGES[name]
    out: dict[str, Any] = {}
    for number, _wire, value in _fields(data):
        spec = table.get(number)
        if spec is None:
            continue  # a field we do not serve: dropped, as unknown JSON fields are without Strict
        key, kind = spec
        if kind == "str":
            text = _text(value)
            if text:  # gogo-protobuf writes empty strings; JSON would have omitted them
                out[key] = text
        elif kind == "raw":
            out[key] = value
        elif kind in ("int", "int0"):
            integer = value - (1 << 64) if isinstance(value, int) and value >= 1 << 63 else value
            if integer or kind == "int":
                out[key] = integer
        elif kind == "bool":
            out[key] = bool(value)
        elif kind == "time":
            t = decode_message(value, "Time")
            if t.get("seconds") or t.get("nanos"):
                out[key] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t.get("seconds", 0))))
        elif kind in ("strmap", "bytesmap"):
            entry = decode_message(value, "MapEntry")
            raw_value = entry.get("value", b"")
            out.setdefault(key, {})[_text(entry.get("key", b""))] = (
                _text(raw_value) if kind == "strmap" else base64.b64encode(raw_value).decode()
            )
        elif kind == "strlist":
            out.setdefault(key, []).append(_text(value))
        elif kind == "quantity":
            out[key] = decode_message(value, "Quantity").get("string", "0")
        elif kind == "intorstr":
            ios = decode_message(value, "IntOrString")
            out[key] = ios.get("strVal", "") if ios.get("type") == 1 else ios.get("intVal", 0)
        elif kind.startswith("msg:"):
            out[key] = decode_message(value, kind[4:])
        elif kind.startswith("msglist:"):
            out.setdefault(key, []).append(decode_message(value, kind[8:]))
    return out


def decode_object(body: bytes) -> dict[str, Any]:
    """A protobuf-encoded Kubernetes object as its JSON document."""
    if not body.startswith(MAGIC):
        raise _bad("missing the k8s protobuf prefix")
    envelope = decode_message(body[len(MAGIC) :], "Unknown")
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    versioned = f"{type_meta.get('apiVersion', '')}:{kind}"
    if versioned in MESSAGES:
        obj = decode_message(envelope.get("raw", b""), versioned)
        obj["apiVersion"], obj["kind"] = type_meta.get("apiVersion", ""), kind
        return obj
    if kind not in MESSAGES or kind in ("Unknown", "TypeMeta", "MapEntry", "Time"):
        raise K8sError(
            415, "UnsupportedMediaType", f"protobuf is not supported for {kind or 'this kind'}; send JSON"
        )
    obj = decode_message(envelope.get("raw", b""), kind)
    obj["apiVersion"] = type_meta.get("apiVersion", "")
    obj["kind"] = kind
    return obj
