"""QUIC transport parameters as the core decodes them, against tshark's dissection of the
same hellos in the project's capture (tests/vectors/captures/udp/quic.pcapng: aioquic's
clients and servers send version_information, Chromium a GREASE version in it and
max_datagram_frame_size)."""

from __future__ import annotations

from test_quic_show import QUIC, RETRY_CONNECTION, _keyed

from tlslens import _core
from tlslens.handshake import extensions as ext
from tlslens.model import Connection

from _tshark import _fields
from conftest import CAPTURES

QUIC_TRANSPORT_PARAMETERS = 0x39
VERSION_INFORMATION = 0x11
MAX_DATAGRAM_FRAME_SIZE = 0x20
NO_OUT_OF_ORDER = ["-o", "quic.reassemble_crypto_out_of_order:FALSE"]
KEYS = CAPTURES / "udp" / "quic.keys"


def _parameters(conn: Connection) -> list[list[_core.TransportParameter]]:
    """The transport parameters of each ClientHello, then of the EncryptedExtensions."""
    holders = [*conn.client_hellos, conn.encrypted_extensions]
    found = [
        ext.decoded_in(h, QUIC_TRANSPORT_PARAMETERS, _core.TransportParameters) for h in holders
    ]
    return [f.parameters for f in found if f is not None]


def _tshark_hellos(options: list[str]) -> list[tuple[int, str, str, str, str]]:
    """Per ClientHello or EncryptedExtensions: connection, parameter types, chosen version,
    other versions, max_datagram_frame_size (as tshark writes them)."""
    out = _fields(
        QUIC,
        ["-o", f"tls.keylog_file:{KEYS}", *options],
        "tls.handshake.type == 1 || tls.handshake.type == 8",
        [
            "quic.connection.number",
            "tls.quic.parameter.type",
            "tls.quic.parameter.vi.chosen_version",
            "tls.quic.parameter.vi.other_version",
            "tls.quic.parameter.max_datagram_frame_size",
        ],
        None,
    )
    rows = [[*line.split("\t"), "", "", "", ""][:5] for line in out.splitlines()]
    return [(int(r[0].split(",")[0]), r[1], r[2], r[3], r[4]) for r in rows]


def test_version_information_and_the_registry_names_agree_with_tshark(tshark: str) -> None:
    ours = [(i, p) for i, conn in enumerate(_keyed(QUIC)) for p in _parameters(conn)]
    theirs = [h for h in _tshark_hellos([]) if h[0] != RETRY_CONNECTION]
    theirs += [h for h in _tshark_hellos(NO_OUT_OF_ORDER) if h[0] == RETRY_CONNECTION]
    theirs.sort(key=lambda h: h[0])  # a connection's hellos stay in frame order
    assert [i for i, _ in ours] == [h[0] for h in theirs]
    for (_, params), (number, types, chosen, others, datagram) in zip(ours, theirs, strict=True):
        assert [p.id for p in params] == [int(t) for t in types.split(",")], number
        (info,) = [p.version_information for p in params if p.id == VERSION_INFORMATION]
        assert info is not None and info.chosen_version == int(chosen, 16)
        assert info.available_versions == [int(v, 16) for v in others.split(",")]
        named = {p.id: p.name for p in params}
        assert named[VERSION_INFORMATION] == "version_information"
        if datagram:  # Chromium's
            (size,) = [p for p in params if p.id == MAX_DATAGRAM_FRAME_SIZE]
            assert (size.name, size.integer) == ("max_datagram_frame_size", int(datagram))
    # Chromium lists a GREASE version first among those it supports (RFC 9368 §6).
    chromium = next(p for i, p in ours if i == 6)
    (info,) = [p.version_information for p in chromium if p.id == VERSION_INFORMATION]
    assert info is not None and info.available_versions[0] & 0x0F0F0F0F == 0x0A0A0A0A
    assert _core.quic_version_name(info.available_versions[0]).startswith("reserved (GREASE)")
