"""OPC UA security (asyncua): Basic256Sha256 Sign / SignAndEncrypt, certificates, trust lists, users.

Certificates that are named but missing are generated on first use (self-signed, RSA 2048, one
year), so a fresh installation can talk securely at once; to trust a peer, put its certificate (or
the directory holding it) in the source's ``trust`` list. Without a ``certificate`` path the files
live in the PKI directory (``$FACTORYTWIN_PKI``, default ``~/.local/share/factorytwin/pki``).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from asyncua import Client, Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..errors import ConnectorError
from ..model.sources import OpcUaSecurity

__all__ = ["CertificatePair", "certificate_pair", "pki_dir", "secure_client", "secure_server"]

_log = logging.getLogger(__name__)
_CERT_SUFFIXES = {".der", ".pem", ".crt", ".cer"}


def _is_certificate(path: Path) -> bool:
    return path.suffix in _CERT_SUFFIXES and "key" not in path.stem.lower()


def pki_dir() -> Path:
    """Where generated certificates live unless the model names a path."""
    return Path(os.environ.get("FACTORYTWIN_PKI", Path.home() / ".local" / "share" / "factorytwin" / "pki"))


class CertificatePair:
    """A certificate (DER) and its private key (PEM, ``<name>-key.pem``) on disk."""

    def __init__(self, certificate: Path, private_key: Path) -> None:
        self.certificate = certificate
        self.private_key = private_key

    async def ensure(self, app_uri: str, server: bool) -> None:
        """Generate the pair when absent (or invalid for this application)."""
        self.certificate.parent.mkdir(parents=True, exist_ok=True)
        self.private_key.parent.mkdir(parents=True, exist_ok=True)
        existed = self.certificate.is_file()
        usage = [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
        host = socket.gethostname()
        await setup_self_signed_certificate(
            self.private_key, self.certificate, app_uri, host, usage, {"commonName": app_uri.rsplit(":", 1)[-1]}
        )
        if not existed:
            _log.warning("generated OPC UA certificate %s (trust it on the peer)", self.certificate)


def certificate_pair(security: OpcUaSecurity, source_id: str, role: str) -> CertificatePair:
    """The certificate files of one side (``client`` or ``server``) of a source."""
    if role == "client" and security.certificate:
        cert = Path(security.certificate)
        key = Path(security.private_key) if security.private_key else cert.with_name(cert.stem + "-key.pem")
        return CertificatePair(cert, key)
    base = pki_dir() / f"{source_id}-{role}"
    return CertificatePair(base.with_suffix(".der"), base.with_name(base.name + "-key.pem"))


async def _validator(trust: list[Path], peer_is_client: bool, name: str) -> CertificateValidator:
    """A validator trusting the listed certificate files and every certificate in the listed directories."""
    store_dir = pki_dir() / f"trusted-{name}"
    store_dir.mkdir(parents=True, exist_ok=True)
    for old in store_dir.iterdir():
        old.unlink()
    for n, item in enumerate(trust):
        for cert in [item] if item.is_file() else sorted(p for p in item.glob("*.*") if _is_certificate(p)):
            shutil.copyfile(cert, store_dir / f"{n}-{cert.name}")
    if not any(store_dir.iterdir()):
        raise ConnectorError(f"the trust list {[str(t) for t in trust]} holds no certificate")
    store = TrustStore([store_dir], [])
    await store.load()
    options = CertificateValidatorOptions.BASIC_VALIDATION | CertificateValidatorOptions.TRUSTED
    options |= CertificateValidatorOptions.PEER_CLIENT if peer_is_client else CertificateValidatorOptions.PEER_SERVER
    return CertificateValidator(options, store)


async def secure_client(client: Client, security: OpcUaSecurity, source_id: str) -> None:
    """Configure a client: our certificate, the message security mode, the trust list, the user."""
    pair = certificate_pair(security, source_id, "client")
    app_uri = f"urn:factorytwin:twin:{source_id}"
    client.application_uri = app_uri
    await pair.ensure(app_uri, server=False)
    if security.trust:  # configuration errors first, before touching the network
        trust = [Path(t) for t in security.trust]
        client.certificate_validator = await _validator(trust, peer_is_client=False, name=f"{source_id}-client")
    else:
        _log.warning("source %s: the server's certificate is not verified (no trust list)", source_id)
    mode = getattr(ua.MessageSecurityMode, security.mode)
    await client.set_security(SecurityPolicyBasic256Sha256, str(pair.certificate), str(pair.private_key), mode=mode)
    if security.username:
        client.set_user(security.username)
        client.set_password(security.password or "")


class _PasswordUsers:
    """Admits exactly the configured user."""

    def __init__(self, username: str, password: str) -> None:
        self._username, self._password = username, password

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        if username == self._username and password == self._password:
            return User(role=UserRole.User, name=username)
        return None


async def secure_server(server: Server, security: OpcUaSecurity, source_id: str, app_uri: str) -> list[Path]:
    """Configure the plant's server: its certificate, policies, trusted clients and user. Returns the trust list."""
    pair = certificate_pair(security, source_id, "server")
    await pair.ensure(app_uri, server=True)
    await server.load_certificate(str(pair.certificate))
    await server.load_private_key(str(pair.private_key))
    policy = {
        "Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
        "SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    }[security.mode]
    server.set_security_policy([policy])
    trusted = [Path(t) for t in security.trust]
    # The virtual plant stands in for a real server of this source: it trusts the certificate of the
    # twin configured for the source (creating the pair if absent, so a demo works at once).
    twin = certificate_pair(security, source_id, "client")
    await twin.ensure(f"urn:factorytwin:twin:{source_id}", server=False)
    trusted.append(twin.certificate)
    server.set_certificate_validator(await _validator(trusted, peer_is_client=True, name=f"{source_id}-server"))
    if security.username:
        server.iserver.user_manager = _PasswordUsers(security.username, security.password or "")
        server.set_security_IDs(["Username"])
    return trusted
