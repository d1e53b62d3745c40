"""Write pcap and pcapng files (for tests, the benchmark and exported captures)."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import BinaryIO

LINKTYPE_ETHERNET = 1


def write_pcap(
    out: BinaryIO,
    frames: Iterable[tuple[int, bytes]],
    *,
    linktype: int = LINKTYPE_ETHERNET,
    byteorder: str = "<",
    nanoseconds: bool = False,
    snaplen: int = 262144,
) -> None:
    """Write ``(ts_ns, data)`` frames as a classic pcap file."""
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    out.write(struct.pack(byteorder + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
    header = struct.Struct(byteorder + "IIII")
    div = 1 if nanoseconds else 1000
    for ts_ns, data in frames:
        sec, frac = divmod(ts_ns, 1_000_000_000)
        out.write(header.pack(sec, frac // div, len(data), len(data)))
        out.write(data)


def _option(code: int, value: bytes, byteorder: str) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack(byteorder + "HH", code, len(value)) + value + b"\0" * pad


def _block(btype: int, body: bytes, byteorder: str) -> bytes:
    body += b"\0" * ((-len(body)) % 4)
    length = len(body) + 12
    return (
        struct.pack(byteorder + "II", btype, length) + body + struct.pack(byteorder + "I", length)
    )


class PcapngWriter:
    """A pcapng file: one section, interfaces added on demand, EPBs, SPBs and DSBs."""

    def __init__(self, out: BinaryIO, *, byteorder: str = "<") -> None:
        self.out = out
        self.order = byteorder
        self.resolutions: list[int] = []  # ticks per second of each interface
        body = struct.pack(byteorder + "IHHq", 0x1A2B3C4D, 1, 0, -1)
        out.write(_block(0x0A0D0D0A, body, byteorder))

    def add_interface(
        self, linktype: int = LINKTYPE_ETHERNET, *, tsresol: int | None = None
    ) -> int:
        """Describe an interface; ``tsresol`` is the if_tsresol byte (default: microseconds)."""
        options = b""
        ticks = 1_000_000
        if tsresol is not None:
            options += _option(9, bytes([tsresol]), self.order)
            ticks = 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10**tsresol
        if options:
            options += _option(0, b"", self.order)
        body = struct.pack(self.order + "HHI", linktype, 0, 262144) + options
        self.out.write(_block(1, body, self.order))
        self.resolutions.append(ticks)
        return len(self.resolutions) - 1

    def add_packet(
        self, ts_ns: int, data: bytes, interface: int = 0, *, wire_length: int | None = None
    ) -> None:
        """``wire_length``: the frame's length on the wire, when the snap length cut it to
        ``data`` (the block's original length)."""
        ts = ts_ns * self.resolutions[interface] // 1_000_000_000
        sent = len(data) if wire_length is None else wire_length
        body = struct.pack(
            self.order + "IIIII", interface, ts >> 32, ts & 0xFFFFFFFF, len(data), sent
        )
        self.out.write(_block(6, body + data, self.order))

    def add_simple_packet(self, data: bytes) -> None:
        self.out.write(_block(3, struct.pack(self.order + "I", len(data)) + data, self.order))

    def add_secrets(self, data: bytes, secrets_type: int = 0x544C534B) -> None:
        """A Decryption Secrets Block; the default type is a TLS key log."""
        body = struct.pack(self.order + "II", secrets_type, len(data)) + data
        self.out.write(_block(0x0A, body, self.order))

    def add_block(self, btype: int, body: bytes) -> None:
        """Any other block (tests use it for unknown and custom blocks)."""
        self.out.write(_block(btype, body, self.order))
