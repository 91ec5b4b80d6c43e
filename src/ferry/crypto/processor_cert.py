"""The OpenDSR processor identity: an RSA key and a self-signed X.509 certificate.

Callbacks and answers are signed with RSA PKCS#1 v1.5 over SHA-256 of the raw body, base64 in
``X-OpenDSR-Signature`` (what OpenGDPR/OpenDSR implementations verify). The certificate is
published at the URL discovery names. Made once into ``var/keys/opendsr/`` (key mode 0600); an
operator may put a CA-issued pair there instead.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class ProcessorKey:
    private: rsa.RSAPrivateKey
    certificate_pem: bytes

    def sign(self, body: bytes) -> str:
        raw = self.private.sign(body, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode()


def load(var_dir: Path, domain: str) -> ProcessorKey:
    folder = var_dir / "keys" / "opendsr"
    key_path, cert_path = folder / "processor.key", folder / "processor.crt"
    if not key_path.exists() or not cert_path.exists():
        _create(folder, key_path, cert_path, domain)
    private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return ProcessorKey(private, cert_path.read_bytes())


def _create(folder: Path, key_path: Path, cert_path: Path, domain: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain or "ferry.localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=825))
        .sign(key, hashes.SHA256())
    )
    tmp = key_path.with_suffix(".tmp")
    tmp.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    tmp.chmod(0o600)
    tmp.replace(key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def verify(certificate_pem: bytes, body: bytes, signature_b64: str) -> bool:
    """True when ``signature_b64`` is the certificate holder's signature of ``body``."""
    public = x509.load_pem_x509_certificate(certificate_pem).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    try:
        public.verify(base64.b64decode(signature_b64), body, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True
