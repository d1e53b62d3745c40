"""tshark as an oracle: per TCP stream, what its TLS dissector saw.

Used by the differential tests and by bench/. tshark runs without key material,
so it sees what tlslens sees without keys.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tlslens.events import HandshakeEvent

T = TypeVar("T")

FIELDS = [
    "frame.number",
    "tcp.stream",
    "tls.handshake.type",
    "tls.handshake.ciphersuite",
    "tls.handshake.version",
    "tls.handshake.extensions.supported_version",
    "tls.handshake.extensions_server_name",
    "tls.handshake.certificate",
    "tls.handshake.random",
]


@dataclass
class TsharkStream:
    stream: int
    frames: list[int] = field(default_factory=list)
    types: list[int] = field(default_factory=list)  # handshake types in wire order
    versions: list[int] = field(default_factory=list)  # per ServerHello (not HRR)
    suites: list[int] = field(default_factory=list)  # per ServerHello
    sni: list[str] = field(default_factory=list)
    certificates: list[list[str]] = field(default_factory=list)  # sha256 per Certificate


HRR_RANDOM = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"


def _ints(text: str) -> list[int]:
    return [int(v, 0) for v in text.split(",") if v]


def strip_secrets(path: Path, workdir: Path) -> Path:
    """A copy of a pcapng without its Decryption Secrets Blocks.

    tshark decrypts with embedded secrets on its own; the keyless comparison
    must not let it.
    """
    name = path.name
    if not (name.endswith(".pcapng") or name.endswith(".pcapng.gz")):
        return path
    out = workdir / (name.removesuffix(".gz") if name.endswith(".gz") else name)
    subprocess.run(
        ["editcap", "--discard-all-secrets", str(path), str(out)],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return out


def _tshark_base(path: Path, options: list[str]) -> list[str]:
    """Read ``path`` with the out-of-order reassembly the corpus captures need."""
    return ["tshark", "-n", "-r", str(path), "-o", "tcp.reassemble_out_of_order:TRUE", *options]


def _fields(
    path: Path, options: list[str], wanted: str, fields: list[str], cwd: Path | None
) -> str:
    """tshark's ``fields`` of the packets ``wanted`` selects: tab-separated, every
    occurrence, joined by commas."""
    cmd = [*_tshark_base(path, options), "-Y", wanted, "-T", "fields", "-E", "separator=\t"]
    cmd += ["-E", "occurrence=a", "-E", "aggregator=,"]
    for name in fields:
        cmd += ["-e", name]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, cwd=cwd, check=False
    ).stdout


def run_tshark(path: Path, options: list[str], cwd: Path | None = None) -> dict[int, TsharkStream]:
    out = _fields(path, options, "tls.handshake and tcp", FIELDS, cwd)
    streams: dict[int, TsharkStream] = {}
    for line in out.splitlines():
        cols = line.split("\t")
        cols += [""] * (len(FIELDS) - len(cols))
        frame, stream_text, types, suites, versions, supported, sni, certs, randoms = cols
        if not stream_text:
            continue
        st = streams.setdefault(int(stream_text), TsharkStream(int(stream_text)))
        type_list = _ints(types)
        if not type_list:
            continue
        st.frames.append(int(frame))
        st.types.extend(type_list)
        if 2 in type_list:
            suite_list = _ints(suites)
            random_list = [r for r in randoms.split(",") if r]
            hrr = any(r == HRR_RANDOM for r in random_list)
            if not hrr:
                st.suites.extend(suite_list[-1:])
                sv = _ints(supported)
                st.versions.append(sv[-1] if sv else _ints(versions)[-1])
        if 1 in type_list and sni:
            st.sni.extend(s for s in sni.split(",") if s)
        if certs:
            st.certificates.append(
                [
                    hashlib.sha256(bytes.fromhex(c.replace(":", ""))).hexdigest()
                    for c in certs.split(",")
                ]
            )
    return streams


def compare(name: str, connections: list, streams: dict[int, TsharkStream]) -> list[str]:  # type: ignore[type-arg]
    """Disagreements between tlslens connections and tshark streams, one line each.

    A tshark stream is matched to the connection whose plaintext handshake
    frames it shares. SSLv2-format ClientHellos are left out (tshark does not
    count them as tls.handshake.type) and so is what tlslens marks encrypted.
    """
    problems: list[str] = []
    for stream in streams.values():
        if not stream.types:
            continue
        ours = None
        for conn in connections:
            frames = {e.frame for e in conn.handshake_events if isinstance(e, HandshakeEvent)}
            if frames & set(stream.frames):
                ours = conn
                break
        where = f"{name}: tshark stream {stream.stream}"
        if ours is None:
            problems.append(f"{where} (frames {stream.frames[:4]}): tlslens has no such connection")
            continue
        where += f" = tlslens connection {ours.id}"
        # tshark ran without secrets (embedded ones stripped); tlslens decrypts with the
        # pcapng's own, so the messages it decrypted are left out here.
        types = [
            e.message.msg_type
            for e in ours.handshake_events
            if isinstance(e, HandshakeEvent) and not e.sslv2 and not e.decrypted
        ]
        if types != stream.types:
            problems.append(f"{where}: handshake types tshark={stream.types} tlslens={types}")
        if stream.suites and ours.cipher_suite != stream.suites[0]:
            problems.append(
                f"{where}: cipher suite tshark={stream.suites[0]:#06x} tlslens={ours.cipher_suite}"
            )
        if stream.versions and ours.version != stream.versions[0]:
            problems.append(
                f"{where}: version tshark={stream.versions[0]:#06x} tlslens={ours.version}"
            )
        if (stream.sni[:1] or [None])[0] != ours.sni:
            problems.append(f"{where}: SNI tshark={stream.sni[:1]} tlslens={ours.sni!r}")
        theirs = stream.certificates[0] if stream.certificates else []
        mine = [c.sha256 for c in ours.certificates]
        if theirs and theirs != mine:
            problems.append(
                f"{where}: certificate fingerprints differ ({len(theirs)} vs {len(mine)})"
            )
    return problems


def follow_tls(
    path: Path, options: list[str], streams: list[int], cwd: Path | None = None
) -> dict[int, dict[str, bytes]]:
    """tshark's `-z follow,tls,raw,N` for each stream: {stream: {"node0": ..., "node1": ...}}."""
    if not streams:
        return {}
    cmd = [
        *_tshark_base(path, options),
        "-q",
    ]
    for stream in streams:
        cmd += ["-z", f"follow,tls,raw,{stream}"]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, cwd=cwd, check=False
    ).stdout
    result: dict[int, dict[str, bytes]] = {}
    current: dict[str, bytearray] | None = None
    nodes: dict[str, str] = {}
    for line in out.splitlines():
        if line.startswith("Filter: tcp.stream eq "):
            stream = int(line.rsplit(" ", 1)[1])
            current = {"node0": bytearray(), "node1": bytearray()}
            result[stream] = current  # type: ignore[assignment]
            nodes = {}
        elif line.startswith("Node 0: ") or line.startswith("Node 1: "):
            nodes[line[:6]] = line[8:]
            if current is not None:
                current[f"addr{line[5]}"] = bytearray(line[8:].encode())
        elif line.startswith("Follow:"):
            continue
        elif current is not None and line and not line.startswith("="):
            if line.startswith("\t"):
                current["node1"] += bytes.fromhex(line.strip())
            else:
                current["node0"] += bytes.fromhex(line.strip())
    return {k: {n: bytes(v) for n, v in d.items()} for k, d in result.items()}


