"""SSL 2.0 messages after the ClientHello: SERVER-HELLO, CLIENT-MASTER-KEY, ERROR.

SSL 2.0 (draft-hickman-netscape-ssl-00; forbidden by RFC 6176) frames its messages in
records of its own: a 2-byte header (high bit set, 15-bit length) or a 3-byte one with
padding. Once the client has sent CLIENT-MASTER-KEY, every later message is encrypted.
Only the plaintext messages are decoded (by the Rust core, ``handshake/sslv2.rs``);
their fields keep the spec's names.
"""

from __future__ import annotations

from tlslens._core import SSLv2ClientMasterKey, SSLv2Error, SSLv2ServerHello, sslv2_message
from tlslens.errors import DecodeError

__all__ = ["SSLv2ClientMasterKey", "SSLv2Error", "SSLv2Message", "SSLv2ServerHello"]

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


SSLv2Message = SSLv2ServerHello | SSLv2ClientMasterKey | SSLv2Error


def pull_message(body: bytes) -> SSLv2Message | None:
    """The plaintext message in a record body, or None for a type kept undecoded.

    Raises DecodeError on a malformed body, naming the message; any other exception is
    a bug."""
    try:
        return sslv2_message(body)
    except DecodeError as exc:
        name = SSL2_MESSAGE_NAMES.get(body[0], "message") if body else "message"
        raise DecodeError(f"SSLv2 {name}: {exc.msg}", layer="handshake") from exc
