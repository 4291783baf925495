"""The Kubernetes listener's credentials, made at first start and kept in the data dir:
a CA, a serving certificate for 127.0.0.1/localhost (and the configured host) signed by it,
a static admin bearer token, and a kubeconfig that trusts the CA and carries the token.
``new_ca`` and ``issue_serving`` make the same in memory (each EKS cluster's own CA and
listener certificate, ``api/eks/listener``).

kubectl sends bearer tokens only over TLS, hence HTTPS even on localhost.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

K8S_DIR = "k8s"
KUBECONFIG_FILE = "kubeconfig"
CONTEXT = "stowage"


@dataclass(frozen=True)
class K8sCredentials:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    token: str


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _names(host: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    if host and host not in ("127.0.0.1", "localhost", "0.0.0.0", "::"):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def new_ca(common_name: str = "stowage-kubernetes-ca") -> tuple[bytes, bytes]:
    """A self-signed CA: ``(key PEM, certificate PEM)``, in memory."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def issue_serving(
    ca_key_pem: bytes, ca_cert_pem: bytes, host: str, extra_dns: tuple[str, ...] = ()
) -> tuple[bytes, bytes]:
    """A serving certificate signed by the CA for localhost, 127.0.0.1, ::1, ``host`` and
    ``extra_dns``: ``(key PEM, certificate PEM)``, in memory."""
    ca_key = serialization.load_pem_private_key(ca_key_pem, None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise RuntimeError("the CA key is not an EC key")
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = _names(host)
    names += [x509.DNSName(d) for d in extra_dns if d and x509.DNSName(d) not in names]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def _make_ca(directory: Path) -> None:
    key, cert = new_ca()
    _write_private(directory / "ca.key", key)
    (directory / "ca.crt").write_bytes(cert)


def _make_serving(directory: Path, host: str) -> None:
    key, cert = issue_serving((directory / "ca.key").read_bytes(), (directory / "ca.crt").read_bytes(), host)
    _write_private(directory / "server.key", key)
    (directory / "server.crt").write_bytes(cert)
    (directory / "server.host").write_text(host)


def ensure_credentials(data_dir: Path, host: str) -> K8sCredentials:
    """Create what is missing; keep what exists (a restart keeps the CA, token, kubeconfig)."""
    directory = data_dir / K8S_DIR
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "ca.crt").exists() or not (directory / "ca.key").exists():
        _make_ca(directory)
        (directory / "server.crt").unlink(missing_ok=True)
    host_file = directory / "server.host"
    if (
        not (directory / "server.crt").exists()
        or (host_file.read_text() if host_file.exists() else "") != host
    ):
        _make_serving(directory, host)
    token_file = directory / "token"
    if not token_file.exists():
        _write_private(token_file, secrets.token_urlsafe(32).encode())
    return K8sCredentials(
        directory / "ca.crt",
        directory / "server.crt",
        directory / "server.key",
        token_file.read_text().strip(),
    )


def kubeconfig_path(data_dir: Path) -> Path:
    return data_dir / KUBECONFIG_FILE


def write_kubeconfig(data_dir: Path, creds: K8sCredentials, server_url: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CONTEXT, "cluster": {"server": server_url, "certificate-authority": str(creds.ca_cert)}}
        ],
        "users": [{"name": "stowage-admin", "user": {"token": creds.token}}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": "stowage-admin", "namespace": "default"},
            }
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }
    path = kubeconfig_path(data_dir)
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
    return path
