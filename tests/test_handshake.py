"""Handshake messages and extensions from annotated bytes.

Vectors: the first flight of tests/vectors/captures/openssl-hrr-clientauth.pcapng,
recorded by tools/record_captures.py (OpenSSL 3.0 s_client -tls1_3 -groups X25519:P-256
against s_server -groups P-256:P-384, so the server answers with a HelloRetryRequest).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlslens import _core
from tlslens.errors import DecodeError
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs

CLIENT_HELLO_BODY = bytes.fromhex(
    "0303"  # legacy_version: TLS 1.2
    "71f652844edf5582613daa2294a667ca7ef2f658740e3b85d726a8ab58cc32ee"  # random
    "20d8c2531148bd917b4382db8ca2e458263343ddbb0744396dd5ffdada23e6da18"  # legacy_session_id<32>
    "0008"
    "1302"
    "1303"
    "1301"
    "00ff"  # cipher_suites: 3 TLS 1.3 suites + renegotiation SCSV
    "0100"  # legacy_compression_methods: null
    "008c"  # extensions<140>
    "0000"
    "0011"
    "000f"
    "00"
    "000c"
    "746c736c656e732e74657374"  # server_name: tlslens.test
    "000b"
    "0004"
    "03000102"  # ec_point_formats
    "000a"
    "0006"
    "0004"
    "001d"
    "0017"  # supported_groups: x25519, secp256r1
    "0023"
    "0000"  # session_ticket (empty)
    "0016"
    "0000"  # encrypt_then_mac
    "0017"
    "0000"  # extended_master_secret
    "000d"
    "001e"
    "001c"  # signature_algorithms: 14 schemes
    "0403050306030807080808090"
    "80a080b080408050806040105010601"
    "002b"
    "0003"
    "02"
    "0304"  # supported_versions: TLS 1.3
    "002d"
    "0002"
    "01"
    "01"  # psk_key_exchange_modes: psk_dhe_ke
    "0033"
    "0026"
    "0024"
    "001d"
    "0020"  # key_share: one x25519 share of 32 bytes
    "8d5ff8155f1420db635eb4374a429280ecf3c6c6b070c42f10a2444dfac33e6c"
)

HELLO_RETRY_REQUEST_BODY = bytes.fromhex(
    "0303"  # legacy_version
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"  # the HRR random
    "20d8c2531148bd917b4382db8ca2e458263343ddbb0744396dd5ffdada23e6da18"  # echoed session id
    "1302"  # cipher_suite: TLS_AES_256_GCM_SHA384
    "00"  # legacy_compression_method
    "000c"  # extensions<12>
    "002b"
    "0002"
    "0304"  # supported_versions: TLS 1.3
    "0033"
    "0002"
    "0017"  # key_share: please send secp256r1
)


def test_client_hello_fields() -> None:
    msg = hs.parse_message(hs.CLIENT_HELLO, CLIENT_HELLO_BODY, hs.HandshakeContext())
    assert isinstance(msg, hs.ClientHello)
    assert msg.legacy_version == 0x0303
    assert msg.random.hex().startswith("71f65284")
    assert len(msg.legacy_session_id) == 32
    assert msg.cipher_suites == (0x1302, 0x1303, 0x1301, 0x00FF)
    assert [e.type for e in msg.extensions] == [0, 11, 10, 35, 22, 23, 13, 43, 45, 51]
    assert msg.malformed is None
    decoded = {e.type: ext.decode_extension(e, ext.CLIENT_HELLO) for e in msg.extensions}
    names = decoded[0]
    assert isinstance(names, _core.ServerNameList)
    assert [(n.type, n.name) for n in names.names] == [(0, "tlslens.test")]
    groups = decoded[10]
    assert isinstance(groups, _core.SupportedGroups) and groups.groups == [0x001D, 0x0017]
    versions = decoded[43]
    assert isinstance(versions, _core.SupportedVersions) and versions.versions == [0x0304]
    shares = decoded[51]
    assert isinstance(shares, _core.KeyShareList)
    assert [(s.group, s.key_length) for s in shares.shares] == [(0x001D, 32)]
    modes = decoded[45]
    assert isinstance(modes, _core.PSKKeyExchangeModes) and modes.modes == [1]
    schemes = decoded[13]
    assert isinstance(schemes, _core.SignatureSchemes) and len(schemes.schemes) == 14


def test_hello_retry_request() -> None:
    msg = hs.parse_message(hs.SERVER_HELLO, HELLO_RETRY_REQUEST_BODY, hs.HandshakeContext())
    assert isinstance(msg, hs.ServerHello)
    assert msg.is_hello_retry_request
    assert msg.cipher_suite == 0x1302
    key_share = ext.find(msg.extensions, ext.KEY_SHARE)
    assert key_share is not None
    selected = ext.decode_extension(key_share, ext.HELLO_RETRY_REQUEST)
    assert isinstance(selected, _core.SelectedGroup) and selected.selected_group == 0x17


def test_extension_block_overrunning_its_message_keeps_what_it_can() -> None:
    body = bytearray(CLIENT_HELLO_BODY)
    at = 2 + 32 + 33 + 10 + 2  # the extensions length
    body[at : at + 2] = (0x0200).to_bytes(2, "big")
    msg = hs.parse_message(hs.CLIENT_HELLO, bytes(body), hs.HandshakeContext())
    assert isinstance(msg, hs.ClientHello)
    assert msg.malformed == "ClientHello: extensions block declares 512 bytes, 140 remain"
    assert len(msg.extensions) == 10  # every extension was still inside the message


def test_extension_entry_overrunning_the_block() -> None:
    body = bytearray(CLIENT_HELLO_BODY)
    at = 2 + 32 + 33 + 10 + 2 + 2 + 2  # server_name's length
    body[at : at + 2] = (0x0400).to_bytes(2, "big")
    msg = hs.parse_message(hs.CLIENT_HELLO, bytes(body), hs.HandshakeContext())
    assert isinstance(msg, hs.ClientHello)
    assert msg.malformed is not None and "extension 0 declares 1024 bytes" in msg.malformed
    assert msg.extensions == ()


def test_malformed_extension_body_is_a_decode_error() -> None:
    bad = ext.Extension(ext.SUPPORTED_GROUPS, bytes.fromhex("0005001d0017"))
    with pytest.raises(DecodeError, match="extension 10 in client_hello"):
        ext.decode_extension(bad, ext.CLIENT_HELLO)


def test_grease_and_unknown_survive() -> None:
    from tlslens import registry

    assert registry.cipher_suite_name(0x0A0A) == "GREASE (0x0a0a)"
    assert registry.extension_name(0xFAFA) == "GREASE (0xfafa)"
    assert registry.group_name(0x1234) == "unknown (0x1234)"
    assert registry.alert_name(48) == "unknown_ca"
    assert registry.handshake_name(12) == "server_key_exchange"
    assert ext.decode_extension(ext.Extension(0x7777, b"\x01"), ext.CLIENT_HELLO) is None


def test_empty_messages() -> None:
    done = hs.parse_message(hs.SERVER_HELLO_DONE, b"", hs.HandshakeContext(version=0x0303))
    assert isinstance(done, hs.OpaqueMessage)
    with pytest.raises(DecodeError, match="should be empty"):
        hs.parse_message(hs.SERVER_HELLO_DONE, b"\x00", hs.HandshakeContext())


def test_sslv2_client_hello() -> None:
    # RFC 5246 Appendix E.2 layout: a 2-byte header with the high bit set.
    specs = bytes.fromhex("00002f000035010080")  # two TLS suites and SSL_CK_RC4_128_WITH_MD5
    challenge = bytes(range(16))
    body = b"\x01" + b"\x03\x01" + len(specs).to_bytes(2, "big") + b"\x00\x00" + b"\x00\x10"
    body += specs + challenge
    record = (0x8000 | len(body)).to_bytes(2, "big") + body
    msg = hs.parse_sslv2_client_hello(record)
    assert msg.sslv2 and msg.legacy_version == 0x0301
    assert msg.cipher_suites == (0x2F, 0x35, 0x010080)
    assert msg.random == b"\0" * 16 + challenge


@given(cut=st.integers(0, len(CLIENT_HELLO_BODY)), junk=st.binary(max_size=64))
def test_truncated_or_extended_hello_raises_only_decode_error(cut: int, junk: bytes) -> None:
    try:
        msg = hs.parse_message(
            hs.CLIENT_HELLO, CLIENT_HELLO_BODY[:cut] + junk, hs.HandshakeContext()
        )
    except DecodeError:
        return
    assert isinstance(msg, hs.ClientHello)
    for extension in msg.extensions:
        try:
            ext.decode_extension(extension, ext.CLIENT_HELLO)
        except DecodeError:
            pass


MESSAGE_TYPES = [0, 1, 2, 4, 5, 8, 11, 12, 13, 14, 15, 16, 20, 22, 24, 25, 254]
CONTEXTS = [
    hs.HandshakeContext(),
    hs.HandshakeContext(version=0x0300, kx="RSA", auth="RSA"),
    hs.HandshakeContext(version=0x0303, kx="ECDHE", auth="ECDSA"),
    hs.HandshakeContext(version=0x0303, kx="DHE", auth="PSK"),
    hs.HandshakeContext(version=0x0304),
]


@given(
    msg_type=st.sampled_from(MESSAGE_TYPES),
    ctx=st.sampled_from(CONTEXTS),
    body=st.one_of(
        st.binary(max_size=300),
        st.integers(0, len(CLIENT_HELLO_BODY)).map(lambda n: CLIENT_HELLO_BODY[:n]),
    ),
)
def test_any_bytes_in_any_message_raise_only_decode_error(
    msg_type: int, ctx: hs.HandshakeContext, body: bytes
) -> None:
    try:
        hs.parse_message(msg_type, body, ctx)
    except DecodeError:
        pass


# -- the messages are the Rust core's (crates/tlslens-core/src/handshake/) ------------------


def test_messages_are_the_cores_frozen_classes() -> None:
    msg = hs.parse_message(hs.CLIENT_HELLO, CLIENT_HELLO_BODY, hs.HandshakeContext())
    assert type(msg).__module__ == "tlslens._core"
    assert isinstance(msg, hs.HandshakeMessage) and isinstance(msg, hs.ClientHello)
    with pytest.raises(AttributeError):
        msg.random = b""  # type: ignore[misc]
    first = msg.extensions[0]
    assert first == ext.Extension(0, first.data) and first != ext.Extension(1, first.data)
    assert len({first, ext.Extension(0, first.data)}) == 1


def test_repeated_extensions_are_named_by_the_registry() -> None:
    """The finding names the repeated type as the registry does, after the block's fault."""
    body = bytearray(CLIENT_HELLO_BODY)
    at = 2 + 32 + 33 + 10 + 2  # the extensions length
    body[at : at + 2] = (0x0200).to_bytes(2, "big")
    again = bytes.fromhex("002b0003020304")  # supported_versions a second time
    msg = hs.parse_message(hs.CLIENT_HELLO, bytes(body) + again + b"\0\0", hs.HandshakeContext())
    assert isinstance(msg, hs.ClientHello)
    assert msg.malformed == "ClientHello: 2 stray bytes in the extensions block"
    msg = hs.parse_message(hs.CLIENT_HELLO, bytes(body) + again, hs.HandshakeContext())
    assert isinstance(msg, hs.ClientHello)
    assert msg.malformed == (
        "ClientHello: extensions block declares 512 bytes, 147 remain; ClientHello: 11 "
        "extensions, 1 of them repeating a type already present (the first: "
        "supported_versions); RFC 8446 §4.2 and RFC 5246 §7.4.1.4 allow one of each type"
    )


