"""Record protection, in reverse: decrypt and check one record at a time.

Strategy: ``cipher_spec`` maps a cipher suite to what its records need (AEAD,
CBC block cipher + HMAC, stream cipher, or NULL) and says plainly when
``cryptography`` no longer offers the cipher. A ``RecordProtection`` object
holds one direction's keys and sequence number; ``open_record`` returns the
record's real content type and plaintext, or raises DecryptError when the tag,
the MAC or the padding does not check out. Every primitive comes from
``cryptography``; only the record layout (nonces, additional data, padding,
MAC input) is written here.
"""

from __future__ import annotations

import hmac as std_hmac
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers import algorithms as decrepit
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from tlslens.errors import DecryptError, UnsupportedCipherError
from tlslens.keys.prf import hash_algorithm
from tlslens.registry import CipherSuiteInfo

_MAC_LEN = {"MD5": 16, "SHA": 20, "SHA256": 32, "SHA384": 48}


@dataclass(frozen=True, slots=True)
class CipherSpec:
    cipher: str  # the suite's cipher token, e.g. AES_128_GCM
    kind: str  # "aead", "block", "stream" or "null"
    key_len: int
    iv_len: int  # key block IV bytes (TLS 1.2 AEAD salt, CBC IV) or the TLS 1.3 nonce
    block_size: int = 0
    tag_len: int = 16
    mac: str | None = None  # HMAC hash of block/stream/null suites
    mac_len: int = 0
    export_key_len: int = 0  # export suites: the final key is derived from a 5-byte secret


_BLOCK = {  # cipher token -> (key bytes, block size)
    "AES_128_CBC": (16, 16),
    "AES_256_CBC": (32, 16),
    "CAMELLIA_128_CBC": (16, 16),
    "CAMELLIA_256_CBC": (32, 16),
    "3DES_EDE_CBC": (24, 8),
    "SEED_CBC": (16, 16),
    "IDEA_CBC": (16, 8),
    "DES_CBC": (8, 8),
    "DES40_CBC": (5, 8),
    "RC2_CBC_40": (5, 8),
}
# Export suites (RFC 2246 §6.3.1): the key block holds 5 secret bytes, stretched to this.
_EXPORT_KEY_LEN = {"DES40_CBC": 8, "RC2_CBC_40": 16, "RC4_40": 16}
_AEAD = {  # cipher token -> (key bytes, tag bytes)
    "AES_128_GCM": (16, 16),
    "AES_256_GCM": (32, 16),
    "AES_128_CCM": (16, 16),
    "AES_256_CCM": (32, 16),
    "AES_128_CCM_8": (16, 8),
    "AES_256_CCM_8": (32, 8),
    "CHACHA20_POLY1305": (32, 16),
}


def cipher_spec(info: CipherSuiteInfo, version: int) -> CipherSpec:
    """What records of this suite need. Raises UnsupportedCipherError, saying why."""
    cipher = info.cipher or ""
    if cipher in _AEAD:
        key_len, tag_len = _AEAD[cipher]
        chacha = cipher == "CHACHA20_POLY1305"
        # TLS 1.2 GCM/CCM: a 4-byte implicit salt + 8 explicit bytes; ChaCha20 and TLS 1.3: 12.
        iv_len = 12 if chacha or info.tls13 else 4
        return CipherSpec(cipher, "aead", key_len, iv_len, tag_len=tag_len)
    mac = info.mac
    if mac not in _MAC_LEN:
        raise UnsupportedCipherError(f"{info.name}: MAC {mac} is not supported")
    mac_len = _MAC_LEN[mac]
    export = _EXPORT_KEY_LEN.get(cipher, 0)
    if cipher in _BLOCK:
        key_len, block = _BLOCK[cipher]
        # TLS 1.1+ sends each record's IV explicitly; TLS 1.0/SSL 3.0 take it from the key block
        # (export suites derive it apart, so the key block holds none).
        iv_len = block if version <= 0x0301 and not export else 0
        return CipherSpec(
            cipher,
            "block",
            key_len,
            iv_len,
            block_size=block,
            mac=mac,
            mac_len=mac_len,
            export_key_len=export,
        )
    if cipher in ("RC4_128", "RC4_40"):
        return CipherSpec(
            cipher,
            "stream",
            5 if export else 16,
            0,
            mac=mac,
            mac_len=mac_len,
            export_key_len=export,
        )
    if cipher == "NULL":
        return CipherSpec(cipher, "null", 0, 0, mac=mac, mac_len=mac_len)
    raise UnsupportedCipherError(
        f"{info.name}: the cipher {cipher} is not offered by the cryptography library "
        "(ARIA, GOST, SM4, Fortezza and Kerberos suites among others), so its records "
        "cannot be decrypted"
    )


