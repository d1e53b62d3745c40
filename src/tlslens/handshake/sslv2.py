"""SSL 2.0 messages after the ClientHello: SERVER-HELLO, CLIENT-MASTER-KEY, ERROR.

SSL 2.0 (draft-hickman-netscape-ssl-00; forbidden by RFC 6176) frames its messages in
records of its own: a 2-byte header (high bit set, 15-bit length) or a 3-byte one with
padding. Once the client has sent CLIENT-MASTER-KEY, every later message is encrypted.
Only the plaintext messages are decoded here; their fields keep the spec's names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tlslens._buffer import Buffer, BufferReadError
from tlslens.errors import DecodeError

SSL2_ERROR = 0
SSL2_CLIENT_MASTER_KEY = 2
SSL2_SERVER_HELLO = 4
SSL2_MESSAGE_NAMES = {
    0: "ERROR",
    1: "CLIENT-HELLO",
    2: "CLIENT-MASTER-KEY",
    3: "CLIENT-FINISHED",
    4: "SERVER-HELLO",
    5: "SERVER-VERIFY",
    6: "SERVER-FINISHED",
    7: "REQUEST-CERTIFICATE",
    8: "CLIENT-CERTIFICATE",
}
SSL2_ERRORS = {
    1: "NO-CIPHER-ERROR",
    2: "NO-CERTIFICATE-ERROR",
    4: "BAD-CERTIFICATE-ERROR",
    6: "UNSUPPORTED-CERTIFICATE-TYPE-ERROR",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SSLv2ServerHello:
    session_id_hit: bool
    certificate_type: int  # 1: X.509
    server_version: int
    certificate: bytes = field(repr=False)
    cipher_specs: tuple[int, ...]
    connection_id: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class SSLv2ClientMasterKey:
    cipher_kind: int
    clear_key: bytes = field(repr=False)
    encrypted_key: bytes = field(repr=False)
    key_arg: bytes = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SSLv2Error:
    error_code: int


SSLv2Message = SSLv2ServerHello | SSLv2ClientMasterKey | SSLv2Error


def record_header(data: bytes | bytearray, at: int = 0) -> tuple[int, int] | None:
    """(header length, body length) of the SSLv2 record at ``at``; None when the header is
    incomplete. A 3-byte header carries a padding count in its third byte."""
    if len(data) < at + 2:
        return None
    if data[at] & 0x80:
        return 2, ((data[at] & 0x7F) << 8) | data[at + 1]
    if len(data) < at + 3:
        return None
    return 3, ((data[at] & 0x3F) << 8) | data[at + 1]


def pull_message(body: bytes) -> SSLv2Message | None:
    """The plaintext message in a record body, or None for a type kept undecoded.

    Raises DecodeError on a malformed body; any other exception is a bug."""
    buf = Buffer(body)
    try:
        msg_type = buf.pull_uint8()
        if msg_type == SSL2_SERVER_HELLO:
            hit, cert_type, version = buf.pull_uint8(), buf.pull_uint8(), buf.pull_uint16()
            cert_len, specs_len, cid_len = buf.pull_uint16(), buf.pull_uint16(), buf.pull_uint16()
            if specs_len % 3:
                raise BufferReadError(f"cipher specs of {specs_len} bytes, not a multiple of 3")
            certificate, specs = buf.pull_bytes(cert_len), buf.pull_bytes(specs_len)
            return SSLv2ServerHello(
                session_id_hit=bool(hit),
                certificate_type=cert_type,
                server_version=version,
                certificate=certificate,
                cipher_specs=tuple(
                    int.from_bytes(specs[i : i + 3], "big") for i in range(0, specs_len, 3)
                ),
                connection_id=buf.pull_bytes(cid_len),
            )
        if msg_type == SSL2_CLIENT_MASTER_KEY:
            kind = int.from_bytes(buf.pull_bytes(3), "big")
            clear_len, enc_len, arg_len = buf.pull_uint16(), buf.pull_uint16(), buf.pull_uint16()
            return SSLv2ClientMasterKey(
                cipher_kind=kind,
                clear_key=buf.pull_bytes(clear_len),
                encrypted_key=buf.pull_bytes(enc_len),
                key_arg=buf.pull_bytes(arg_len),
            )
        if msg_type == SSL2_ERROR:
            return SSLv2Error(error_code=buf.pull_uint16())
    except BufferReadError as exc:
        name = SSL2_MESSAGE_NAMES.get(body[0], "message") if body else "message"
        raise DecodeError(f"SSLv2 {name}: {exc}", layer="handshake") from exc
    return None
