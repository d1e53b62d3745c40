"""The TLS 1.3 key schedule (RFC 8446 §7): HKDF glue over ``cryptography``."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from tlslens.keys.prf import digest, hash_algorithm

HASH_LEN = {"SHA256": 32, "SHA384": 48, "SHA512": 64, "SM3": 32}


def hkdf_extract(hash_name: str, salt: bytes, ikm: bytes) -> bytes:
    mac = hmac.HMAC(salt or b"\0" * HASH_LEN[hash_name], hash_algorithm(hash_name))
    mac.update(ikm)
    return mac.finalize()


def hkdf_expand_label(
    hash_name: str, secret: bytes, label: bytes, context: bytes, length: int
) -> bytes:
    """RFC 8446 §7.1: HKDF-Expand(secret, HkdfLabel, length) with the "tls13 " prefix."""
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context
    return HKDFExpand(hash_algorithm(hash_name), length, info).derive(secret)


def derive_secret(hash_name: str, secret: bytes, label: bytes, messages: bytes) -> bytes:
    return hkdf_expand_label(
        hash_name, secret, label, digest(hash_name, messages), HASH_LEN[hash_name]
    )


@dataclass(frozen=True, slots=True)
class TrafficKeys:
    key: bytes
    iv: bytes


def derive_traffic_keys(
    hash_name: str, secret: bytes, key_len: int, iv_len: int = 12
) -> TrafficKeys:
    """RFC 8446 §7.3: [sender]_write_key and [sender]_write_iv from a traffic secret."""
    return TrafficKeys(
        hkdf_expand_label(hash_name, secret, b"key", b"", key_len),
        hkdf_expand_label(hash_name, secret, b"iv", b"", iv_len),
    )


def next_traffic_secret(hash_name: str, secret: bytes) -> bytes:
    """RFC 8446 §7.2: the secret after a KeyUpdate."""
    return hkdf_expand_label(hash_name, secret, b"traffic upd", b"", HASH_LEN[hash_name])


def finished_verify_data(hash_name: str, base_key: bytes, transcript_hash: bytes) -> bytes:
    """RFC 8446 §4.4.4: HMAC(finished_key, Transcript-Hash(...))."""
    finished_key = hkdf_expand_label(hash_name, base_key, b"finished", b"", HASH_LEN[hash_name])
    mac = hmac.HMAC(finished_key, hash_algorithm(hash_name))
    mac.update(transcript_hash)
    return mac.finalize()


@dataclass(frozen=True, slots=True)
class Schedule:
    """The secrets of a full key schedule, from (EC)DHE shared secret and optional PSK."""

    early_secret: bytes
    handshake_secret: bytes
    master_secret: bytes
    client_handshake_traffic_secret: bytes
    server_handshake_traffic_secret: bytes
    client_application_traffic_secret: bytes
    server_application_traffic_secret: bytes


def derive_schedule(
    hash_name: str,
    shared_secret: bytes,
    hello_transcript: bytes,
    server_finished_transcript: bytes,
    psk: bytes | None = None,
) -> Schedule:
    """RFC 8446 §7.1. ``hello_transcript`` is ClientHello..ServerHello,
    ``server_finished_transcript`` ClientHello..server Finished."""
    zeros = b"\0" * HASH_LEN[hash_name]
    early = hkdf_extract(hash_name, b"", psk or zeros)
    handshake = hkdf_extract(
        hash_name, derive_secret(hash_name, early, b"derived", b""), shared_secret
    )
    master = hkdf_extract(hash_name, derive_secret(hash_name, handshake, b"derived", b""), zeros)
    return Schedule(
        early,
        handshake,
        master,
        derive_secret(hash_name, handshake, b"c hs traffic", hello_transcript),
        derive_secret(hash_name, handshake, b"s hs traffic", hello_transcript),
        derive_secret(hash_name, master, b"c ap traffic", server_finished_transcript),
        derive_secret(hash_name, master, b"s ap traffic", server_finished_transcript),
    )