def alerts_by_stream(
    path: Path, options: list[str], cwd: Path | None = None
) -> dict[int, list[tuple[int, int]]]:
    """Every alert tshark decodes (plaintext, or decrypted with ``options``' key log), per
    TCP stream in wire order: {stream: [(level, description), ...]}."""
    fields = ["tcp.stream", "tls.alert_message.level", "tls.alert_message.desc"]
    out = _fields(path, options, "tls.alert_message", fields, cwd)
    alerts: dict[int, list[tuple[int, int]]] = {}
    for line in out.splitlines():
        stream, levels, descriptions = [*line.split("\t"), "", ""][:3]
        if not stream:
            continue
        pairs = zip(_ints(levels), _ints(descriptions), strict=True)
        alerts.setdefault(int(stream), []).extend(pairs)
    return alerts


@dataclass
class TsharkHTTP2:
    """What tshark's http2 dissector saw one TCP port send, in wire order."""

    frames: list[tuple[int, int, int]] = field(default_factory=list)  # (stream, type, length)
    headers: list[tuple[str, str]] = field(default_factory=list)  # every header block's fields
    resets: list[int] = field(default_factory=list)  # RST_STREAM error codes
    goaways: list[tuple[int, int]] = field(default_factory=list)  # (last stream, error code)


