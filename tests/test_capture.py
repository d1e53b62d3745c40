"""Capture files: pcap (both byte orders, us/ns), pcapng (blocks, interfaces, tsresol), gzip."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

import tlslens
from tlslens.capture import CaptureReader
from tlslens.capture.writer import PcapngWriter, write_pcap
from tlslens.errors import CaptureError

from _frames import ethernet_to_ip, read_frames
from conftest import CAPTURES

DEMO = CAPTURES / "demo-tls12-tls13.pcapng"


def _frames() -> list[tuple[int, int, bytes]]:
    return read_frames(DEMO)


def _summary(path: Path) -> list[tuple[str | None, str | None, list[str]]]:
    return [
        (c.sni, c.version and str(c.version), [e.kind for e in c.handshake_events])
        for c in tlslens.read_capture(path)
    ]


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("nanoseconds", [False, True])
def test_pcap_variants_read_the_same(tmp_path: Path, byteorder: str, nanoseconds: bool) -> None:
    frames = _frames()
    path = tmp_path / "x.pcap"
    with path.open("wb") as out:
        write_pcap(
            out,
            [(ts, data) for ts, _lt, data in frames],
            byteorder=byteorder,
            nanoseconds=nanoseconds,
        )
    back = read_frames(path)
    assert [d for _ts, _lt, d in back] == [d for _ts, _lt, d in frames]
    if nanoseconds:
        assert [ts for ts, _lt, _d in back] == [ts for ts, _lt, _d in frames]
    else:  # microsecond pcap keeps microseconds
        assert [ts for ts, _lt, _d in back] == [ts // 1000 * 1000 for ts, _lt, _d in frames]
    assert _summary(path) == _summary(DEMO)


@pytest.mark.parametrize("tsresol", [6, 9, 0x80 | 20, 3])
def test_pcapng_tsresol(tmp_path: Path, tsresol: int) -> None:
    frames = _frames()
    path = tmp_path / "x.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(1, tsresol=tsresol)
        for ts, _lt, data in frames:
            writer.add_packet(ts, data)
    back = read_frames(path)
    ticks = 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10**tsresol
    for (ts_a, _l, _d), (ts_b, _l2, _d2) in zip(frames, back, strict=True):
        # exact to the interface's resolution
        assert abs(ts_a - ts_b) <= 1_000_000_000 // ticks + 1


def test_pcapng_several_interfaces_unknown_blocks_spb_big_endian(tmp_path: Path) -> None:
    frames = _frames()
    path = tmp_path / "x.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out, byteorder=">")
        writer.add_interface(1)  # Ethernet
        writer.add_interface(101)  # raw IP
        writer.add_block(0x0BAD, b"custom block we do not know")
        writer.add_block(5, b"\0" * 12)  # interface statistics
        for i, (ts, _lt, data) in enumerate(frames):
            if i % 2:
                writer.add_packet(ts, ethernet_to_ip(data), interface=1)
            else:
                writer.add_packet(ts, data, interface=0)
        writer.add_secrets(b"CLIENT_RANDOM 00 00\n")
    cap = tlslens.read_capture(path)
    assert _summary(path) == _summary(DEMO)
    list(cap)
    assert cap.summary.linktypes == ["Ethernet", "raw IP"]
    assert cap.summary.decryption_secrets_blocks == 1
    assert not cap.summary.problems


def test_pcapng_simple_packet_blocks(tmp_path: Path) -> None:
    path = tmp_path / "x.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(1)
        for _ts, _lt, data in _frames():
            writer.add_simple_packet(data)
    conns = list(tlslens.read_capture(path))
    assert [c.sni for c in conns] == ["tlslens.test", "tlslens.test"]


@pytest.mark.parametrize("name", ["demo-tls12-tls13.pcapng", "python-ssl.pcap"])
def test_gzip_is_transparent(tmp_path: Path, name: str) -> None:
    path = tmp_path / (name + ".gz")
    path.write_bytes(gzip.compress((CAPTURES / name).read_bytes()))
    assert _summary(path) == _summary(CAPTURES / name)


def test_not_a_capture_and_empty() -> None:
    with pytest.raises(CaptureError, match="empty"):
        list(CaptureReader(io.BytesIO(b"")))
    with pytest.raises(CaptureError, match="not a pcap or pcapng"):
        list(CaptureReader(io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")))


def test_truncated_pcap_keeps_what_was_read(tmp_path: Path) -> None:
    data = (CAPTURES / "python-ssl.pcap").read_bytes()
    cut = data[: len(data) - 10]
    reader = CaptureReader(io.BytesIO(cut), name="cut.pcap")
    frames = list(reader)
    assert len(frames) == len(read_frames(CAPTURES / "python-ssl.pcap")) - 1
    assert len(reader.problems) == 1
    assert "cut in the middle of a packet" in reader.problems[0].message
    assert reader.problems[0].offset > 0


def test_corrupt_pcapng_block_is_skipped(tmp_path: Path) -> None:
    data = bytearray(DEMO.read_bytes())
    # Corrupt the length of the 5th block: reading resumes at the next good block.
    pos = 0
    for _ in range(5):
        pos += int.from_bytes(data[pos + 4 : pos + 8], "little")
    data[pos + 4 : pos + 8] = (0xFFFFFFF0).to_bytes(4, "little")
    reader = CaptureReader(io.BytesIO(bytes(data)))
    frames = list(reader)
    assert len(frames) == len(_frames()) - 1
    assert any("corrupt pcapng block" in p.message for p in reader.problems)
    assert any("reading resumes" in p.message for p in reader.problems)


def test_pcap_record_claiming_huge_length(tmp_path: Path) -> None:
    data = bytearray((CAPTURES / "python-ssl.pcap").read_bytes())
    data[24 + 8 : 24 + 12] = (0x7FFFFFFF).to_bytes(4, "little")  # first record's incl_len
    reader = CaptureReader(io.BytesIO(bytes(data)))
    assert list(reader) == []
    assert "claims 2147483647 bytes" in reader.problems[0].message


def test_memory_does_not_follow_a_length_field() -> None:
    # A pcapng block declaring 16 MB in a 40-byte file: no allocation, one problem.
    data = (
        b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a\x01\x00\x00\x00"
        b"\xff\xff\xff\xff\xff\xff\xff\xff\x1c\x00\x00\x00"
        b"\x06\x00\x00\x00\x00\x00\x00\x01"  # EPB claiming 16 MB
    )
    reader = CaptureReader(io.BytesIO(data))
    assert list(reader) == []
    assert reader.problems
