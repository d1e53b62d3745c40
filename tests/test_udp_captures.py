"""What the project's QUIC and DTLS captures hold, by tshark's dissectors and their key logs.

tools/record_captures.py --only quic dtls records tests/vectors/captures/udp/ from real
stacks on loopback (tools/record_quic.py, tools/record_dtls.py); the captures README lists
each connection. These tests check the recordings themselves, connection by connection,
with tshark as the oracle: once with the .keys file on a copy stripped of its Decryption
Secrets Block, once with the capture's own DSB. The QUIC and DTLS parsers of the core are
to agree with the same fields (tests/_tshark.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from _tshark import (
    APPLICATION_CLOSE,
    CONNECTION_CLOSE,
    TsharkDTLS,
    TsharkQUIC,
    run_tshark_dtls,
    run_tshark_quic,
    strip_secrets,
)
from conftest import CAPTURES

T = TypeVar("T")
UDP = CAPTURES / "udp"
V1, V2 = 0x00000001, 0x6B3343CF
AES_256_GCM_SHA384 = 0x1302
SECP256R1, X25519, X25519MLKEM768 = 23, 29, 0x11EC
# aioquic offers a key share for each group it supports; the server picks P-256.
AIOQUIC_SHARES = [SECP256R1, 24, X25519, 30]
NEW_CONNECTION_ID, RETIRE_CONNECTION_ID, PATH_CHALLENGE, PATH_RESPONSE = 0x18, 0x19, 0x1A, 0x1B
HTTP3_HEADERS, HTTP3_DATA = 0x01, 0x00
# aioquic's client after a Retry sends a new ClientHello (new random), which RFC 9000
# 17.2.5.2 forbids; tshark 4.0 then takes it for a retransmission of the first and keys
# the connection on the first random unless out-of-order CRYPTO reassembly is off (the
# workaround of Wireshark issue 18757, quiche's same behaviour). With it off, Chromium's
# ClientHello (CRYPTO frames out of order across two Initials) is no longer reassembled:
# so the Retry connection is read with it off, the others with it on.
RETRY_CONNECTION = 2
NO_OUT_OF_ORDER = ["-o", "quic.reassemble_crypto_out_of_order:FALSE"]

# Per QUIC connection, in capture order: (QUIC version, server port 443 or not, client
# datagrams before the server's first, the ClientHello's key share groups).
QUIC_EXPECTED = [
    ("aioquic v1", V1, True, 1, AIOQUIC_SHARES),
    ("aioquic v2", V2, True, 1, AIOQUIC_SHARES),
    ("aioquic v1 after Retry", V1, False, 1, AIOQUIC_SHARES * 2),
    ("aioquic, ClientHello over two Initials", V1, True, 2, AIOQUIC_SHARES),
    ("aioquic, new connection ID then migration", V1, True, 1, AIOQUIC_SHARES),
    ("aioquic refusing the certificate", V1, True, 1, AIOQUIC_SHARES),
    ("Chromium", V1, False, 2, [X25519MLKEM768, X25519]),
]


def _views(
    name: str, factory: pytest.TempPathFactory, read: Callable[[Path, list[str]], dict[int, T]]
) -> list[list[T]]:
    """``read``'s connections, in capture order, given the secrets both ways: the .keys file
    to a copy without the DSB, and the DSB alone."""
    path = UDP / f"{name}.pcapng"
    assert path.exists(), f"{path} is missing: run tools/record_captures.py --only quic dtls"
    keyed = strip_secrets(path, factory.mktemp(name))
    ways = [(keyed, ["-o", f"tls.keylog_file:{UDP / name}.keys"]), (path, [])]
    return [[c for _n, c in sorted(read(p, options).items())] for p, options in ways]


def _read_quic(path: Path, options: list[str]) -> dict[int, TsharkQUIC]:
    connections = run_tshark_quic(path, options)
    retry = run_tshark_quic(path, options + NO_OUT_OF_ORDER)
    return {**connections, RETRY_CONNECTION: retry[RETRY_CONNECTION]}


@pytest.fixture(scope="module")
def quic_views(tshark: str, tmp_path_factory: pytest.TempPathFactory) -> list[list[TsharkQUIC]]:
    return _views("quic", tmp_path_factory, _read_quic)


@pytest.fixture(scope="module")
def dtls_views(tshark: str, tmp_path_factory: pytest.TempPathFactory) -> list[list[TsharkDTLS]]:
    return _views("dtls", tmp_path_factory, run_tshark_dtls)


def test_quic_connections_version_sni_alpn_suite(quic_views: list[list[TsharkQUIC]]) -> None:
    for view in quic_views:
        assert len(view) == len(QUIC_EXPECTED)
        for conn, (what, version, on_443, first, shares) in zip(view, QUIC_EXPECTED, strict=True):
            assert conn.versions == [version], what
            assert (conn.server_port == 443) is on_443, what
            assert conn.client_first_datagrams == first, what
            assert conn.key_share_groups == shares, what
            assert set(conn.sni) == {"tlslens.test"}, what
            # offered in the ClientHello, chosen in EncryptedExtensions (decrypted)
            assert conn.alpn[0][0] == "h3" and conn.alpn[-1] == ["h3"], what
            assert 8 in conn.handshake_types, what
            assert conn.suites == [AES_256_GCM_SHA384], what


def test_quic_http3_decrypted_where_the_handshake_completed(
    quic_views: list[list[TsharkQUIC]],
) -> None:
    for view in quic_views:
        for conn, (what, *_rest) in zip(view, QUIC_EXPECTED, strict=True):
            if what == "aioquic refusing the certificate":
                assert conn.decrypted_short == 0 and not conn.http3_frames, what
                continue
            # both Finished, 1-RTT packets opened, a request and its answer in HTTP/3
            assert conn.handshake_types.count(20) == 2, what
            assert conn.decrypted_short > 0, what
            assert conn.http3_frames.count(HTTP3_HEADERS) >= 2, what
            assert HTTP3_DATA in conn.http3_frames, what


def test_quic_retry_v2_and_refusal(quic_views: list[list[TsharkQUIC]]) -> None:
    for view in quic_views:
        assert [c.retries for c in view] == [0, 0, 1, 0, 0, 0, 0]
        # the Retry connection: two ClientHellos, both seen once out-of-order is off
        assert view[RETRY_CONNECTION].handshake_types.count(1) == 2
        refused = view[5]
        # CRYPTO_ERROR 0x100 + bad_certificate (42), in a Handshake packet
        assert refused.closes == [(CONNECTION_CLOSE, 0x100 + 42, 42)]
        assert view[6].closes == [(CONNECTION_CLOSE, 0, None)]  # Chromium: NO_ERROR
        for conn in view[:5]:  # aioquic's clients end with an application close (code 0)
            assert conn.closes == [(APPLICATION_CLOSE, 0, None)]


def test_quic_connection_ids_change_and_the_client_migrates(
    quic_views: list[list[TsharkQUIC]],
) -> None:
    for view in quic_views:
        moved = view[4]
        assert len(moved.client_ports) == 2  # one QUIC connection over two 4-tuples
        assert len(moved.client_short_dcids) == 2  # the server's second connection ID
        wanted = {NEW_CONNECTION_ID, RETIRE_CONNECTION_ID, PATH_CHALLENGE, PATH_RESPONSE}
        assert wanted <= moved.frame_types
        assert moved.http3_frames.count(HTTP3_HEADERS) == 6  # three GETs, three answers
        for conn in view[:4] + view[5:]:
            assert len(conn.client_ports) == 1
            assert len(conn.client_short_dcids) <= 1


# Per DTLS conversation, in capture order: (what, version, suite, certificate fragmented
# across records, plaintext each way or None where tshark 4.0 cannot open it, alerts).
CLIENT_LINE = b"hello from the DTLS client\n"
SERVER_LINE = b"hello from the DTLS server\n"
CLOSE_NOTIFY = (1, 0)
DTLS_EXPECTED = [
    ("OpenSSL 1.2 GCM -mtu 500", 0xFEFD, 0xC02F, True, [CLIENT_LINE, SERVER_LINE], 2),
    # tshark 4.0 builds the ChaCha20-Poly1305 nonce from the sequence number without the
    # epoch (RFC 7905 takes the 64-bit epoch and sequence): every record fails its tag.
    ("OpenSSL 1.2 ChaCha20 -mtu 1400", 0xFEFD, 0xCCA8, True, None, 0),
    ("OpenSSL 1.0 CBC -mtu 500", 0xFEFF, 0xC014, True, [CLIENT_LINE, SERVER_LINE], 2),
    ("GnuTLS 1.2 echo", 0xFEFD, 0xC02C, False, [CLIENT_LINE, CLIENT_LINE], 1),
    ("OpenSSL 1.2 unknown_ca", 0xFEFD, 0xC030, True, [], 0),
]


def test_dtls_conversations(dtls_views: list[list[TsharkDTLS]]) -> None:
    for view in dtls_views:
        assert len(view) == len(DTLS_EXPECTED)
        for st, (what, version, suite, fragmented, lines, closes) in zip(
            view, DTLS_EXPECTED, strict=True
        ):
            assert st.versions == [version], what
            assert st.suites == [suite], what
            assert set(st.sni) == {"tlslens.test"}, what
            # every server asks for a cookie: ClientHello, HelloVerifyRequest, ClientHello
            assert st.handshake_types[:3] == [1, 3, 1] and st.cookies == 1, what
            assert (st.fragments > 0) is fragmented, what
            if lines is not None:
                assert list(st.plaintext.values()) == lines, what
                assert st.alerts.count(CLOSE_NOTIFY) == closes, what
                assert (20 in st.handshake_types) is bool(lines), what  # Finished decrypted
        assert view[-1].alerts == [(2, 48)]  # fatal unknown_ca, in plaintext
        assert view[1].plaintext == {}