HTTP2_FIELDS = [
    "tcp.srcport",
    "http2.streamid",
    "http2.type",
    "http2.length",
    "http2.header.name",
    "http2.header.value",
    "http2.rst_stream.error",
    "http2.goaway.last_stream_id",
    "http2.goaway.error",
]


def run_tshark_http2(path: Path, options: list[str]) -> dict[int, TsharkHTTP2]:
    """tshark's HTTP/2 frames of a capture (decrypted with ``options``), by sending port.
    Fields are joined with U+001F: header values hold commas."""
    cmd = [*_tshark_base(path, options), "-Y", "http2", "-T", "fields", "-E", "occurrence=a"]
    cmd += ["-E", "aggregator=\x1f", "-E", "separator=\t"]
    for name in HTTP2_FIELDS:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False).stdout
    seen: dict[int, TsharkHTTP2] = {}
    for line in out.splitlines():
        cols = [c.split("\x1f") if c else [] for c in line.split("\t")]
        cols += [[]] * (len(HTTP2_FIELDS) - len(cols))
        port, streams, types, lengths, names, values, resets, lasts, errors = cols
        if not types:
            continue  # the client's connection preface alone
        side = seen.setdefault(int(port[0]), TsharkHTTP2())
        side.frames.extend(zip(map(int, streams), map(int, types), map(int, lengths), strict=True))
        side.headers.extend(zip(names, values, strict=True))
        side.resets.extend(int(code, 0) for code in resets)
        side.goaways.extend(zip(map(int, lasts), (int(c, 0) for c in errors), strict=True))
    return seen


@dataclass
class TsharkQUIC:
    """What tshark's QUIC dissector saw of one QUIC connection (``quic.connection.number``:
    connection IDs followed across changes and migration), in wire order."""

    number: int
    frames: list[int] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)  # distinct long-header versions
    client_ports: list[int] = field(default_factory=list)  # distinct, first seen first
    server_port: int = 0
    client_short_dcids: list[str] = field(default_factory=list)  # distinct, 1-RTT packets
    client_first_datagrams: int = 0  # datagrams the client sent before the server's first
    handshake_types: list[int] = field(default_factory=list)
    suites: list[int] = field(default_factory=list)  # per ServerHello
    sni: list[str] = field(default_factory=list)
    alpn: list[list[str]] = field(default_factory=list)  # per ClientHello / EncryptedExtensions
    key_share_groups: list[int] = field(default_factory=list)  # the ClientHello's shares
    frame_types: set[int] = field(default_factory=set)
    retries: int = 0  # Retry packets whose integrity tag tshark checked
    decrypted_short: int = 0  # datagrams of 1-RTT packets alone that tshark opened
    http3_frames: list[int] = field(default_factory=list)  # HTTP/3 frame types
    # CONNECTION_CLOSE frames: (frame type, error code, TLS alert): 0x1c with a transport
    # error (CRYPTO_ERROR carries an alert), 0x1d with the application's error code.
    closes: list[tuple[int, int, int | None]] = field(default_factory=list)


QUIC_FIELDS = [
    "frame.number",
    "quic.connection.number",
    "udp.srcport",
    "udp.dstport",
    "quic.header_form",
    "quic.version",
    "quic.long.packet_type",
    "quic.dcid",
    "quic.frame_type",
    "quic.retry_integrity_tag",
    "quic.bad_retry",
    "tls.handshake.type",
    "tls.handshake.ciphersuite",
    "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_alpn_str",
    "tls.handshake.extensions_key_share_group",
    "http3.frame_type",
    "quic.cc.error_code",
    "quic.cc.error_code.tls_alert",
    "quic.cc.error_code.app",
]
CONNECTION_CLOSE, APPLICATION_CLOSE = 0x1C, 0x1D


