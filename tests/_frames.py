"""Helpers that take real packets from the project's captures and re-wrap them."""

from __future__ import annotations

import struct
from pathlib import Path

from tlslens.capture import open_capture


def read_frames(path: Path) -> list[tuple[int, int, bytes]]:
    raw, reader = open_capture(path)
    with raw:
        return list(reader)


def ethernet_to_ip(frame: bytes) -> bytes:
    """Strip a 14-byte Ethernet header (the loopback captures use DLT_EN10MB)."""
    assert struct.unpack_from(">H", frame, 12)[0] in (0x0800, 0x86DD)
    return frame[14:]


def ethertype_of(ip: bytes) -> int:
    return 0x0800 if ip[0] >> 4 == 4 else 0x86DD


def with_vlan(frame: bytes, tags: list[tuple[int, int]]) -> bytes:
    """Insert 802.1Q/802.1ad tags (tpid, vlan id) after the MAC addresses."""
    out = frame[:12]
    for tpid, vid in tags:
        out += struct.pack(">HH", tpid, vid)
    return out + frame[12:]


def sll(ip: bytes) -> bytes:
    return struct.pack(">HHH8sH", 0, 772, 6, b"\0" * 8, ethertype_of(ip)) + ip


def sll2(ip: bytes) -> bytes:
    return struct.pack(">HHIHBB8s", ethertype_of(ip), 0, 1, 772, 0, 6, b"\0" * 8) + ip


def null_loopback(ip: bytes, byteorder: str = "<") -> bytes:
    family = 2 if ip[0] >> 4 == 4 else 30
    return struct.pack(byteorder + "I", family) + ip
