"""A self-signed certificate for the emulator's optional TLS listener.

Some real clients only accept ``https://`` URLs from a server: google-genai's ``files.download(file=video)``
extracts the file id only from an ``https://`` URI, the ``replicate`` client wraps only ``https:`` outputs in
``FileOutput``, and ``fal-client`` builds ``https://{FAL_QUEUE_RUN_HOST}`` URLs. With TLS on, the emulator serves
HTTPS with a certificate generated here for the loopback names, and clients trust it by configuration alone:
``SSL_CERT_FILE=<cert.pem>`` (httpx, requests, google-genai) or an explicit ``verify=`` context.

The certificate is its own CA (``CA:TRUE``, key usage for both roles), so the one PEM file is the trust anchor.
It is generated once per directory and reused while it is valid and covers the host, so a restarted emulator
keeps the file clients were pointed at.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_NAME = "emulator-cert.pem"
KEY_NAME = "emulator-key.pem"
VALID_DAYS = 365
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    cert: Path  # also the CA file clients trust (SSL_CERT_FILE)
    key: Path


def ensure_certificate(directory: Path, host: str) -> TlsFiles:
    """The certificate in ``directory`` for ``host`` (and the loopback names), made if missing or unfit."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / CERT_NAME, directory / KEY_NAME)
    names = _names(host)
    if files.cert.is_file() and files.key.is_file() and _fits(files, names):
        return files
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "veokit emulator (self-signed)")])
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write(files.key, key_pem, mode=0o600)
    _write(files.cert, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return files


def _names(host: str) -> list[str]:
    names = list(_LOOPBACK)
    if host and host not in names and host not in ("0.0.0.0", "::"):
        names.append(host)
    return names


def _fits(files: TlsFiles, names: list[str]) -> bool:
    """The pair on disk is usable: the key matches, the names are covered, and it is valid for a day more."""
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, x509.ExtensionNotFound, OSError):
        return False
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        return False
    have = {str(v) for v in sans.get_values_for_type(x509.IPAddress)} | set(sans.get_values_for_type(x509.DNSName))
    fresh = cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=1)
    return fresh and all(str(ipaddress.ip_address(n)) in have if _is_ip(n) else n in have for n in names)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _write(path: Path, data: bytes, *, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)