def test_a_cut_message_names_the_offset_in_its_body() -> None:
    with pytest.raises(DecodeError) as cut:
        hs.parse_message(hs.CLIENT_HELLO, CLIENT_HELLO_BODY[:40], hs.HandshakeContext())
    assert cut.value.layer == "handshake"
    assert cut.value.msg == "message type 1: needs 32 bytes at offset 35, 5 remain"
    with pytest.raises(DecodeError, match="message type 12: explicit curve parameters"):
        hs.parse_message(
            hs.SERVER_KEY_EXCHANGE,
            b"\x01\x00",
            hs.HandshakeContext(version=0x0303, kx="ECDHE", auth="RSA"),
        )


def test_key_exchange_params_keep_their_rfc_names() -> None:
    ske = hs.parse_message(
        hs.SERVER_KEY_EXCHANGE,
        bytes.fromhex("03001741" + "04" * 65 + "0401" + "0002abcd"),
        hs.HandshakeContext(version=0x0303, kx="ECDHE", auth="RSA"),
    )
    assert isinstance(ske, hs.ServerKeyExchange)
    assert ske.params == {"curve_type": 3, "named_curve": 0x17, "public_key": b"\x04" * 65}
    assert (ske.kx, ske.signature_scheme, ske.signature) == ("ECDHE", 0x0401, b"\xab\xcd")
    cke = hs.parse_message(
        hs.CLIENT_KEY_EXCHANGE,
        bytes.fromhex("0001610003010203"),
        hs.HandshakeContext(version=0x0303, kx="DHE_PSK", auth="PSK"),
    )
    assert isinstance(cke, hs.ClientKeyExchange)
    assert cke.params == {"psk_identity": "a", "dh_Yc_length": 3}


