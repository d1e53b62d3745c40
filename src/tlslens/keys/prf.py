"""The TLS 1.0-1.2 key schedule: PRF, master secret, key block, Finished (RFC 2246/5246/7627).

Only the glue is here; HMAC and the hashes come from ``cryptography``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, hmac

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "MD5": hashes.MD5,
    "SHA": hashes.SHA1,
    "SHA1": hashes.SHA1,
    "SHA224": hashes.SHA224,
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
    "SM3": hashes.SM3,
}


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    return _HASHES[name]()


def digest(name: str, data: bytes) -> bytes:
    h = hashes.Hash(hash_algorithm(name))
    h.update(data)
    return h.finalize()


def p_hash(name: str, secret: bytes, seed: bytes, length: int) -> bytes:
    """RFC 5246 §5: P_hash(secret, seed)."""
    keyed = hmac.HMAC(secret, hash_algorithm(name))  # keyed once, copied for each HMAC

    def mac(data: bytes) -> bytes:
        copy = keyed.copy()
        copy.update(data)
        return copy.finalize()

    out = bytearray()
    a = seed
    while len(out) < length:
        a = mac(a)
        out += mac(a + seed)
    return bytes(out[:length])


def prf(
    version: int, prf_hash: str, secret: bytes, label: bytes, seed: bytes, length: int
) -> bytes:
    """The PRF of the negotiated version: MD5 xor SHA-1 before TLS 1.2, the suite's hash after."""
    if version >= 0x0303:
        return p_hash(prf_hash, secret, label + seed, length)
    half = (len(secret) + 1) // 2  # RFC 2246 §5: the halves overlap by a byte when odd
    md5 = p_hash("MD5", secret[:half], label + seed, length)
    sha = p_hash("SHA1", secret[len(secret) - half :], label + seed, length)
    return bytes(a ^ b for a, b in zip(md5, sha, strict=True))


def ssl3_prf(secret: bytes, seed: bytes, length: int) -> bytes:
    """SSL 3.0 (RFC 6101 §6.1): MD5(secret + SHA1('A' + secret + seed)) + ... ."""
    out = bytearray()
    i = 0
    while len(out) < length:
        salt = bytes([65 + i]) * (i + 1)
        out += digest("MD5", secret + digest("SHA1", salt + secret + seed))
        i += 1
    return bytes(out[:length])


def derive_master_secret(
    version: int,
    prf_hash: str,
    pre_master_secret: bytes,
    client_random: bytes,
    server_random: bytes,
    session_hash: bytes | None = None,
) -> bytes:
    """RFC 5246 §8.1; with ``session_hash`` the extended master secret of RFC 7627."""
    if version == 0x0300:
        return ssl3_prf(pre_master_secret, client_random + server_random, 48)
    if session_hash is not None:
        return prf(
            version, prf_hash, pre_master_secret, b"extended master secret", session_hash, 48
        )
    return prf(
        version, prf_hash, pre_master_secret, b"master secret", client_random + server_random, 48
    )


@dataclass(frozen=True, slots=True)
class KeyBlock:
    client_write_mac_key: bytes
    server_write_mac_key: bytes
    client_write_key: bytes
    server_write_key: bytes
    client_write_iv: bytes
    server_write_iv: bytes


def derive_key_block(
    version: int,
    prf_hash: str,
    master_secret: bytes,
    client_random: bytes,
    server_random: bytes,
    *,
    mac_len: int,
    key_len: int,
    iv_len: int,
) -> KeyBlock:
    """RFC 5246 §6.3: the key block, cut into the six values (note: server random first)."""
    total = 2 * (mac_len + key_len + iv_len)
    seed = server_random + client_random
    if version == 0x0300:
        block = ssl3_prf(master_secret, seed, total)
    else:
        block = prf(version, prf_hash, master_secret, b"key expansion", seed, total)
    parts = []
    pos = 0
    for size in (mac_len, mac_len, key_len, key_len, iv_len, iv_len):
        parts.append(block[pos : pos + size])
        pos += size
    return KeyBlock(*parts)


def finished_verify_data(
    version: int, prf_hash: str, master_secret: bytes, label: bytes, transcript: bytes
) -> bytes:
    """RFC 5246 §7.4.9: PRF(master, label, Hash(handshake_messages))[0..11]."""
    if version == 0x0300:
        # RFC 6101 §5.6.9: MD5 and SHA-1 of (messages + sender + master + pads).
        sender = b"CLNT" if label.startswith(b"client") else b"SRVR"
        md5 = digest(
            "MD5",
            master_secret
            + b"\x5c" * 48
            + digest("MD5", transcript + sender + master_secret + b"\x36" * 48),
        )
        sha = digest(
            "SHA1",
            master_secret
            + b"\x5c" * 40
            + digest("SHA1", transcript + sender + master_secret + b"\x36" * 40),
        )
        return md5 + sha
    if version >= 0x0303:
        handshake_hash = digest(prf_hash, transcript)
    else:
        handshake_hash = digest("MD5", transcript) + digest("SHA1", transcript)
    return prf(version, prf_hash, master_secret, label, handshake_hash, 12)


def session_hash(version: int, prf_hash: str, transcript: bytes) -> bytes:
    """RFC 7627 §3: the hash of the handshake up to and including ClientKeyExchange."""
    if version >= 0x0303:
        return digest(prf_hash, transcript)
    return digest("MD5", transcript) + digest("SHA1", transcript)


def derive_export_keys(
    version: int,
    block: KeyBlock,
    client_random: bytes,
    server_random: bytes,
    *,
    key_len: int,
    iv_len: int,
) -> KeyBlock:
    """Export suites stretch the 5-byte keys and make the IVs from the randoms alone
    (RFC 2246 §6.3.1; SSL 3.0: RFC 6101 §6.2.2)."""
    cr, sr = client_random, server_random
    if version == 0x0300:
        client_key = digest("MD5", block.client_write_key + cr + sr)[:key_len]
        server_key = digest("MD5", block.server_write_key + sr + cr)[:key_len]
        client_iv = digest("MD5", cr + sr)[:iv_len]
        server_iv = digest("MD5", sr + cr)[:iv_len]
    else:
        client_key = prf(
            version, "SHA256", block.client_write_key, b"client write key", cr + sr, key_len
        )
        server_key = prf(
            version, "SHA256", block.server_write_key, b"server write key", cr + sr, key_len
        )
        ivs = prf(version, "SHA256", b"", b"IV block", cr + sr, 2 * iv_len)
        client_iv, server_iv = ivs[:iv_len], ivs[iv_len:]
    return KeyBlock(
        block.client_write_mac_key,
        block.server_write_mac_key,
        client_key,
        server_key,
        client_iv,
        server_iv,
    )
