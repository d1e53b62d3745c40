"""Key schedules against published vectors.

- TLS 1.0/1.1 PRF, TLS 1.2 PRF (SHA-224/256/384/512), SSL 3.0 PRF: Botan's
  src/tests/data/kdf/tls_prf.vec and ssl3prf.vec (shared corpus, vectors/).
- TLS 1.3: every HKDF-Extract, Derive-Secret and traffic key/IV step of the
  draft-ietf-tls-tls13-vectors-07 traces (the RFC 8448 traces; shared corpus).
- Key log parsing: inline text with every kind of bad line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tlslens import _core
from tlslens.keys.keylog import KeyLog


def _botan(path: Path) -> list[tuple[str, dict[str, bytes]]]:
    cases: list[tuple[str, dict[str, bytes]]] = []
    section = ""
    current: dict[str, bytes] = {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if not line.strip():
            if current:
                cases.append((section, current))
            current = {}
            continue
        key, _, value = line.partition(" = ")
        current[key] = bytes.fromhex(value) if key != "OutputLen" else int(value).to_bytes(4, "big")
    if current:
        cases.append((section, current))
    return cases


def test_tls_prf_vectors(corpus: Path) -> None:
    cases = _botan(corpus / "vectors/tls_prf.vec")
    assert len(cases) > 30
    for section, case in cases:
        n = int.from_bytes(case["OutputLen"], "big")
        if section == "TLS-PRF":
            out = _core.tls_prf(0x0301, "SHA256", case["Secret"], b"", case["Salt"], n)
        else:
            name = re.search(r"SHA-(\d+)", section).group(1)  # type: ignore[union-attr]
            out = _core.tls_prf(
                0x0303, f"SHA{name}", case["Secret"], case.get("Label", b""), case["Salt"], n
            )
        assert out == case["Output"], (section, case)


def test_ssl3_prf_vectors(corpus: Path) -> None:
    for _section, case in _botan(corpus / "vectors/ssl3prf.vec"):
        n = int.from_bytes(case["OutputLen"], "big")
        assert _core.ssl3_prf(case["Secret"], case["Salt"], n) == case["Output"]


_PAGE_NOISE = re.compile(r"^(Thomson|Internet-Draft)\s|\f")


def _tls13_blocks(path: Path) -> list[tuple[str, dict[str, bytes]]]:
    blocks: list[tuple[str, dict[str, bytes]]] = []
    title, fields, name = "", {}, None
    for line in path.read_text().splitlines():
        if _PAGE_NOISE.search(line):
            continue
        header = re.match(r"^   \{(client|server)\}  (.*)$", line)
        if header:
            if title:
                blocks.append((title, fields))
            title, fields, name = header.group(2), {}, None
            continue
        field = re.match(r"^      ([A-Za-z ]+?) \((\d+) octets\):\s*(.*)$", line)
        if field:
            name = field.group(1)
            text = field.group(3)
            fields[name] = b"" if text == "(empty)" else bytes.fromhex(text)
            continue
        salt_zero = re.match(r"^      salt:\s+0 \(all zero octets\)", line)
        if salt_zero:
            fields["salt"] = b""
            name = None
            continue
        more = re.match(r"^         ([0-9a-f ]+)$", line)
        if more and name is not None:
            fields[name] += bytes.fromhex(more.group(1))
            continue
        if not line.strip():
            name = None
    if title:
        blocks.append((title, fields))
    return blocks


def test_tls13_key_schedule_vectors(corpus: Path) -> None:
    checked = {"extract": 0, "expand": 0, "keys": 0}
    for title, f in _tls13_blocks(corpus / "vectors/draft-ietf-tls-tls13-vectors-07.txt"):
        if title.startswith("extract secret") and "secret" in f and "IKM" in f:
            assert _core.hkdf_extract("SHA256", f.get("salt", b""), f["IKM"]) == f["secret"], title
            checked["extract"] += 1
        label = re.search(r'"tls13 ([^"]+)"', title)
        if label and "PRK" in f and "expanded" in f and "hash" in f:
            got = _core.hkdf_expand_label(
                "SHA256", f["PRK"], label.group(1).encode(), f["hash"], len(f["expanded"])
            )
            assert got == f["expanded"], title
            checked["expand"] += 1
        if "traffic keys" in title and "key expanded" in f:
            keys = _core.traffic_keys("SHA256", f["PRK"], len(f["key expanded"]), 12)
            assert keys == (f["key expanded"], f["iv expanded"]), title
            checked["keys"] += 1
    assert checked["extract"] >= 15 and checked["expand"] >= 55 and checked["keys"] >= 20, checked


def test_keylog_good_and_bad_lines() -> None:
    cr = "aa" * 32
    text = "\r\n".join(
        [
            "# a comment",
            "",
            f"CLIENT_RANDOM {cr} {'11' * 48}",
            f"CLIENT_HANDSHAKE_TRAFFIC_SECRET {cr} {'22' * 32}",
            f"SERVER_TRAFFIC_SECRET_0 {cr} {'33' * 48}",
            f"RSA {'44' * 8} {'55' * 48}",
            "SOMETHING_NEW aa bb",
            f"CLIENT_RANDOM {cr} 123",
            f"CLIENT_RANDOM {'aa' * 31} {'11' * 48}",
            "garbage",
            f"EXPORTER_SECRET {cr}",
        ]
    )
    log = KeyLog()
    assert log.add_text(text, "test.keys") == 4
    assert log.get("CLIENT_RANDOM", bytes.fromhex(cr)) == bytes.fromhex("11" * 48)
    assert log.rsa_premasters[bytes.fromhex("44" * 8)] == bytes.fromhex("55" * 48)
    problems = [str(p) for p in log.problems]
    assert problems == [
        "test.keys, line 7: unknown label 'SOMETHING_NEW'",
        "test.keys, line 8: a value is not even-length hex",
        "test.keys, line 9: client random has 31 bytes, not 32",
        "test.keys, line 10: unknown label 'garbage'",
        "test.keys, line 11: EXPORTER_SECRET needs 2 values, found 1",
    ]


@pytest.mark.parametrize("version", [0x0301, 0x0302, 0x0303])
def test_key_block_layout(version: int) -> None:
    master = bytes(range(48))
    block = _core.key_block(version, "SHA256", master, b"c" * 32, b"s" * 32, 20, 16, 4)
    raw = _core.tls_prf(version, "SHA256", master, b"key expansion", b"s" * 32 + b"c" * 32, 80)
    assert block[0] == raw[:20] and block[1] == raw[20:40]
    assert block[2] == raw[40:56] and block[5] == raw[76:80]
