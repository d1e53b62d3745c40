"""What tlslens concludes from the project's own captures (real stacks on loopback).

tools/record_captures.py records them; tests/vectors/captures/README.md says what
each scenario does. The facts below follow from how each was recorded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import tlslens
from tlslens.capture.writer import write_pcap
from tlslens.events import HandshakeEvent
from tlslens.explain import explain
from tlslens.serialize import connection_to_json, json_line

from _frames import read_frames
from conftest import CAPTURES

# capture -> one row per connection:
# (version, cipher suite, key exchange, forward secrecy, resumed, extra facts)
EXPECTED = {
    "openssl-versions.pcapng": [
        ("TLS 1.0", "TLS_RSA_WITH_AES_128_CBC_SHA", "RSA", False, None, {}),
        ("TLS 1.1", "TLS_RSA_WITH_AES_256_CBC_SHA", "RSA", False, None, {}),
        (
            "TLS 1.2",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "ECDHE",
            True,
            None,
            {"group": "x25519"},
        ),
        (
            "TLS 1.2",
            "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
            "DHE",
            True,
            None,
            {"group": "DH 2048-bit"},
        ),
        ("TLS 1.2", "TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", False, None, {}),
        ("TLS 1.3", "TLS_CHACHA20_POLY1305_SHA256", "ECDHE", True, None, {"group": "x25519"}),
    ],
    "openssl-resumption.pcap": [
        ("TLS 1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE", True, None, {}),
        ("TLS 1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE", True, "session_id", {}),
        (
            "TLS 1.2",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "ECDHE",
            True,
            None,
            {"session_ticket": {"offered": True, "issued": True}},
        ),
        ("TLS 1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE", True, "ticket", {}),
        ("TLS 1.3", "TLS_AES_256_GCM_SHA384", "ECDHE", True, None, {}),
        ("TLS 1.3", "TLS_AES_256_GCM_SHA384", "PSK+ECDHE", True, "psk", {}),
    ],
    "openssl-hrr-clientauth.pcapng": [
        (
            "TLS 1.3",
            "TLS_AES_256_GCM_SHA384",
            "ECDHE",
            True,
            None,
            {"hello_retry_request": True, "group": "secp256r1"},
        ),
        (
            "TLS 1.2",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "ECDHE",
            True,
            None,
            {
                "client_auth": {
                    "requested": True,
                    "sent": True,
                    "certificate_types": ["rsa_sign", "dss_sign", "ecdsa_sign"],
                    "authorities": ["CN=tlslens lab root CA,O=tlslens lab"],
                    "validation": None,  # checked by the CLI (show, certs)
                }
            },
        ),
        (
            "TLS 1.2",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "ECDHE",
            True,
            None,
            {"alerts": [{"direction": "c2s", "level": "fatal", "description": "unknown_ca"}]},
        ),
    ],
    "openssl-ocsp.pcapng": [
        (
            "TLS 1.2",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "ECDHE",
            True,
            None,
            {"ocsp_stapled": True},
        ),
        ("TLS 1.3", "TLS_AES_256_GCM_SHA384", "ECDHE", True, None, {"ocsp_stapled": None}),
    ],
    "gnutls.pcapng": [
        (
            "TLS 1.2",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "ECDHE",
            True,
            None,
            {"authentication": "ECDSA"},
        ),
        ("TLS 1.3", "TLS_AES_256_GCM_SHA384", "ECDHE", True, None, {}),
    ],
    "nginx-curl.pcapng": [
        (
            "TLS 1.3",
            "TLS_AES_256_GCM_SHA384",
            "ECDHE",
            True,
            None,
            {"alpn_offered": ["h2", "http/1.1"], "alpn": None},
        ),
        (
            "TLS 1.2",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "ECDHE",
            True,
            None,
            {"alpn": "http/1.1"},
        ),
    ],
    "python-ssl.pcap": [
        ("TLS 1.3", "TLS_AES_256_GCM_SHA384", "ECDHE", True, None, {"alpn_offered": ["tlslens/1"]}),
        ("TLS 1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE", True, None, {}),
    ],
    "demo-tls12-tls13.pcapng": [
        ("TLS 1.3", "TLS_AES_256_GCM_SHA384", "ECDHE", True, None, {}),
        ("TLS 1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE", True, None, {}),
    ],
}


@pytest.mark.parametrize("capture", sorted(EXPECTED))
def test_conclusions(capture: str) -> None:
    rows = [connection_to_json(c) for c in tlslens.read_capture(CAPTURES / capture)]
    assert len(rows) == len(EXPECTED[capture])
    for row, (version, suite, kx, fs, resumed, extra) in zip(rows, EXPECTED[capture], strict=True):
        where = f"{capture} connection {row['id']}"
        assert (
            row["version"],
            row["cipher_suite"],
            row["key_exchange"],
            row["forward_secrecy"],
            row["resumed"],
        ) == (version, suite, kx, fs, resumed), where
        assert row["sni"] == "tlslens.test", where
        # The one problem of a sound connection: TLS 1.0 or 1.1, deprecated (RFC 8996).
        deprecated = [{"code": "deprecated_version"}] if version in ("TLS 1.0", "TLS 1.1") else []
        assert [{"code": p.get("code")} for p in row["problems"]] == deprecated, where
        for key, value in extra.items():
            if key == "alerts":
                got = [
                    {k: a[k] for k in ("direction", "level", "description")} for a in row["alerts"]
                ]
                assert got == value, where
            else:
                assert row[key] == value, (where, key)


def test_a_json_line_is_what_json_dumps_writes() -> None:
    """show --json's lines: ASCII (an SNI's non-ASCII as \\u escapes), json.dumps' separators,
    whatever the encoder does to be fast."""
    rows = [
        connection_to_json(c) for p in sorted(EXPECTED) for c in tlslens.read_capture(CAPTURES / p)
    ]
    rows[0]["sni"] = "bücher.example\u2028"
    for row in rows:
        assert json_line(row) == json.dumps(row, ensure_ascii=True)
    assert "b\\u00fccher.example\\u2028" in json_line(rows[0])


def test_certificate_chain_as_sent() -> None:
    conn = next(iter(tlslens.read_capture(CAPTURES / "openssl-versions.pcapng")))
    subjects = [c.subject for c in conn.certificates]
    assert subjects == [
        "CN=tlslens.test,O=tlslens lab",
        "CN=tlslens lab intermediate CA,O=tlslens lab",
    ]
    leaf = conn.certificates[0]
    assert leaf.key == "RSA 2048" and leaf.san == ("tlslens.test", "localhost")
    pem = (CAPTURES.parent / "pki" / "server.pem").read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    assert leaf.sha256 == hashlib.sha256(der).hexdigest()


def test_resumed_handshake_is_abbreviated() -> None:
    conns = list(tlslens.read_capture(CAPTURES / "openssl-resumption.pcap"))
    kinds = [
        [e.message.msg_type if isinstance(e, HandshakeEvent) else "enc" for e in c.handshake_events]
        for c in conns
    ]
    assert kinds[1] == [1, 2, "enc", "enc"]  # no Certificate, no key exchange: abbreviated
    assert conns[1].certificates == []


def test_stapled_ocsp_is_decoded() -> None:
    conn = next(iter(tlslens.read_capture(CAPTURES / "openssl-ocsp.pcapng")))
    step = next(s for s in explain(conn) if s.title == "CertificateStatus")
    assert step.lines[1].startswith("Status: good, produced ")


def test_four_tuple_reused_after_fin_is_a_new_connection(tmp_path: Path) -> None:
    frames = read_frames(CAPTURES / "python-ssl.pcap")
    later = 10**12  # the same packets again, 1000 s later: same 4-tuples, same ISNs
    doubled = [(ts, d) for ts, _lt, d in frames] + [(ts + later, d) for ts, _lt, d in frames]
    path = tmp_path / "reused.pcap"
    with path.open("wb") as handle:
        write_pcap(handle, doubled, nanoseconds=True)
    conns = list(tlslens.read_capture(path))
    assert [c.version for c in conns] == [0x0304, 0x0303, 0x0304, 0x0303]
    assert all(c.closed_by == "fin" for c in conns)
    assert conns[2].first_frame == len(frames) + 1
