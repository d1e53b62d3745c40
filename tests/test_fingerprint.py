"""JA3 and JA3S against tshark's tls.handshake.ja3 / ja3s on every corpus capture that has
them, and against the strings of a hand-built hello."""

from __future__ import annotations

import subprocess
from pathlib import Path

import tlslens
from tlslens.handshake import compose
from tlslens.handshake import messages as hs
from tlslens.serialize import connection_to_json
from tlslens.tls.fingerprint import ja3_string, md5_hex


def test_ja3_string_of_a_known_hello() -> None:
    spec = compose.HelloSpec(
        legacy_version=0x0303,
        random=bytes(32),
        cipher_suites=(0x1301, 0xC02F),
        groups=(29, 23),
        signature_algorithms=(0x0804,),
        ec_point_formats=True,
        grease=0x3A3A,
    )
    hello = hs.parse_message(
        hs.CLIENT_HELLO, compose.push_client_hello(spec)[4:], hs.HandshakeContext()
    )
    assert isinstance(hello, hs.ClientHello)
    # GREASE (suite, extension and group) left out; extensions in wire order.
    assert ja3_string(hello) == "771,4865-49199,10-11-13,29-23,0"
    assert (
        md5_hex("771,4865-49199,10-11-13,29-23,0")
        == __import__("hashlib").md5(b"771,4865-49199,10-11-13,29-23,0").hexdigest()
    )


def _tshark(path: Path) -> tuple[dict[int, str], dict[int, str]]:
    """The first JA3 and the first JA3S tshark computes per TCP stream, in one pass."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-o", "tcp.reassemble_out_of_order:TRUE", "-Y",
         "tls.handshake.type == 1 || tls.handshake.type == 2", "-T", "fields",
         "-e", "tcp.stream", "-e", "tls.handshake.ja3", "-e", "tls.handshake.ja3s"],
        capture_output=True, text=True, timeout=300, check=False,
    ).stdout  # fmt: skip
    ja3: dict[int, str] = {}
    ja3s: dict[int, str] = {}
    for line in out.splitlines():
        stream, client, server = [*line.split("\t"), "", ""][:3]
        if not stream:
            continue
        if client:
            ja3.setdefault(int(stream), client.split(",")[0])
        if server:
            ja3s.setdefault(int(stream), server.split(",")[0])
    return ja3, ja3s


def test_ja3_and_ja3s_equal_tsharks_on_the_corpus(corpus: Path, tshark: str) -> None:
    compared = 0
    wrong: list[str] = []
    for path in sorted(corpus.rglob("*.pcap*")):
        theirs_ja3, theirs_ja3s = _tshark(path)
        if not theirs_ja3 and not theirs_ja3s:
            continue
        for conn in tlslens.read_capture(path):
            row = connection_to_json(conn)
            for ours, theirs in ((row["ja3"], theirs_ja3), (row["ja3s"], theirs_ja3s)):
                value = theirs.get(conn.tcp_stream)
                if value is None or ours is None:
                    continue
                compared += 1
                if ours != value:
                    wrong.append(f"{path.name} stream {conn.tcp_stream}: {ours} != {value}")
    assert wrong == []
    assert compared > 300
