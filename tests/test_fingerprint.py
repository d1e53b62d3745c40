"""JA3 and JA3S against tshark's tls.handshake.ja3 / ja3s on every corpus capture that has
them, and against the strings of a hand-built hello."""

from __future__ import annotations

import subprocess
from pathlib import Path

import tlslens
from tlslens import _core
from tlslens.handshake import compose
from tlslens.handshake import messages as hs
from tlslens.serialize import connection_to_json


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
    assert _core.ja3_string(hello) == "771,4865-49199,10-11-13,29-23,0"
    assert (
        _core.ja3(hello)
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


# -- JA4 --------------------------------------------------------------------------------------

# A Chrome 143 ClientHello as browserleaks.com fingerprints it (published with its JA4_ro:
# the suites, extensions and signature algorithms in wire order): the hello below is built
# with exactly those, and must give the JA4 and the JA4_r printed beside them.
CHROME_JA4 = "t13d1516h2_8daaf6152771_d8a2da3f94cd"
CHROME_JA4_R = (
    "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_"
    "0005,000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,44cd,fe0d,ff01_"
    "0403,0804,0401,0503,0805,0501,0806,0601"
)
CHROME_SUITES = "1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035"
CHROME_EXTENSIONS = (
    "002d,0033,0010,fe0d,0017,44cd,0000,000b,000a,002b,ff01,0023,0012,0005,000d,001b"
)
CHROME_SIGNATURES = "0403,0804,0401,0503,0805,0501,0806,0601"


def _hello(body: bytes) -> hs.ClientHello:
    hello = hs.parse_message(hs.CLIENT_HELLO, body, hs.HandshakeContext())
    assert isinstance(hello, hs.ClientHello)
    return hello


def _raw_hello(suites: list[int], extensions: list[tuple[int, bytes]]) -> hs.ClientHello:
    blocks = b"".join(t.to_bytes(2, "big") + len(d).to_bytes(2, "big") + d for t, d in extensions)
    body = (
        b"\x03\x03"
        + bytes(32)
        + b"\x20"
        + bytes(32)
        + (2 * len(suites)).to_bytes(2, "big")
        + b"".join(s.to_bytes(2, "big") for s in suites)
        + b"\x01\x00"
        + len(blocks).to_bytes(2, "big")
        + blocks
    )
    return _hello(body)


def _u16s(values: list[int], prefix: int = 2) -> bytes:
    data = b"".join(v.to_bytes(2, "big") for v in values)
    return len(data).to_bytes(prefix, "big") + data


def _alpn(*protocols: bytes) -> bytes:
    listed = b"".join(bytes([len(p)]) + p for p in protocols)
    return len(listed).to_bytes(2, "big") + listed


def _sni(name: bytes) -> bytes:
    entry = b"\x00" + len(name).to_bytes(2, "big") + name
    return len(entry).to_bytes(2, "big") + entry


def test_ja4_of_a_published_chrome_hello() -> None:
    bodies = {
        0x0000: _sni(b"tls.browserleaks.com"),
        0x0010: _alpn(b"h2", b"http/1.1"),
        0x002B: bytes([6]) + bytes.fromhex("0a0a03040303"),  # GREASE first, then 1.3, 1.2
        0x000D: _u16s([int(s, 16) for s in CHROME_SIGNATURES.split(",")]),
    }
    extensions = [(int(t, 16), bodies.get(int(t, 16), b"")) for t in CHROME_EXTENSIONS.split(",")]
    suites = [0x0A0A] + [int(s, 16) for s in CHROME_SUITES.split(",")]  # GREASE left out
    hello = _raw_hello(suites, [(0x1A1A, b""), *extensions])
    assert _core.ja4_r(hello) == CHROME_JA4_R
    assert _core.ja4(hello) == CHROME_JA4


def test_ja4_by_hand_for_the_edge_cases() -> None:
    import hashlib

    ja4 = _core.ja4

    def sha12(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    # TLS 1.2, no SNI, no ALPN, no signature algorithms: "i", "00", and c without "_".
    hello = _raw_hello([0xC02F, 0x009C], [(0x000A, _u16s([29])), (0x0017, b"")])
    assert ja4(hello) == f"t12i020200_{sha12('009c,c02f')}_{sha12('000a,0017')}"
    # An ALPN whose first protocol ends in a byte that is not a letter or digit: hex digits.
    hello = _raw_hello([0x1301], [(0x0010, _alpn(b"\x30\xab"))])
    assert ja4(hello).startswith("t12i01013b_")
    # One-character ALPN: the character twice. SSL 3.0: "s3". No extensions at all: zeros.
    hello = _raw_hello([0x1301], [(0x0010, _alpn(b"x"))])
    assert ja4(hello).startswith("t12i0101xx_")
    body = b"\x03\x00" + bytes(32) + b"\x00" + b"\x00\x02\x00\x0a" + b"\x01\x00"
    assert ja4(_hello(body)) == f"ts3i010000_{sha12('000a')}_000000000000"
    # More than 99 suites: the count stops at 99.
    hello = _raw_hello(list(range(1, 120)), [(0x000D, _u16s([0x0403]))])
    assert ja4(hello).startswith("t12i9901")


def test_ja4_of_an_ssl2_client_hello(corpus: Path) -> None:
    """An SSL 2.0 CLIENT-HELLO (MANIFEST: frame 4 of sslv2.pcapng offers IDEA-128-CBC-MD5,
    RC2-128-CBC-MD5, DES-192-EDE3-CBC-MD5): version "s2" in FoxIO's table, no SNI, three
    cipher specs (SSL 2.0 kinds 0x050080, 0x030080, 0x0700c0: six hex digits, sorted), no
    extensions, no ALPN."""
    import hashlib

    (conn,) = tlslens.read_capture(corpus / "wireshark-notes/ssl3/sslv2.pcapng")
    row = connection_to_json(conn)
    specs = hashlib.sha256(b"030080,050080,0700c0").hexdigest()[:12]
    assert row["ja4"] == f"ts2i030000_{specs}_000000000000"
    assert row["ja3"] is None


def test_ja4_in_show_json_for_every_corpus_hello(corpus: Path) -> None:
    """Every TLS hello in the corpus gets a JA4 of the right shape, whose a part says what
    the hello says (version, SNI, counts, ALPN)."""
    import re

    from tlslens.handshake import extensions as ext
    from tlslens.registry import is_grease

    shape = re.compile(
        r"^[tqd](1[0-3]|s[23]|d[123]|00)[di]\d{4}[0-9a-zA-Z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$"
    )
    seen = 0
    for path in sorted(corpus.rglob("*.pcap*")):
        for conn in tlslens.read_capture(path):
            row = connection_to_json(conn)
            hello = conn.client_hello
            if hello is None:
                assert row["ja4"] is None
                continue
            if hello.sslv2:  # no JA3 (tshark gives none), a JA4 without extensions
                assert row["ja3"] is None and row["ja4"].endswith("_000000000000")
                assert shape.match(row["ja4"]) and row["ja4"][6:10] == "0000", row["ja4"]
                continue
            seen += 1
            assert shape.match(row["ja4"]), (path.name, row["ja4"])
            # FoxIO's first character: what carried the hello
            assert row["ja4"][0] == {"tcp": "t", "quic": "q", "dtls": "d"}[row["transport"]]
            suites = [s for s in hello.cipher_suites if not is_grease(s)]
            assert row["ja4"][4:6] == f"{min(len(suites), 99):02d}"
            assert row["ja4"][3] == ("d" if row["sni"] is not None else "i")
            alpn = ext.first_alpn(hello)
            if alpn and alpn.isalnum():
                assert row["ja4"][8:10] == chr(alpn[0]) + chr(alpn[-1])
    assert seen > 100