def _add_distinct(into: list[T], values: Iterable[T]) -> None:
    into.extend(v for v in dict.fromkeys(values) if v not in into)


def _quic_packet(conn: TsharkQUIC, col: dict[str, str]) -> None:
    """One datagram's fields (every QUIC packet coalesced in it) folded into ``conn``."""
    conn.frames.append(int(col["frame.number"]))
    from_client = not conn.client_ports or int(col["udp.dstport"]) == conn.server_port
    if not conn.client_ports:
        conn.server_port = int(col["udp.dstport"])
    if from_client:
        _add_distinct(conn.client_ports, [int(col["udp.srcport"])])
    _add_distinct(conn.versions, [v for v in _ints(col["quic.version"]) if v])
    forms = _ints(col["quic.header_form"])
    if from_client and forms == [0]:
        _add_distinct(conn.client_short_dcids, col["quic.dcid"].split(",")[-1:])
    if from_client and conn.client_first_datagrams == len(conn.frames) - 1:
        conn.client_first_datagrams += 1  # every datagram so far came from the client
    frame_types = _ints(col["quic.frame_type"])
    conn.frame_types.update(frame_types)
    if forms == [0] and frame_types:
        conn.decrypted_short += 1
    if col["quic.retry_integrity_tag"] and not col["quic.bad_retry"]:
        conn.retries += 1
    types = _ints(col["tls.handshake.type"])
    conn.handshake_types.extend(types)
    if 2 in types:
        conn.suites.extend(_ints(col["tls.handshake.ciphersuite"])[:1])
    if 1 in types:
        conn.sni.extend(s for s in col["tls.handshake.extensions_server_name"].split(",") if s)
        conn.key_share_groups.extend(_ints(col["tls.handshake.extensions_key_share_group"]))
    if (1 in types or 8 in types) and col["tls.handshake.extensions_alpn_str"]:
        conn.alpn.append(col["tls.handshake.extensions_alpn_str"].split(","))
    conn.http3_frames.extend(_ints(col["http3.frame_type"]))
    alerts = _ints(col["quic.cc.error_code.tls_alert"])
    for code in _ints(col["quic.cc.error_code"]):
        conn.closes.append((CONNECTION_CLOSE, code, alerts[0] if alerts else None))
    for code in _ints(col["quic.cc.error_code.app"]):
        conn.closes.append((APPLICATION_CLOSE, code, None))


def run_tshark_quic(path: Path, options: list[str]) -> dict[int, TsharkQUIC]:
    """tshark's QUIC connections of a capture (decrypted with ``options``' key log), by
    ``quic.connection.number``."""
    out = _fields(path, options, "quic", QUIC_FIELDS, None)
    connections: dict[int, TsharkQUIC] = {}
    for line in out.splitlines():
        col = dict(zip(QUIC_FIELDS, [*line.split("\t"), *[""] * len(QUIC_FIELDS)], strict=False))
        if not col["quic.connection.number"]:
            continue
        number = int(col["quic.connection.number"].split(",")[0])
        _quic_packet(connections.setdefault(number, TsharkQUIC(number)), col)
    return connections


@dataclass
class TsharkDTLS:
    """What tshark's DTLS dissector saw of one UDP conversation (``udp.stream``)."""

    stream: int
    handshake_types: list[int] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)  # per ServerHello
    suites: list[int] = field(default_factory=list)  # per ServerHello
    sni: list[str] = field(default_factory=list)
    cookies: int = 0  # HelloVerifyRequests
    fragments: int = 0  # handshake records holding part of a message
    alerts: list[tuple[int, int]] = field(default_factory=list)  # (level, description)
    plaintext: dict[int, bytes] = field(default_factory=dict)  # decrypted app data by port
    leaf_sha256: str | None = None  # of the first certificate sent
    alpn: list[str] = field(default_factory=list)  # per ServerHello that selects one


