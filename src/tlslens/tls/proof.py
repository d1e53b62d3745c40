"""Handshake signatures checked: did the peer prove it holds its certificate's private key?

Strategy: a TLS <= 1.2 server signs its ServerKeyExchange (client_random + server_random +
params, RFC 5246 §7.4.3; MD5+SHA-1 before TLS 1.2); a TLS 1.3 peer signs the transcript
hash in CertificateVerify, behind 64 spaces and a context string (RFC 8446 §4.4.3); a
TLS <= 1.2 client signs the handshake messages so far in its CertificateVerify (RFC 5246
§7.4.8). Here the signed bytes are rebuilt and the signature checked with the
certificate's public key; every primitive comes from ``cryptography``.
"""

from __future__ import annotations

import functools
import hashlib
from typing import TYPE_CHECKING, Any, NamedTuple

from tlslens import _core, registry
from tlslens.x509.cache import per_der
from tlslens.x509.wording import error_text

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hashes

    from tlslens.x509.certificate import CertificateInfo

# cryptography is imported by the functions that verify: a capture whose signatures all
# stay encrypted (TLS 1.3 without keys) never needs it, nor its X.509 (start-up).

# RFC 8446 §4.2.3: rsa_pss_rsae_* and rsa_pss_pss_*, by the TLS 1.2 HashAlgorithm they use.
_PSS_HASH_IDS = {0x0804: 4, 0x0805: 5, 0x0806: 6, 0x0809: 4, 0x080A: 5, 0x080B: 6}
TLS13_SERVER_CONTEXT = b"TLS 1.3, server CertificateVerify"
TLS13_CLIENT_CONTEXT = b"TLS 1.3, client CertificateVerify"


class SignatureCheck(NamedTuple):
    message: str  # "server_key_exchange" or "certificate_verify"
    direction: str  # "c2s" or "s2c"
    scheme: str  # the IANA name, or how a pre-TLS 1.2 signature is made
    verified: bool | None  # None: the bytes needed were not seen
    reason: str | None
    frame: int

    def to_json(self) -> dict[str, Any]:
        return _core.signature_json(self)  # as the row writes it


# TLS 1.2 HashAlgorithm (RFC 5246 §7.4.1.4.1)
_HASH_WORDS = {1: "MD5", 2: "SHA-1", 3: "SHA-224", 4: "SHA-256", 5: "SHA-384", 6: "SHA-512"}


@functools.cache
def _hash_algorithm(hash_id: int) -> hashes.HashAlgorithm:
    """The algorithm of a TLS 1.2 HashAlgorithm code (one of ``_HASH_WORDS``)."""
    from cryptography.hazmat.primitives import hashes

    algorithms: dict[int, type[hashes.HashAlgorithm]] = {
        1: hashes.MD5,
        2: hashes.SHA1,
        3: hashes.SHA224,
        4: hashes.SHA256,
        5: hashes.SHA384,
        6: hashes.SHA512,
    }
    return algorithms[hash_id]()


_SIGNATURE_WORDS = {1: "RSA PKCS#1", 2: "DSA", 3: "ECDSA"}


def scheme_name(
    scheme: int | None, certificate_der: bytes | None = None, version: int | None = None
) -> str:
    """The IANA name (or the TLS 1.2 hash+signature pair it stands for); for a signature
    before TLS 1.2 (no scheme), how the key's kind signs."""
    if scheme is not None:
        name = registry.signature_scheme_name(scheme)
        hash_id, sig_id = scheme >> 8, scheme & 0xFF
        if name.startswith("unknown") and hash_id in _HASH_WORDS and sig_id in _SIGNATURE_WORDS:
            return f"{_SIGNATURE_WORDS[sig_id]} with {_HASH_WORDS[hash_id]} ({scheme:#06x})"
        return name
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa

    ssl3 = version is not None and registry.tls_base_version(version) <= 0x0300
    era = "SSL 3.0" if ssl3 else "TLS 1.0/1.1"
    try:
        key = (
            x509.load_der_x509_certificate(certificate_der).public_key()
            if certificate_der
            else None
        )
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
        key = None
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA PKCS#1 over MD5+SHA-1 ({era})"
    return f"SHA-1 ({era})"


def tls13_signed_content(context: bytes, transcript_hash: bytes) -> bytes:
    """RFC 8446 §4.4.3: 64 spaces, the context string, a zero byte, the transcript hash."""
    return b" " * 64 + context + b"\x00" + transcript_hash


def verify(
    certificate: CertificateInfo,
    scheme: int | None,
    signature: bytes,
    data: bytes,
    verified_by_core: tuple[str, int, bytes, bytes] | None = None,
) -> tuple[bool | None, str | None]:
    """(True, None) when ``signature`` over ``data`` verifies with the certificate's key,
    (False, why) when it does not, (None, why) when it cannot be checked.

    ``scheme`` None means a TLS 1.0/1.1 signature: MD5+SHA-1 for RSA, SHA-1 otherwise.
    ``verified_by_core``: the capture walk's check of the same signature when it verified
    there (``ContentMessage.verified``, the key below): taken as the answer only when it is
    this very check (same leaf, scheme, signature and signed bytes); anything else is
    checked here."""
    # The same certificate, signature and signed bytes give the same answer: a capture that
    # holds a connection twice (a replay, a capture merged with itself, a load test's copies)
    # verifies it once. Digests, not the bytes, are kept: a TLS 1.2 CertificateVerify signs
    # the whole transcript, and the cache holds no message alive. The certificate's is the
    # one it was parsed with (its DER's SHA-256), not worked out again.
    key = (
        certificate.sha256,
        scheme,
        hashlib.sha256(signature).digest(),
        hashlib.sha256(data).digest(),
    )
    answer = _VERDICTS.get(key)
    if answer is None:
        # The walk checked it off this thread (ring, through rustls' reading of the key):
        # a signature that verifies there verifies here.
        answer = (
            (True, None)
            if key == verified_by_core
            else _verify(certificate.der, scheme, signature, data)
        )
        if len(_VERDICTS) >= _MAX_VERDICTS:
            _VERDICTS.clear()
        _VERDICTS[key] = answer
    return answer