def test_a_compressed_certificate_is_copied_when_opened() -> None:
    ctx = hs.HandshakeContext(version=0x0304)
    compressed = hs.parse_message(
        hs.COMPRESSED_CERTIFICATE, bytes.fromhex("0002000009000001aa"), ctx
    )
    certificate = hs.parse_message(hs.CERTIFICATE, bytes.fromhex("00000000"), ctx)
    assert isinstance(compressed, hs.CompressedCertificate)
    assert isinstance(certificate, hs.Certificate)
    opened = compressed.with_certificate(certificate)
    assert opened.certificate is certificate and compressed.certificate is None
    refused = compressed.with_malformed("why")
    assert (refused.malformed, refused.algorithm, refused.certificate) == ("why", 2, None)


def _certificate_body(*ders: bytes) -> bytes:
    """A TLS 1.2 Certificate message's body: certificate_list<3> of ASN.1Cert<3>."""
    entries = b"".join(len(der).to_bytes(3, "big") + der for der in ders)
    return len(entries).to_bytes(3, "big") + entries


def _cert_data(body: bytes) -> list[bytes]:
    certificate = hs.parse_message(hs.CERTIFICATE, body, hs.HandshakeContext(version=0x0303))
    assert isinstance(certificate, hs.Certificate)
    return [entry.cert_data for entry in certificate.certificate_list]


def test_a_certificate_seen_again_is_the_same_bytes_object() -> None:
    # Python's caches of certificates find it by identity, its hash kept (shared_der.rs).
    leaf, issuer = b"\x30\x82" + bytes(range(200)), b"\x30\x81" + bytes(100) + b"\x01"
    first = _cert_data(_certificate_body(leaf, issuer))
    again = _cert_data(_certificate_body(issuer, leaf))
    assert first == [leaf, issuer] and again == [issuer, leaf]
    assert again[1] is first[0] and again[0] is first[1]
    # The same length and end, another start: compared whole, its own object.
    alike = b"\x31" + leaf[1:]
    (made,) = _cert_data(_certificate_body(alike))
    assert made == alike and made is not first[0]
    assert _cert_data(_certificate_body(leaf))[0] is first[0]
    # Too large to share (64 KiB and more): an object per message.
    large = b"\x30" + bytes(65 << 10)
    assert _cert_data(_certificate_body(large))[0] is not _cert_data(_certificate_body(large))[0]
