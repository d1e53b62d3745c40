"""One scanner probe, sans-IO: a ClientHello tlslens writes itself, and the server's answer
read by the same record layer, message parsers and session as a capture.

The probe keeps its ephemeral private keys: when a TLS 1.3 server answers on a group it
holds a key for, it computes the handshake traffic secrets (the existing key schedule)
and hands them to the session as a key log, so the encrypted half of the server's flight
(EncryptedExtensions, Certificate, CertificateVerify, Finished) is decrypted like a
capture with its keys. Bytes in through ``feed``, ``done`` once the server's first flight
is complete (or it said no), ``result`` the Connection.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519

from tlslens import registry
from tlslens._core import MAX_RECORD, derive_secret, hkdf_extract
from tlslens.errors import DecodeError
from tlslens.events import ALERT_EVENTS, SSLV2_EVENTS, HandshakeEvent
from tlslens.explain.verdict import not_tls
from tlslens.handshake import compose
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs
from tlslens.handshake.compression import push_compress_certificate
from tlslens.keys.store import KeyStore
from tlslens.model import Connection, Endpoint
from tlslens.tls.session import TLSSession

SSL3, TLS10, TLS11, TLS12, TLS13 = 0x0300, 0x0301, 0x0302, 0x0303, 0x0304
X25519, SECP256R1, SECP384R1, SECP521R1, X448 = 29, 23, 24, 25, 30
X25519MLKEM768, SECP256R1MLKEM768, SECP384R1MLKEM1024 = 0x11EC, 0x11EB, 0x11ED
FFDHE = (256, 257, 258, 259, 260)
MAX_FLIGHT = 1 << 19  # what a probe keeps of a server's first flight
_CURVES: dict[int, type[ec.EllipticCurve]] = {
    SECP256R1: ec.SECP256R1,
    SECP384R1: ec.SECP384R1,
    SECP521R1: ec.SECP521R1,
}
# ML-KEM encapsulation keys by size; all-zero coefficients are a well-formed key (they pass
# the modulus check of FIPS 203 §7.2), so a server can encapsulate to it. The scanner
# cannot decapsulate: a probe answered on a hybrid group learns the group, not the keys.
_MLKEM_EK = {768: 1184, 1024: 1568}
DEFAULT_GROUPS = (
    X25519MLKEM768,
    X25519,
    SECP256R1,
    X448,
    SECP384R1,
    SECP521R1,
    SECP256R1MLKEM768,
    SECP384R1MLKEM1024,
    *FFDHE,
)
DEFAULT_SIGNATURE_ALGORITHMS = (
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806,
    0x0809, 0x080A, 0x080B, 0x0401, 0x0501, 0x0601, 0x0303, 0x0203, 0x0201,
)  # fmt: skip


@dataclass(slots=True, kw_only=True)
class Offer:
    """What a probe offers. ``version`` is the highest; TLS 1.3 offers list
    ``tls13_versions`` in supported_versions (TLS 1.3 alone unless told)."""

    version: int
    cipher_suites: tuple[int, ...]
    sni: str | None = None
    groups: tuple[int, ...] = DEFAULT_GROUPS
    key_share_groups: tuple[int, ...] = (X25519,)
    signature_algorithms: tuple[int, ...] = DEFAULT_SIGNATURE_ALGORITHMS
    alpn: tuple[str, ...] = ()
    status_request: bool = True
    session_ticket: bool = True
    extended_master_secret: bool = True
    encrypt_then_mac: bool = True
    renegotiation_info: bool = True
    fallback_scsv: bool = False
    compression_methods: tuple[int, ...] = (0,)
    tls13_versions: tuple[int, ...] = (TLS13,)
    grease: bool = False
    compress_certificate: tuple[int, ...] = ()  # RFC 8879 algorithms offered (TLS 1.3)


@dataclass(slots=True)
class ProbeResult:
    conn: Connection | None
    error: str | None = None  # why the answer is not a TLS answer at all
    server_bytes: int = 0
    answered: bool = False  # a ServerHello (or an SSL 2.0 SERVER-HELLO) came back


def _key_share(group: int) -> tuple[bytes, object | None]:
    """(public bytes, private key or None) for a key share on ``group``."""
    if group == X25519:
        key = x25519.X25519PrivateKey.generate()
        return key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        ), key
    if group == X448:
        key448 = x448.X448PrivateKey.generate()
        return key448.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        ), key448
    if group in _CURVES:
        key_ec = ec.generate_private_key(_CURVES[group]())
        return key_ec.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        ), key_ec
    ek768 = b"\0" * (_MLKEM_EK[768] - 32) + os.urandom(32)
    if group == X25519MLKEM768:
        return ek768 + _key_share(X25519)[0], None
    if group == SECP256R1MLKEM768:
        return _key_share(SECP256R1)[0] + ek768, None
    if group == SECP384R1MLKEM1024:
        return _key_share(SECP384R1)[0] + b"\0" * (_MLKEM_EK[1024] - 32) + os.urandom(32), None
    raise ValueError(f"no key share for group {group}")


def _shared_secret(private: object, server_share: bytes) -> bytes:
    if isinstance(private, x25519.X25519PrivateKey):
        return private.exchange(x25519.X25519PublicKey.from_public_bytes(server_share))
    if isinstance(private, x448.X448PrivateKey):
        return private.exchange(x448.X448PublicKey.from_public_bytes(server_share))
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    public = ec.EllipticCurvePublicKey.from_encoded_point(private.curve, server_share)
    return private.exchange(ec.ECDH(), public)


class Probe:
    """One ClientHello and the server's answer to it."""

    def __init__(self, offer: Offer, *, server: Endpoint | None = None, ts_ns: int = 0) -> None:
        self.offer = offer
        self.ts_ns = ts_ns  # when it was sent: certificates are judged as of then
        self.random = os.urandom(32)
        self.private: dict[int, object] = {}
        tls13 = offer.version >= TLS13
        shares: list[tuple[int, bytes]] = []
        if tls13:
            for group in offer.key_share_groups:
                public, private = _key_share(group)
                shares.append((group, public))
                if private is not None:
                    self.private[group] = private
        suites = list(offer.cipher_suites)
        if offer.fallback_scsv:
            suites.append(compose.TLS_FALLBACK_SCSV)
        if not offer.renegotiation_info and offer.version < TLS13:
            suites.append(compose.TLS_EMPTY_RENEGOTIATION_INFO_SCSV)
        legacy = min(offer.version, TLS12)
        spec = compose.HelloSpec(
            legacy_version=legacy,
            random=self.random,
            session_id=os.urandom(32) if tls13 else b"",
            cipher_suites=suites,
            compression_methods=offer.compression_methods,
            server_name=offer.sni,
            supported_versions=offer.tls13_versions if tls13 else (),
            groups=offer.groups if offer.version >= TLS10 else (),
            key_shares=shares,
            signature_algorithms=offer.signature_algorithms if offer.version >= TLS12 else (),
            alpn=offer.alpn,
            status_request=offer.status_request and offer.version >= TLS10,
            session_ticket=b"" if offer.session_ticket and offer.version >= TLS10 else None,
            extended_master_secret=offer.extended_master_secret and offer.version >= TLS10,
            encrypt_then_mac=offer.encrypt_then_mac and offer.version >= TLS10,
            renegotiation_info=offer.renegotiation_info and offer.version >= TLS10,
            ec_point_formats=offer.version >= TLS10,
            psk_key_exchange_modes=(1,) if tls13 else (),
            grease=compose.GREASE_VALUES[self.random[0] & 0x0F] if offer.grease else None,
            extra=[
                (ext.COMPRESS_CERTIFICATE, push_compress_certificate(offer.compress_certificate))
            ]
            if offer.compress_certificate and tls13
            else [],
        )
        self.client_hello = compose.push_client_hello(spec)
        # SSL 3.0 and TLS 1.0 servers expect the record version no higher than 1.0.
        self.hello = compose.push_records(
            compose.CT_HANDSHAKE, min(legacy, TLS10), self.client_hello
        )
        self.server = server or Endpoint(b"\x7f\0\0\x01", 443)
        self._buffer = bytearray()
        self._session: TLSSession | None = None
        self._offset = 0
        self.keys = KeyStore()
        self.done = False
        self.error: str | None = None

    # -- bytes in ------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Take bytes from the server (b"" at its close)."""
        if self.done:
            return
        if not data:
            if self._session is None and self._buffer:
                self.error = (
                    f"the server closed after {len(self._buffer)} bytes, before a whole ServerHello"
                )
            self.done = True
            return
        if len(self._buffer) + len(data) > MAX_FLIGHT:
            self.error = f"the server's first flight exceeds {MAX_FLIGHT} bytes"
            self.done = True
            return
        self._buffer += data
        if self._session is None:
            self._start()
        else:
            self._session.data(1, self._offset, data, 2, self.ts_ns)
            self._offset += len(data)
        self._check_done()

    def _start(self) -> None:
        data = bytes(self._buffer)
        first = data[0]
        if first in (21, 22) and len(data) >= 5:
            claimed = int.from_bytes(data[3:5], "big")
            if claimed > MAX_RECORD:
                self.error = (
                    f"the server's answer is malformed: a record header claiming {claimed} "
                    f"bytes, more than TLS allows ({MAX_RECORD})"
                )
                self.done = True
                return
        if first & 0x80 or first in (21, 22):
            hello = self._server_hello(data) if first == 22 else None
            if first == 22 and hello is None and not self._complete_record_without_hello(data):
                return  # wait for the rest of the ServerHello
            if hello is not None:
                self._learn_secrets(*hello)
            self._session = TLSSession(
                0,
                (Endpoint(b"\x7f\0\0\x01", 50000), self.server),
                1,
                self.ts_ns,
                client_side=0,
                mid_stream=False,
                file="scan",
                keys=self.keys,
            )
            self._session.data(0, 0, self.hello, 1, self.ts_ns)
            self._session.data(1, 0, data, 2, self.ts_ns)
            self._offset = len(data)
            return
        # A ChangeCipherSpec or application data record first is TLS, not an answer to a
        # ClientHello: not_tls leaves it to us.
        self.error = not_tls(data, len(data)) or (
            "the server's answer is not TLS (it begins " + data[:16].hex(" ") + ")"
        )
        self.done = True

    @staticmethod
    def _complete_record_without_hello(data: bytes) -> bool:
        """A whole handshake record is there but it is no ServerHello: let the session say."""
        return (
            len(data) >= 5
            and len(data) >= 5 + int.from_bytes(data[3:5], "big")
            and data[5:6] != b"\x02"
        )

    @staticmethod
    def _server_hello(data: bytes) -> tuple[hs.ServerHello, bytes] | None:
        """The ServerHello at the start of the server's stream, once all of it is there,
        with its exact bytes (for the transcript)."""
        handshake = bytearray()
        pos = 0
        while pos + 5 <= len(data) and data[pos] == 22:
            length = int.from_bytes(data[pos + 3 : pos + 5], "big")
            handshake += data[pos + 5 : pos + 5 + length]
            pos += 5 + length
            if len(handshake) >= 4 and handshake[0] == hs.SERVER_HELLO:
                size = int.from_bytes(handshake[1:4], "big")
                if len(handshake) >= 4 + size:
                    try:
                        message = hs.parse_message(
                            hs.SERVER_HELLO, bytes(handshake[4 : 4 + size]), hs.HandshakeContext()
                        )
                    except DecodeError:
                        return None
                    if not isinstance(message, hs.ServerHello):
                        return None
                    return message, bytes(handshake[: 4 + size])
            elif len(handshake) >= 1 and handshake[0] != hs.SERVER_HELLO:
                return None
        return None

    def _learn_secrets(self, hello: hs.ServerHello, raw: bytes) -> None:
        """TLS 1.3 on a group we hold a key for: the handshake traffic secrets, as a key log."""
        if hs.selected_version(hello) != TLS13 or hello.is_hello_retry_request:
            return
        share = ext.server_key_share(hello)
        info = registry.CIPHER_SUITES.get(hello.cipher_suite)
        if share is None or info is None or info.prf_hash is None:
            return
        (entry,) = share.shares  # a ServerHello's KeyShareServerHello holds one entry
        private = self.private.get(entry.group)
        if private is None:
            return
        try:
            shared = _shared_secret(private, entry.key_exchange)
        except (ValueError, TypeError):
            return  # a malformed server share: the session reports the rest
        hash_name = info.prf_hash
        zeros = b"\0" * (32 if hash_name == "SHA256" else 48)
        early = hkdf_extract(hash_name, b"", zeros)
        secret = hkdf_extract(hash_name, derive_secret(hash_name, early, b"derived", b""), shared)
        transcript = self.client_hello + raw
        lines = [
            f"{label} {self.random.hex()} {derive_secret(hash_name, secret, tag, transcript).hex()}"
            for label, tag in (
                ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", b"c hs traffic"),
                ("SERVER_HANDSHAKE_TRAFFIC_SECRET", b"s hs traffic"),
            )
        ]
        self.keys.keylog.add_text("\n".join(lines), "the scanner's own key share", "scanner")

    def _check_done(self) -> None:
        session = self._session
        conn = session.conn if session is not None else None
        if conn is None:
            return
        if conn.server_hello is None and conn.hello_retry_request is None:
            broken = next((p for p in conn.problems if p.direction == "s2c"), None)
            if broken is not None:
                self.error = f"the server's answer is malformed: {broken.message}"
                self.done = True
                return
        for event in reversed(conn.timeline):
            if isinstance(event, ALERT_EVENTS + SSLV2_EVENTS):
                self.done = True
                return
            if event.direction != "s2c" or not isinstance(event, HandshakeEvent):
                continue
            message = event.message
            if isinstance(message, hs.ServerHello):
                # TLS 1.3 without our keys (a hybrid group, a HelloRetryRequest): the
                # ServerHello is all there is to learn.
                if message.is_hello_retry_request or (
                    hs.selected_version(message) == TLS13 and not self.keys
                ):
                    self.done = True
                return
            if message.msg_type in (hs.SERVER_HELLO_DONE, hs.FINISHED):
                self.done = True
                return
        if conn.sslv2_server_hello:
            self.done = True

    def result(self) -> ProbeResult:
        conn = self._session.finish() if self._session is not None else None
        answered = conn is not None and (conn.server_hello is not None or conn.sslv2_server_hello)
        return ProbeResult(conn, self.error, len(self._buffer), answered)


__all__ = ["DEFAULT_GROUPS", "Offer", "Probe", "ProbeResult"]