_MAX_VERDICTS = 4096
_VERDICTS: dict[tuple[str, int | None, bytes, bytes], tuple[bool | None, str | None]] = {}


def _verify(
    certificate_der: bytes, scheme: int | None, signature: bytes, data: bytes
) -> tuple[bool | None, str | None]:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        key = _public_key(certificate_der)
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        return None, f"the certificate's public key cannot be read ({error_text(exc)})"
    problem = _check(key, scheme, signature, data)
    if problem is None:
        return True, None
    return (False if problem == _BAD else None), problem


@per_der  # servers reuse a few certificates over many connections
def _public_key(certificate_der: bytes) -> object:
    from cryptography import x509

    return x509.load_der_x509_certificate(certificate_der).public_key()


_BAD = "the signature does not verify with the certificate's public key"


def _check(key: object, scheme: int | None, signature: bytes, data: bytes) -> str | None:
    """None when it verifies, ``_BAD`` when it does not, another reason when it cannot be told."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

    try:
        if scheme is None:
            return _verify_legacy(key, signature, data)
        if scheme in _PSS_HASH_IDS:
            if not isinstance(key, rsa.RSAPublicKey):
                return "an RSA-PSS scheme with a key that is not RSA"
            algorithm = _hash_algorithm(_PSS_HASH_IDS[scheme])
            pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
            key.verify(signature, data, pss, algorithm)
        elif scheme == 0x0807:
            if not isinstance(key, ed25519.Ed25519PublicKey):
                return "an Ed25519 scheme with a key that is not Ed25519"
            key.verify(signature, data)
        elif scheme == 0x0808:
            if not isinstance(key, ed448.Ed448PublicKey):
                return "an Ed448 scheme with a key that is not Ed448"
            key.verify(signature, data)
        elif (scheme >> 8) in _HASH_WORDS and (scheme & 0xFF) in (1, 2, 3):
            algorithm = _hash_algorithm(scheme >> 8)
            kind = scheme & 0xFF
            if kind == 1 and isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, data, padding.PKCS1v15(), algorithm)
            elif kind == 3 and isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, data, ec.ECDSA(algorithm))
            elif kind == 2 and isinstance(key, dsa.DSAPublicKey):
                key.verify(signature, data, algorithm)
            else:
                return f"the scheme {scheme_name(scheme)} does not match the certificate's key"
        else:
            return f"the scheme {scheme_name(scheme)} is not one tlslens can check"
    except InvalidSignature:
        return _BAD
    except (UnsupportedAlgorithm, ValueError) as exc:
        return f"the signature cannot be checked here ({exc})"
    return None


def _verify_legacy(key: object, signature: bytes, data: bytes) -> str | None:
    """TLS 1.0/1.1 (RFC 4346 §7.4.3): RSA signs MD5(data) + SHA-1(data) with PKCS#1 v1.5 and
    no DigestInfo; DSA and ECDSA sign SHA-1(data)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa

    if isinstance(key, rsa.RSAPublicKey):
        recovered = key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
        md5, sha1 = hashes.Hash(hashes.MD5()), hashes.Hash(hashes.SHA1())
        md5.update(data)
        sha1.update(data)
        if recovered != md5.finalize() + sha1.finalize():
            raise InvalidSignature
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(hashes.SHA1()))
    elif isinstance(key, dsa.DSAPublicKey):
        key.verify(signature, data, hashes.SHA1())
    else:
        return "a TLS 1.0/1.1 signature with a key that is neither RSA, DSA nor ECDSA"
    return None


def note_unseen_signature(conn: Any, dec: Any, tls13_encrypted: bool) -> None:
    """A TLS 1.3 server's CertificateVerify that stayed encrypted is listed in
    ``conn.handshake_signatures``, unchecked (``dec``: the connection's decryptor, if any)."""
    # The content layer's flag and what the model holds first: ``tls13`` and ``resumed``
    # are the core's to work out from the hellos.
    if not tls13_encrypted or any(c.direction == "s2c" for c in conn.handshake_signatures):
        return
    # The server's handshake secret found, its CertificateVerify was read and listed, unless
    # that secret does not open its flight (a key log of another session).
    opens = dec is not None and dec.transcript_complete()
    if opens and dec.status != "wrong_secret":
        return
    if conn.tls13 and conn.resumed is None:
        if dec is None:
            reason = "TLS 1.3 encrypts it: give the key log to check it"
        elif opens:
            reason = "TLS 1.3 encrypts it, and the secrets given do not open the server's flight"
        else:
            reason = (
                "TLS 1.3 encrypts it: the key log has no SERVER_HANDSHAKE_TRAFFIC_SECRET "
                "for this connection"
            )
        conn.handshake_signatures.append(
            SignatureCheck(
                "certificate_verify", "s2c", "unknown (encrypted)", None, reason, conn.first_frame
            )
        )
