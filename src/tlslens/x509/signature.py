"""One link of a chain: did the issuer's key sign this certificate, and what that means."""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa

from tlslens.x509.names import subject_text


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Did ``issuer``'s key sign ``cert`` (names matching)?"""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    except ValueError:
        pass  # e.g. SHA-1, which that method refuses: check the signature with the key itself
    try:
        key = issuer.public_key()
        hash_alg = cert.signature_hash_algorithm
        tbs, signature = cert.tbs_certificate_bytes, cert.signature
        params = cert.signature_algorithm_parameters
        if isinstance(key, rsa.RSAPublicKey) and hash_alg is not None:
            pad = (
                params if isinstance(params, padding.PSS | padding.PKCS1v15) else padding.PKCS1v15()
            )
            key.verify(signature, tbs, pad, hash_alg)
        elif isinstance(key, ec.EllipticCurvePublicKey) and hash_alg is not None:
            key.verify(signature, tbs, ec.ECDSA(hash_alg))
        elif isinstance(key, dsa.DSAPublicKey) and hash_alg is not None:
            key.verify(signature, tbs, hash_alg)
        else:
            return False
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and signed_by(cert, cert)


def explain_signature(cert: x509.Certificate, issuer: x509.Certificate) -> list[str]:
    """What checking this link means, on the real bytes."""
    lines = [f"{subject_text(issuer)} signed {subject_text(cert)}."]
    try:
        algorithm = cert.signature_algorithm_oid._name
        hash_alg = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return [*lines, "The signature algorithm is not one cryptography can check."]
    tbs = cert.tbs_certificate_bytes
    key = issuer.public_key()
    lines.append(
        f"Checked: the issuer's public key verifies the {algorithm} signature over the "
        f"certificate's to-be-signed part ({len(tbs)} bytes)."
    )
    params = cert.signature_algorithm_parameters
    if isinstance(key, rsa.RSAPublicKey) and isinstance(params, padding.PKCS1v15) and hash_alg:
        try:
            digest_info = key.recover_data_from_signature(cert.signature, padding.PKCS1v15(), None)
        except (ValueError, InvalidSignature):
            return [
                *lines,
                "RSA: 'decrypting' the signature with the public key fails: it is not valid.",
            ]
        h = hashes.Hash(hash_alg)
        h.update(tbs)
        expected = h.finalize()
        lines.append(
            f"RSA PKCS#1 v1.5: raising the signature to the public exponent ('decrypting' it with "
            f"the public key) gives a {len(digest_info)}-byte DigestInfo ending in "
            f"{digest_info[-len(expected) :].hex()[:32]}…; {hash_alg.name.upper()} of the "
            f"to-be-signed bytes is {expected.hex()[:32]}…: "
            + ("they are equal." if digest_info.endswith(expected) else "they DIFFER.")
        )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        lines.append(
            "ECDSA cannot be 'decrypted': the signature is a pair (r, s) that the verifier checks "
            "with the public key and the hash; nothing is recovered from it."
        )
    elif isinstance(key, rsa.RSAPublicKey) and isinstance(params, padding.PSS):
        lines.append(
            "RSA-PSS adds random salt and masking: applying the public key gives an encoded "
            "message that is checked against the hash, not a DigestInfo to compare."
        )
    return lines
