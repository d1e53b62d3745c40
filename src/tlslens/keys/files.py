"""Loading secrets from files (the I/O edge of decryption): key logs and RSA keys."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tlslens._text import article
from tlslens.capture.reader import SNIFFED_BYTES, capture_format
from tlslens.errors import KeyFileError, NotAKeyLogError
from tlslens.keys.store import KeyStore

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa


def add_keylog_file(store: KeyStore, path: str | Path) -> int:
    """Add an NSS key log file's good lines; bad lines land in store.keylog.problems.

    Raises KeyFileError when the file cannot be read, NotAKeyLogError when it is a capture
    (its binary "lines" would each be an unknown label)."""
    try:
        with Path(path).open("rb") as handle:
            # The first bytes tell a capture, which is not read on (it may be gigabytes).
            data = handle.read(SNIFFED_BYTES)
            kind = capture_format(data)
            if kind is None:
                data += handle.read()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key log: {exc.strerror or exc}") from exc
    if kind is not None:
        packed = ", gzip-compressed" if data.startswith(b"\x1f\x8b") else ""
        raise NotAKeyLogError(
            f"{path}: not a key log: it is a {kind} capture (its first bytes are "
            f"{data[:4].hex()}{packed}); read without it (a capture's own Decryption Secrets "
            "Blocks are read when it is given as the capture)"
        )
    return store.keylog.add_text(data.decode("utf-8", "replace"), str(path))


def load_rsa_key(path: str | Path, password: str | None = None) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM or DER (PKCS#1 or PKCS#8) or PKCS#12, with a password."""
    # cryptography's key loaders, here rather than at the top: a key log alone needs none.
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import (
        load_der_private_key,
        load_pem_private_key,
    )

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key: {exc.strerror or exc}") from exc
    secret = password.encode() if password else None
    errors: list[str] = []

    def from_pkcs12() -> object:
        # pkcs12 imports cryptography.x509 (a third of start-up): only for a key that is
        # neither PEM nor DER.
        from cryptography.hazmat.primitives.serialization import pkcs12

        # Real bundles (the Wireshark corpus' key.p12) are BER, not DER; cryptography reads
        # them with a UserWarning that would only confuse a user.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return pkcs12.load_key_and_certificates(data, secret)[0]

    loaders: tuple[tuple[str, Callable[[], object]], ...] = (
        ("PEM", lambda: load_pem_private_key(data, secret)),
        ("DER", lambda: load_der_private_key(data, secret)),
        ("PKCS#12", from_pkcs12),
    )
    for name, loader in loaders:
        try:
            key = loader()
        except (ValueError, TypeError) as exc:
            errors.append(f"{name}: {exc}")
            continue
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyFileError(
                f"{path}: holds {article(type(key).__name__)}, not an RSA private key"
            )
        return key
    if b"ENCRYPTED" in data or (password is None and b"PRIVATE KEY" not in data):
        hint = " (wrong or missing password?)"
    else:
        hint = ""
    raise KeyFileError(f"{path}: not a usable RSA private key{hint}: {errors[-1]}")


def parse_key_argument(argument: str) -> tuple[str, str | None]:
    """FILE[:password] as --rsa-key takes it (a path may itself hold a colon: tried first)."""
    if Path(argument).exists() or ":" not in argument:
        return argument, None
    path, _, password = argument.rpartition(":")
    return path, password
