"""Extension bodies through the core's decoders (crates/tlslens-core/src/extensions):
typed classes, checked against tshark on real hellos and on real QUIC transport
parameters, and malformed bodies refused as DecodeError."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tlslens import _core, read_capture
from tlslens.errors import DecodeError
from tlslens.events import HandshakeEvent
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs

from conftest import VECTORS

CAPTURES = sorted((VECTORS / "captures").glob("*.pcap*"))
QUIC_CAPTURE = Path("wireshark") / "quic-fragmented-handshakes.pcapng.gz"
HELLO_FIELDS = [
    "frame.number",
    "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_supported_group",
    "tls.handshake.extensions_alpn_str",
    "tls.handshake.extensions_key_share_group",
    "tls.handshake.extensions.supported_version",
    "tls.handshake.extensions_ec_point_format",
    "tls.handshake.extensions_key_share_key_exchange",
]


def _tshark_hellos(tshark: str, path: Path) -> dict[int, list[list[str]]]:
    """tshark's view of every ClientHello of ``path``, by frame: one list per field."""
    fields = [arg for name in HELLO_FIELDS for arg in ("-e", name)]
    lists = ["-E", "occurrence=a", "-E", "aggregator=;"]
    out = subprocess.run(
        [tshark, "-r", str(path), "-Y", "tls.handshake.type == 1", "-T", "fields", *fields, *lists],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    rows: dict[int, list[list[str]]] = {}
    for line in out.splitlines():
        frame, *values = line.split("\t")
        # A frame holding two hellos (a pipelined retry) gives one row: keep the first.
        rows.setdefault(int(frame.split(";")[0]), [v.split(";") if v else [] for v in values])
    return rows


def _hellos(path: Path) -> dict[int, hs.ClientHello]:
    found: dict[int, hs.ClientHello] = {}
    for conn in read_capture(path):
        for event in conn.timeline:
            if not isinstance(event, HandshakeEvent):
                continue
            if isinstance(event.message, hs.ClientHello) and not event.message.sslv2:
                found.setdefault(event.frame, event.message)
    return found


def _decoded(hello: hs.ClientHello, ext_type: int, kind: type[ext.D]) -> ext.D | None:
    return ext.decoded_in(hello, ext_type, kind)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_client_hello_extensions_agree_with_tshark(tshark: str, path: Path) -> None:
    theirs = _tshark_hellos(tshark, path)
    ours = _hellos(path)
    assert ours and set(ours) <= set(theirs), (sorted(ours), sorted(theirs))
    for frame, hello in ours.items():
        sni, groups, alpn, shares, versions, formats, keys = theirs[frame]
        names = _decoded(hello, ext.SERVER_NAME, _core.ServerNameList)
        assert ([n.name for n in names.names] if names else []) == sni
        assert hello.server_name == (sni[0] if sni else None)
        offered = _decoded(hello, ext.SUPPORTED_GROUPS, _core.SupportedGroups)
        assert (offered.groups if offered else []) == [int(g, 16) for g in groups]
        protocols = _decoded(hello, ext.ALPN, _core.ProtocolNameList)
        assert (protocols.protocols if protocols else []) == alpn
        key_share = ext.key_share_in(hello, _core.KeyShareList)
        entries = key_share.shares if key_share else []
        assert [s.group for s in entries] == [int(g) for g in shares]
        assert [s.key_exchange.hex() for s in entries] == keys
        supported = _decoded(hello, ext.SUPPORTED_VERSIONS, _core.SupportedVersions)
        assert (supported.versions if supported else []) == [int(v, 16) for v in versions]
        points = _decoded(hello, ext.EC_POINT_FORMATS, _core.ECPointFormats)
        assert (points.formats if points else []) == [int(f) for f in formats]


def _quic_parameters(node: Any) -> list[dict[str, Any]]:
    """The parameter nodes of the first quic_transport_parameters in tshark's JSON."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("Extension: quic_transport_parameters"):
                return [v for k, v in value.items() if k.startswith("Parameter:")]
            if found := _quic_parameters(value):
                return found
    elif isinstance(node, list):
        for item in node:
            if found := _quic_parameters(item):
                return found
    return []


def test_quic_transport_parameters_agree_with_tshark(tshark: str, corpus: Path) -> None:
    """A real client's parameters (Wireshark's QUIC test capture, decrypted by tshark from
    its Initial packets): the wire bytes as tshark shows them (each field's raw hex),
    decoded by the core, give tshark's ids, lengths and integer values."""
    wanted = "tls.handshake.extension.type == 57"
    out = subprocess.run(
        [tshark, "-r", str(corpus / QUIC_CAPTURE), "-Y", wanted, "-T", "json", "-x"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    nodes = _quic_parameters(json.loads(out))
    assert len(nodes) == 16
    # Each field's raw bytes by its offset (a value is shown twice: raw and decoded).
    pieces: dict[int, bytes] = {}
    for node in nodes:
        for key, raw in node.items():
            if key.endswith("_raw") and not isinstance(raw[0], list):
                pieces[raw[1]] = bytes.fromhex(raw[0])
    body = b""
    for offset in sorted(pieces):
        assert offset == min(pieces) + len(body), "tshark's fields leave a hole"
        body += pieces[offset]
    value = ext.decode_extension(ext.Extension(ext.QUIC_TRANSPORT_PARAMETERS, body), "client_hello")
    assert isinstance(value, _core.TransportParameters)
    assert [p.id for p in value.parameters] == [int(n["tls.quic.parameter.type"]) for n in nodes]
    assert [len(p.value) for p in value.parameters] == [
        int(n["tls.quic.parameter.length"]) for n in nodes
    ]
    by_name = {p.name: p for p in value.parameters if p.name is not None}
    assert by_name["initial_max_data"].integer == 1048576
    assert by_name["max_idle_timeout"].integer == 30000
    assert by_name["active_connection_id_limit"].integer == 8
    assert by_name["initial_source_connection_id"].integer is None
    assert len(by_name["initial_source_connection_id"].value) == 8
    assert by_name["grease_quic_bit"].value == b""  # 0x2ab2, RFC 9287: a flag
    # GREASE and unregistered ids (tshark names some of them: drafts, Google's): kept raw.
    unnamed = [p for p in value.parameters if p.name is None]
    assert [p.id for p in unnamed] == [7002, 3127, 4278378010, 29016]
    assert all(p.integer is None for p in unnamed) and len(unnamed[1].value) == 1200


def test_preferred_address_is_unpacked() -> None:
    body = bytes.fromhex(
        "0d2d"  # preferred_address, 45 bytes
        "c0000201"
        "01bb" + "20010db8" + "00" * 11 + "01" + "115c"  # 192.0.2.1:443  # 2001:db8::1:4444
        "04"
        "0a0b0c0d"  # connection ID
         + "22" * 16  # stateless reset token
    )
    value = _core.decode_extension(ext.QUIC_TRANSPORT_PARAMETERS, body, ext.ENCRYPTED_EXTENSIONS)
    assert isinstance(value, _core.TransportParameters)
    (param,) = value.parameters
    address = param.preferred_address
    assert param.name == "preferred_address" and address is not None
    assert address.ipv4_address == bytes([192, 0, 2, 1]) and address.ipv4_port == 443
    assert address.ipv6_port == 4444 and address.connection_id == b"\x0a\x0b\x0c\x0d"
    assert address.stateless_reset_token == b"\x22" * 16


@pytest.mark.parametrize(
    ("ext_type", "body", "message"),
    [
        (ext.QUIC_TRANSPORT_PARAMETERS, "01020500", ext.CLIENT_HELLO),  # varint + junk
        (ext.QUIC_TRANSPORT_PARAMETERS, "02020102", ext.ENCRYPTED_EXTENSIONS),  # short token
        (ext.QUIC_TRANSPORT_PARAMETERS, "3a00" * 257, ext.CLIENT_HELLO),  # past the bound
        (ext.KEY_SHARE, "0017", ext.SERVER_HELLO),  # a group without its key
        (ext.PRE_SHARED_KEY, "0006000201020000", ext.CLIENT_HELLO),  # age cut
        (ext.ENCRYPTED_CLIENT_HELLO, "0100", ext.CLIENT_HELLO),  # inner ECH is empty
    ],
)
def test_malformed_bodies_are_decode_errors(ext_type: int, body: str, message: str) -> None:
    with pytest.raises(DecodeError, match=f"extension {ext_type} in {message}") as raised:
        _core.decode_extension(ext_type, bytes.fromhex(body), message)
    assert raised.value.layer == "extension"


def test_delegated_credential_outside_the_hello_is_its_length() -> None:
    """The Python decoder left the credential unread and refused every non-empty one."""
    found = ext.decode_extension(ext.Extension(ext.DELEGATED_CREDENTIAL, b"\1\2\3"), "certificate")
    assert isinstance(found, _core.DelegatedCredential) and found.length == 3


# RFC 8446 §4.1.3: the random that makes a ServerHello a HelloRetryRequest.
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


def _server_hello(random: bytes, extensions: bytes) -> hs.ServerHello:
    body = (
        bytes.fromhex("0303")  # legacy_version
        + random
        + bytes.fromhex("00")  # legacy_session_id_echo: empty
        + bytes.fromhex("1301")  # TLS_AES_128_GCM_SHA256
        + bytes.fromhex("00")  # legacy_compression_method
        + len(extensions).to_bytes(2, "big")
        + extensions
    )
    hello = hs.parse_message(hs.SERVER_HELLO, body, hs.HandshakeContext())
    assert isinstance(hello, hs.ServerHello)
    return hello


def test_a_message_decodes_an_extension_in_its_own_shape() -> None:
    extensions = bytes.fromhex("003300020017")  # key_share: 2 bytes, secp256r1
    retry = _server_hello(HRR_RANDOM, extensions)
    asked = ext.key_share_in(retry, _core.SelectedGroup)
    assert asked is not None and asked.selected_group == 0x17
    assert retry.key_share_group == 0x17
    # The same bytes in a ServerHello are malformed; in another shape, absent.
    hello = _server_hello(bytes(32), extensions)
    assert ext.key_share_in(hello, _core.KeyShareList) is None
    assert hello.key_share_group is None and hello.decoded(ext.KEY_SHARE) is None
    assert ext.key_share_in(retry, _core.KeyShareList) is None


def test_a_message_finds_an_extension_by_code_without_a_walk() -> None:
    """The core indexes a message's extensions by code point (the first of each code, as a
    walk finds it) and decodes a body once, as that message's: one object for every
    question."""
    extensions = bytes.fromhex(
        "002b" "0002" "0304"  # supported_versions: TLS 1.3
        "0033" "0006" "001d" "0002" "abcd"  # key_share: x25519, 2 bytes
        "002b" "0002" "0303"  # supported_versions again (a finding): the first one counts
        "fafa" "0000"  # GREASE, kept raw
    )  # fmt: skip
    hello = _server_hello(bytes(32), extensions)
    assert hello.selected_version == 0x0304 and hs.selected_version(hello) == 0x0304
    assert hello.key_share_group == 0x1D
    first = hello.extension(ext.SUPPORTED_VERSIONS)
    assert first is not None and first.data == bytes.fromhex("0304")
    assert first is hello.extensions[0]
    decoded = hello.decoded(ext.SUPPORTED_VERSIONS)
    assert isinstance(decoded, _core.SelectedVersion) and decoded.selected_version == 0x0304
    assert hello.decoded(ext.SUPPORTED_VERSIONS) is decoded
    assert hello.extension(0xFAFA) is hello.extensions[3] and hello.decoded(0xFAFA) is None
    assert hello.extension(ext.ALPN) is None and hello.decoded(ext.ALPN) is None
    share = ext.server_key_share(hello)
    assert share is not None and [s.key_exchange for s in share.shares] == [b"\xab\xcd"]


def test_an_unknown_message_name_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="CertificateRequest"):
        _core.decode_extension(ext.SUPPORTED_GROUPS, b"\0\0", "CertificateRequest")


def test_first_alpn_reads_a_broken_list() -> None:
    def alpn(body: bytes) -> bytes:
        return bytes.fromhex("0010") + len(body).to_bytes(2, "big") + body

    assert (
        ext.first_alpn(_server_hello(bytes(32), alpn(bytes.fromhex("0010026832086874")))) == b"h2"
    )
    assert ext.first_alpn(_server_hello(bytes(32), alpn(b"\0\0"))) is None
    assert ext.first_alpn(_server_hello(bytes(32), b"")) is None