DTLS_FIELDS = [
    "udp.stream",
    "udp.srcport",
    "dtls.handshake.type",
    "dtls.handshake.version",
    "dtls.handshake.ciphersuite",
    "dtls.handshake.extensions_server_name",
    "dtls.handshake.fragment_length",
    "dtls.handshake.length",
    "dtls.alert_message.level",
    "dtls.alert_message.desc",
    "data.data",
    "dtls.handshake.certificate",
    "dtls.handshake.extensions_alpn_str",
]


def run_tshark_dtls(path: Path, options: list[str]) -> dict[int, TsharkDTLS]:
    """tshark's DTLS conversations of a capture (decrypted with ``options``' key log)."""
    out = _fields(path, options, "dtls", DTLS_FIELDS, None)
    streams: dict[int, TsharkDTLS] = {}
    for line in out.splitlines():
        col = dict(zip(DTLS_FIELDS, [*line.split("\t"), *[""] * len(DTLS_FIELDS)], strict=False))
        st = streams.setdefault(int(col["udp.stream"]), TsharkDTLS(int(col["udp.stream"])))
        types = _ints(col["dtls.handshake.type"])
        st.handshake_types.extend(types)
        st.cookies += types.count(3)
        if 2 in types:
            # a ServerHello never shares its datagram with a ClientHello or HelloVerifyRequest
            st.versions.extend(_ints(col["dtls.handshake.version"])[:1])
            st.suites.extend(_ints(col["dtls.handshake.ciphersuite"])[:1])
        if 1 in types:
            st.sni.extend(s for s in col["dtls.handshake.extensions_server_name"].split(",") if s)
        elif 2 in types and col["dtls.handshake.extensions_alpn_str"]:
            st.alpn.append(col["dtls.handshake.extensions_alpn_str"].split(",")[0])
        certificates = col["dtls.handshake.certificate"]
        if certificates and st.leaf_sha256 is None:
            leaf = bytes.fromhex(certificates.split(",")[0].replace(":", ""))
            st.leaf_sha256 = hashlib.sha256(leaf).hexdigest()
        pieces = zip(
            _ints(col["dtls.handshake.fragment_length"]),
            _ints(col["dtls.handshake.length"]),
            strict=False,
        )
        st.fragments += sum(1 for piece, whole in pieces if piece < whole)
        levels, descriptions = col["dtls.alert_message.level"], col["dtls.alert_message.desc"]
        pairs = zip(_ints(levels), _ints(descriptions), strict=True)
        st.alerts.extend(pairs)
        if col["data.data"]:
            port = int(col["udp.srcport"])
            data = b"".join(bytes.fromhex(d) for d in col["data.data"].split(","))
            st.plaintext[port] = st.plaintext.get(port, b"") + data
    return streams


def record_frames(path: Path, *, out_of_order: bool) -> list[tuple[int, int]]:
    """(frame, content type) of each TLS record tshark reads, sorted (a TLS 1.3 record's
    outer type is its opaque_type, a field of its own: the order of the records within a
    frame is not kept). By default tshark reads the segments after one not captured where
    they stand; ``out_of_order`` holds them until the hole fills (and never gives a hole
    up)."""
    option = f"tcp.reassemble_out_of_order:{'TRUE' if out_of_order else 'FALSE'}"
    cmd = ["tshark", "-n", "-r", str(path), "-o", option, "-Y", "tls", "-T", "fields"]
    cmd += ["-E", "occurrence=a", "-E", "aggregator=,", "-e", "frame.number"]
    cmd += ["-e", "tls.record.content_type", "-e", "tls.record.opaque_type"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    frames: list[tuple[int, int]] = []
    for line in out.splitlines():
        frame, *types = line.split("\t")
        frames += [(int(frame), int(t)) for t in ",".join(types).split(",") if t]
    return sorted(frames)


def lost_segments(path: Path) -> list[int]:
    """The frames tshark marks "previous segment not captured": the first after each hole."""
    cmd = ["tshark", "-n", "-r", str(path), "-Y", "tcp.analysis.lost_segment"]
    cmd += ["-T", "fields", "-e", "frame.number"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    return [int(frame) for frame in out.split()]
