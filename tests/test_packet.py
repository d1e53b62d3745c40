"""Link layers, IPv4/IPv6 and TCP decoding through the compiled core: every link type gives
the same connections, and a frame without TCP for us is counted by its reason (the decoder's
own unit tests are Rust's: crates/tlslens-core/src/flows/tests.rs)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

import tlslens
from tlslens._core import decode_tcp
from tlslens.capture.writer import PcapngWriter
from tlslens.outcome import outcome_of

from _frames import ethernet_to_ip, null_loopback, rewrapped, sll, sll2, with_vlan
from conftest import CAPTURES

V4 = CAPTURES / "demo-tls12-tls13.pcapng"
V6 = CAPTURES / "nginx-curl.pcapng"

WRAPPERS: dict[str, tuple[int, Callable[[bytes], bytes]]] = {
    "ethernet": (1, lambda f: f),
    "vlan": (1, lambda f: with_vlan(f, [(0x8100, 42)])),
    "qinq": (1, lambda f: with_vlan(f, [(0x88A8, 100), (0x8100, 42)])),
    "raw": (101, ethernet_to_ip),
    "raw-ipv4-ipv6": (228, ethernet_to_ip),  # 228/229: the reader looks at the IP version
    "sll": (113, lambda f: sll(ethernet_to_ip(f))),
    "sll2": (276, lambda f: sll2(ethernet_to_ip(f))),
    "null-le": (0, lambda f: null_loopback(ethernet_to_ip(f), "<")),
    "null-be": (0, lambda f: null_loopback(ethernet_to_ip(f), ">")),
    "loop": (108, lambda f: null_loopback(ethernet_to_ip(f), ">")),
}


def _facts(path: Path) -> list[tuple[str, str, str | None, int | None, list[str]]]:
    return [
        (str(c.client), str(c.server), c.sni, c.cipher_suite, [e.kind for e in c.handshake_events])
        for c in tlslens.read_capture(path)
    ]


@pytest.mark.parametrize("source", [V4, V6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_link_types(tmp_path: Path, source: Path, wrapper: str) -> None:
    path = rewrapped(source, tmp_path / "x.pcapng", *WRAPPERS[wrapper])
    assert _facts(path) == _facts(source)


def _ipv4_tcp(
    payload: bytes = b"x", *, options: bytes = b"", frag: int = 0, proto: int = 6
) -> bytes:
    tcp = struct.pack(">HHIIBBHHH", 1234, 443, 1000, 0, 5 << 4, 0x18, 65535, 0, 0) + payload
    ihl = (20 + len(options)) // 4
    ip = (
        struct.pack(
            ">BBHHHBBH4s4s",
            0x40 | ihl,
            0,
            20 + len(options) + len(tcp),
            1,
            frag,
            64,
            proto,
            0,
            b"\x0a\0\0\x01",
            b"\x0a\0\0\x02",
        )
        + options
    )
    return ip + tcp


def _skipped(tmp_path: Path, linktype: int, frame: bytes) -> dict[str, int]:
    """What a capture of this one frame says it skipped."""
    path = tmp_path / "one.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(linktype)
        writer.add_packet(0, frame)
    cap = tlslens.read_capture(path)
    assert list(cap) == []
    return cap.summary.skipped


def test_ipv4_options_and_padding() -> None:
    seg = decode_tcp(101, _ipv4_tcp(b"hello", options=b"\x01\x01\x01\x00") + b"\0" * 6)
    assert seg is not None
    assert seg.payload == b"hello"  # Ethernet-style padding trimmed by the IP total length
    assert (seg.sport, seg.dport) == (1234, 443)


@pytest.mark.parametrize(
    ("linktype", "frame", "reason"),
    [
        (101, _ipv4_tcp(frag=0x2000), "ipv4_fragment"),  # MF
        (101, _ipv4_tcp(frag=0x0010), "ipv4_fragment"),  # offset
        (101, _ipv4_tcp(proto=17), "udp"),
        (101, _ipv4_tcp(proto=1), "other_protocol"),
        (101, _ipv4_tcp()[:30], "truncated"),
        (1, b"\xff" * 12 + b"\x08\x06" + b"\0" * 28, "not_ip"),  # ARP
        (147, b"whatever", "unsupported_link"),
    ],
)
def test_fragments_udp_and_the_rest_are_counted_not_parsed(
    tmp_path: Path, linktype: int, frame: bytes, reason: str
) -> None:
    assert decode_tcp(linktype, frame) is None
    assert _skipped(tmp_path, linktype, frame) == {reason: 1}


def test_ipv6_extension_headers(tmp_path: Path) -> None:
    tcp = struct.pack(">HHIIBBHHH", 5555, 443, 7, 0, 5 << 4, 0x18, 65535, 0, 0) + b"data"
    hop_by_hop = bytes([60, 0]) + b"\0" * 6  # next: destination options
    dest_opts = bytes([6, 0]) + b"\0" * 6  # next: TCP
    payload = hop_by_hop + dest_opts + tcp
    ip6 = (
        struct.pack(
            ">IHBB16s16s", 0x60000000, len(payload), 0, 64, b"\0" * 15 + b"\1", b"\0" * 15 + b"\2"
        )
        + payload
    )
    seg = decode_tcp(101, ip6)
    assert seg is not None and seg.payload == b"data" and len(seg.src) == 16
    frag = bytes([6, 0, 0, 1]) + b"\0" * 4
    ip6f = (
        struct.pack(">IHBB16s16s", 0x60000000, len(frag) + len(tcp), 44, 64, b"\0" * 16, b"\0" * 16)
        + frag
        + tcp
    )
    assert decode_tcp(101, ip6f) is None
    assert _skipped(tmp_path, 101, ip6f) == {"ipv6_fragment": 1}


def test_a_dtls_looking_datagram_is_an_association_and_a_dtls_connection(tmp_path: Path) -> None:
    path = tmp_path / "udp.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(101)
        # A DTLS-looking datagram: an association of its own (tests/test_udp_flows.py), read
        # as DTLS: a connection as a TCP flow that starts with a TLS record is, whose
        # handshake never began.
        udp = struct.pack(">HHHH", 5000, 443, 8 + 13, 0) + b"\x16\xfe\xfd" + b"\0" * 10
        ip = (
            struct.pack(
                ">BBHHHBBH4s4s",
                0x45,
                0,
                20 + len(udp),
                1,
                0,
                64,
                17,
                0,
                b"\x0a\0\0\x01",
                b"\x0a\0\0\x02",
            )
            + udp
        )
        writer.add_packet(0, ip)
    cap = tlslens.read_capture(path)
    (conn,) = list(cap)
    assert conn.transport == "dtls" and conn.client_hello is None
    assert outcome_of(conn).status == "incomplete"
    assert cap.summary.skipped == {}
    assert cap.summary.udp_flows == {"DTLS": 1}