def _block_algorithm(cipher: str, key: bytes) -> BlockCipherAlgorithm:
    if cipher.startswith("AES"):
        return algorithms.AES(key)
    if cipher.startswith("CAMELLIA"):
        return decrepit.Camellia(key)
    if cipher == "3DES_EDE_CBC":
        return decrepit.TripleDES(key)
    if cipher in ("DES_CBC", "DES40_CBC"):
        return decrepit.TripleDES(key * 3)  # EDE with three equal keys is single DES
    if cipher == "RC2_CBC_40":
        return decrepit.RC2(key)
    if cipher == "SEED_CBC":
        return decrepit.SEED(key)
    return decrepit.IDEA(key)


class RecordProtection:
    """One direction's record protection state (keys, IV chaining, sequence number)."""

    def __init__(
        self,
        spec: CipherSpec,
        *,
        version: int,
        key: bytes,
        iv: bytes,
        mac_key: bytes = b"",
        encrypt_then_mac: bool = False,
        tls13: bool = False,
    ) -> None:
        self.spec = spec
        self.version = version
        self.key = key
        self.iv = iv
        self.mac_key = mac_key
        self.etm = encrypt_then_mac
        self.tls13 = tls13
        self.seq = 0
        self._aead: AESGCM | AESCCM | ChaCha20Poly1305 | None = None
        self._stream = None
        if spec.kind == "aead":
            if spec.cipher.startswith("CHACHA20"):
                self._aead = ChaCha20Poly1305(key)
            elif "CCM" in spec.cipher:
                self._aead = AESCCM(key, tag_length=spec.tag_len)
            else:
                self._aead = AESGCM(key)
        elif spec.kind == "stream":
            self._stream = Cipher(decrepit.ARC4(key), mode=None).decryptor()

    def open_record(self, ctype: int, version: int, body: bytes) -> tuple[int, bytes]:
        """Decrypt and check one record: (real content type, plaintext).

        Raises DecryptError when the record does not authenticate.
        """
        seq = self.seq
        self.seq += 1
        kind = self.spec.kind
        if kind == "aead":
            return self._open_aead(ctype, version, body, seq)
        if kind == "block":
            return ctype, self._open_block(ctype, version, body, seq)
        if kind == "stream":
            assert self._stream is not None
            return ctype, self._check_mac(ctype, version, self._stream.update(body), seq)
        return ctype, self._check_mac(ctype, version, body, seq)

    # -- AEAD ------------------------------------------------------------------------
    def _open_aead(self, ctype: int, version: int, body: bytes, seq: int) -> tuple[int, bytes]:
        aead = self._aead
        assert aead is not None
        tag_len = self.spec.tag_len
        if self.tls13:
            # RFC 8446 §5.3: nonce = iv xor seq; AAD = the record header.
            nonce = _xor_seq(self.iv, seq)
            # The record header became the additional data in draft-25; drafts before had none.
            draft = 0x7F00 <= self.version < 0x7F19
            aad = b"" if draft else struct.pack(">BHH", ctype, version, len(body))
            try:
                inner = aead.decrypt(nonce, body, aad)
            except InvalidTag as exc:
                raise DecryptError(f"record {seq}: the AEAD tag does not verify") from exc
            stripped = inner.rstrip(b"\0")
            if not stripped:
                raise DecryptError(f"record {seq}: TLSInnerPlaintext has no content type")
            return stripped[-1], stripped[:-1]
        if len(self.iv) == 12:  # ChaCha20-Poly1305 in TLS 1.2 (RFC 7905): implicit nonce
            nonce, ciphertext = _xor_seq(self.iv, seq), body
        else:  # GCM/CCM (RFC 5288, 6655): salt + 8 explicit bytes
            nonce, ciphertext = self.iv + body[:8], body[8:]
        plain_len = len(ciphertext) - tag_len
        if plain_len < 0:
            raise DecryptError(f"record {seq}: {len(body)} bytes cannot hold a {tag_len}-byte tag")
        aad = struct.pack(">QBHH", seq, ctype, version, plain_len)
        try:
            return ctype, aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag as exc:
            raise DecryptError(f"record {seq}: the AEAD tag does not verify") from exc

    # -- CBC + HMAC ------------------------------------------------------------------------
    def _open_block(self, ctype: int, version: int, body: bytes, seq: int) -> bytes:
        spec = self.spec
        bs, mac_len = spec.block_size, spec.mac_len
        if self.etm:  # RFC 7366: the MAC covers IV + ciphertext and comes last
            if len(body) < mac_len + bs:
                raise DecryptError(f"record {seq}: too short for encrypt-then-MAC")
            protected, mac = body[:-mac_len], body[-mac_len:]
            expected = self._hmac(
                struct.pack(">QBHH", seq, ctype, version, len(protected)) + protected
            )
            if not std_hmac.compare_digest(mac, expected):
                raise DecryptError(f"record {seq}: the MAC does not verify (encrypt-then-MAC)")
            body = protected
        if not body or len(body) % bs:
            raise DecryptError(f"record {seq}: {len(body)} bytes is not a whole number of blocks")
        if self.iv and self.version <= 0x0301 and len(self.iv) == bs:
            iv, ciphertext = self.iv, body  # TLS 1.0/SSL 3.0: the IV chains from the last record
            self.iv = body[-bs:]
        else:
            iv, ciphertext = body[:bs], body[bs:]
        decryptor = Cipher(_block_algorithm(spec.cipher, self.key), modes.CBC(iv)).decryptor()
        plain = decryptor.update(ciphertext) + decryptor.finalize()
        if not plain:
            raise DecryptError(f"record {seq}: no data after the IV")
        pad = plain[-1]
        if pad + 1 > len(plain):
            raise DecryptError(f"record {seq}: padding length {pad} is larger than the record")
        # SSL 3.0 leaves the padding bytes arbitrary; TLS requires them all equal to the length.
        if self.version > 0x0300 and plain[-pad - 1 :] != bytes([pad]) * (pad + 1):
            raise DecryptError(f"record {seq}: bad padding (wrong key, or tampered)")
        content = plain[: -pad - 1]
        if self.etm:
            return content
        return self._check_mac(ctype, version, content, seq)

    def _hmac(self, data: bytes) -> bytes:
        assert self.spec.mac is not None
        mac = hmac.HMAC(self.mac_key, hash_algorithm(self.spec.mac))
        mac.update(data)
        return mac.finalize()

    def _check_mac(self, ctype: int, version: int, content: bytes, seq: int) -> bytes:
        mac_len = self.spec.mac_len
        if len(content) < mac_len:
            raise DecryptError(f"record {seq}: shorter than its MAC")
        data, mac = content[: len(content) - mac_len], content[len(content) - mac_len :]
        if self.version == 0x0300:
            expected = self._ssl3_mac(ctype, data, seq)
        else:
            expected = self._hmac(struct.pack(">QBHH", seq, ctype, version, len(data)) + data)
        if not std_hmac.compare_digest(mac, expected):
            raise DecryptError(f"record {seq}: the MAC does not verify (wrong key, or tampered)")
        return data

    def _ssl3_mac(self, ctype: int, data: bytes, seq: int) -> bytes:
        # RFC 6101 §5.2.3.1: hash(MAC_secret + pad_2 + hash(MAC_secret + pad_1 + seq + type + length + data))
        assert self.spec.mac is not None
        pad_len = 48 if self.spec.mac == "MD5" else 40
        inner = hashes.Hash(hash_algorithm(self.spec.mac))
        inner.update(
            self.mac_key + b"\x36" * pad_len + struct.pack(">QBH", seq, ctype, len(data)) + data
        )
        outer = hashes.Hash(hash_algorithm(self.spec.mac))
        outer.update(self.mac_key + b"\x5c" * pad_len + inner.finalize())
        return outer.finalize()


def _xor_seq(iv: bytes, seq: int) -> bytes:
    return (int.from_bytes(iv, "big") ^ seq).to_bytes(len(iv), "big")
