"""Types of the compiled core (crates/tlslens-py), built by maturin into tlslens._core."""

from collections.abc import Callable, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Final,
    Generic,
    Literal,
    TypeAlias,
    TypedDict,
    TypeVar,
    final,
    overload,
)

if TYPE_CHECKING:
    from tlslens.handshake.sslv2 import SSLv2Message
    from tlslens.keys.store import KeyStore
    from tlslens.model import Connection, Finding
    from tlslens.tls.content import RecordContent
    from tlslens.tls.proof import SignatureCheck
    from tlslens.x509.validate import Validation

GZIP_MAX_RATIO: int
GZIP_FLOOR: int
# Events the first FlowCore.pull hands over at most (the rest of its batch is walked
# on the walking thread meanwhile).
FIRST_WALK_EVENTS: int
# What Python keeps of an event it is told (its objects), as max_held counts it.
SAID_COST: int

@final
class FrameBatch:
    """What one ``CaptureReader.poll`` read."""

    @property
    def frames(self) -> list[tuple[int, int, bytes]]:
        """``(timestamp in ns, link type, frame bytes)`` in capture order."""
    @property
    def problems(self) -> list[tuple[int, str, int]]:
        """``(byte offset, message, frame number)``."""
    @property
    def secrets(self) -> list[tuple[int, bytes]]:
        """pcapng Decryption Secrets Blocks: ``(secrets type, data)``."""

@final
class CaptureReader:
    """pcap / pcapng / gzip'd capture reader, sans-IO: ``feed`` bytes, ``poll`` batches; or,
    made with a ``path``, reading that file itself on a thread of its own."""

    def __init__(
        self,
        max_expansion: int,
        gzip_floor: int,
        path: str | None = None,
        identity: tuple[int, int] | None = None,
    ) -> None:
        """Raises OSError when ``path`` cannot be opened, or (``identity``: the device and
        inode of the file the caller opened by that name) is another file by now."""
    def feed(self, chunk: bytes) -> None:
        """Raises ValueError for a reader of its own file."""
    def finish(self, error: str | None = None) -> None:
        """No more bytes will come; ``error``: why (a read that failed)."""
    def poll(self) -> FrameBatch:
        """What can be read of the bytes fed so far: no frames when more are needed. A
        reader of its own file waits for its next batch (no frames only once ``done``)."""
    @property
    def format(self) -> str:
        """``pcap``, ``pcapng``, or ``unknown`` until the first bytes are walked."""
    @property
    def fatal(self) -> str | None:
        """Why the input is not a capture at all."""
    @property
    def done(self) -> bool:
        """Nothing more will come out, whatever is fed."""
    @property
    def frames(self) -> int: ...
    @property
    def linktypes(self) -> list[int]: ...
    @property
    def reads_file(self) -> bool:
        """This reader reads its file itself (made with a ``path``)."""
    @property
    def bytes_read(self) -> int:
        """Bytes of the capture taken in so far: read from its file, or fed."""

# -- the flow table (crates/tlslens-py/src/flows.rs) ---------------------------------------

REORDER_WINDOW: int
MAX_OPEN_FLOWS: int
MAX_PENDING_BYTES: int
MAX_HELD: int
# Record headers a connection lists for --records; past it they are counted only.
MAX_RECORDS_LISTED: int
MAX_UDP_FLOWS: int
# Datagrams of DTLS 1.3 unified headers alone in a row on a 4-tuple that open an
# association whose hellos were not captured.
UNIFIED_IN_A_ROW: int
UDP_IDLE_TIMEOUT_NS: int
TCP_FIN: int
TCP_SYN: int
TCP_RST: int
TCP_ACK: int

def linktype_name(linktype: int) -> str:
    """The name of a link type as the summary gives it."""

@final
class TcpSegment:
    """One frame's TCP segment, as ``decode_tcp`` found it."""

    @property
    def src(self) -> bytes: ...
    @property
    def dst(self) -> bytes: ...
    @property
    def sport(self) -> int: ...
    @property
    def dport(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def ack(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def payload(self) -> bytes: ...

def decode_tcp(linktype: int, frame: bytes) -> TcpSegment | None:
    """One frame down to its TCP segment; None when it carries none for us."""

class DirectionStats:
    """What one direction of a connection carried; every count starts at 0 and holds 64
    bits."""

    records: int
    application_data_records: int
    application_data_bytes: int
    bytes: int
    gaps: int
    gap_bytes: int
    def __init__(
        self,
        records: int = 0,
        application_data_records: int = 0,
        application_data_bytes: int = 0,
        bytes: int = 0,
        gaps: int = 0,
        gap_bytes: int = 0,
    ) -> None: ...

def add_counts(
    stats: dict[str, DirectionStats],
    client_side: int | None,
    counts: Sequence[tuple[int, int, int, int]],
) -> None:
    """Per side (0, 1): application data records and bytes, gaps and bytes missing, added
    to ``stats`` ("c2s" for ``client_side``, else "s2c")."""

def direction_stats() -> dict[str, DirectionStats]:
    """A connection's ``stats``: a ``DirectionStats`` for "c2s" and one for "s2c"."""

@final
class Endpoint:
    """One end of a connection: its address's bytes (4 or 16) and its port; hashed and
    compared as the tuple (ip, port); ``str``: the address as ``model._address_text`` words
    it, then ":" and the port."""

    def __init__(self, ip: bytes, port: int) -> None: ...
    @property
    def ip(self) -> bytes: ...
    @property
    def port(self) -> int: ...
    def __hash__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...

MAX_SHARED_ENDS: int
# Handshakes whose derivations and Finished verdicts are kept one by one.
MAX_DERIVATIONS: int

def shared_endpoint(ip: bytes, port: int) -> Endpoint:
    """``Endpoint(ip, port)``, the same object as the last time these were asked for (while
    it is kept, at most ``MAX_SHARED_ENDS`` ends and as many addresses), its address's bytes
    shared with the other ports of that address."""

def shared_ends_kept() -> tuple[int, int]:
    """How many ends and addresses are kept for sharing."""

@final
class FlowOpened:
    """A new TCP flow; ``client_side`` 0 or 1 when its first frame was a SYN or SYN/ACK."""

    @property
    def flow(self) -> int: ...
    @property
    def src(self) -> bytes: ...
    @property
    def sport(self) -> int: ...
    @property
    def dst(self) -> bytes: ...
    @property
    def dport(self) -> int: ...
    @property
    def ends(self) -> tuple[Endpoint, Endpoint]:
        """The flow's two ends, its first sender's first (shared objects)."""
    @property
    def frame(self) -> int: ...
    @property
    def ts_ns(self) -> int: ...
    @property
    def client_side(self) -> int | None: ...
    @property
    def mid_stream(self) -> bool: ...
    @property
    def secrets(self) -> int:
        """Decryption Secrets Blocks read so far."""
    @property
    def decryptor(self) -> Decryptor | None:
        """With ``FlowCore(content=...)``: the flow's decryptor, when it has one."""

@final
class FlowData:
    """Reassembled bytes of one side at ``offset`` within that direction, read at ``frame``:
    the frame that carried them, or, for bytes that waited beyond a hole, the frame that
    filled it (a hole given up: their own)."""

    @property
    def flow(self) -> int: ...
    @property
    def side(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def data(self) -> bytes: ...
    @property
    def frame(self) -> int: ...
    @property
    def ts_ns(self) -> int: ...

@final
class FlowGap:
    """``length`` bytes at ``offset`` the capture lacks: a hole given up on, told at the
    frame of the bytes after it; ``given_up``: the bound that ended tlslens' wait for them
    ("bytes": --max-buffer, or "segments"), None when the capture lacks them."""

    @property
    def flow(self) -> int: ...
    @property
    def side(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def length(self) -> int: ...
    @property
    def given_up(self) -> Literal["bytes", "segments"] | None: ...
    @property
    def frame(self) -> int: ...
    @property
    def ts_ns(self) -> int: ...

@final
class FlowLate:
    """Bytes of a hole given up at a bound (a ``FlowGap`` with ``given_up`` told them) came
    after all, in ``frame``: the capture holds them, tlslens did not wait for them."""

    @property
    def flow(self) -> int: ...
    @property
    def side(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def length(self) -> int: ...
    @property
    def given_up(self) -> Literal["bytes", "segments"]: ...
    @property
    def frame(self) -> int: ...
    @property
    def ts_ns(self) -> int: ...

@final
class FlowConflict:
    """A later copy of bytes already taken differs from them (the first copy is kept)."""

    @property
    def flow(self) -> int: ...
    @property
    def side(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def length(self) -> int: ...
    @property
    def frame(self) -> int: ...
    @property
    def ts_ns(self) -> int: ...

@final
class FlowClosing:
    """A FIN or RST from ``side`` (a ``FlowCore`` without sessions: with them, the first
    after TLS began comes with ``FlowClosed.closing``)."""

    @property
    def flow(self) -> int: ...
    @property
    def side(self) -> int: ...
    @property
    def frame(self) -> int: ...
    @property
    def ts_ns(self) -> int: ...

@final
class FlowEvicted:
    """Closed early at ``frame``, the oldest of the ``open`` flows (itself included): more
    than ``max_connections`` were open (``why`` "connections"), or the open flows held more
    than ``max_held`` bytes ("held"). Told right before the flow's ``FlowClosed``, after what
    its closing handed on."""

    @property
    def flow(self) -> int: ...
    @property
    def frame(self) -> int: ...
    @property
    def why(self) -> str: ...
    @property
    def open(self) -> int: ...

@final
class FlowClosed:
    """The flow ended: ``frame``, ``ts_ns`` are its session's last; ``by`` fin, rst or None."""

    @property
    def flow(self) -> int: ...
    @property
    def frame(self) -> int: ...
    @property
    def ts_ns(self) -> int: ...
    @property
    def by(self) -> str | None: ...
    @property
    def syn_ts_ns(self) -> int | None: ...
    @property
    def synack_ts_ns(self) -> int | None: ...
    @property
    def renegotiation(self) -> bool:
        """With ``FlowCore(content=...)``: a handshake after the first was seen."""
    @property
    def abbreviated(self) -> bool:
        """... the server resumed a session (ServerHello to ChangeCipherSpec)."""
    @property
    def tls13_encrypted(self) -> bool:
        """... a TLS 1.3 ServerHello was read."""
    @property
    def counts(self) -> SideCounts:
        """... what the content layer counted per side (see ``Content.counts``)."""
    @property
    def closing(self) -> tuple[int, int, int] | None:
        """With sessions: the first FIN or RST after the flow's session began TLS, as
        (side, frame, ts_ns); None when there was none."""

@final
class FlowHandOut:
    """The flow's connection is next in first-packet order (``late``: after later ones,
    which were more than the reorder window or, ``held``, held more than ``max_held``)."""

    @property
    def flow(self) -> int: ...
    @property
    def late(self) -> bool: ...
    @property
    def held(self) -> bool: ...

@final
class SessionEvents:
    """What one stream event of a flow made its core session say, at ``frame`` (with
    ``FlowCore(sessions=True)``); a connection's last ones come before its ``FlowClosed``.
    With ``FlowCore(content=...)`` its records are read in the walk: content events instead
    (and each record's header as a ``SkippedBody`` when ``keep_records``), and the events
    of the flow's later stream events in the same batch join these while each carries its
    own frame (timeline events, ``ContentMessage.event``, ``ContentFinding``): not with a
    plaintext sink or ``keep_records``."""

    flow: int
    frame: int
    ts_ns: int
    events: list[SessionEvent | ContentEvent]

@final
class SessionFailed:
    """A flow's core session panicked (a bug): it only counts bytes from here. The run of
    application data held from before the failed batch is told before it."""

    flow: int
    frame: int
    ts_ns: int
    message: str

@final
class FlowIgnored:
    """The flow's core session gave it up (not TLS): the flow is let go."""

    flow: int

@final
class UdpOpened:
    """A new UDP association (QUIC or DTLS, by its first datagram, whose sender is the
    client, side 0); numbered with the TCP flows."""

    @property
    def flow(self) -> int: ...
    @property
    def kind(self) -> Literal["QUIC", "DTLS"]: ...
    @property
    def src(self) -> bytes: ...
    @property
    def sport(self) -> int: ...
    @property
    def dst(self) -> bytes: ...
    @property
    def dport(self) -> int: ...
    @property
    def ends(self) -> tuple[Endpoint, Endpoint]:
        """The flow's two ends, its first sender's first (shared objects)."""
    @property
    def frame(self) -> int: ...
    @property
    def ts_ns(self) -> int: ...

@final
class UdpDatagram:
    """One datagram of a UDP association from ``side`` (0: its first datagram's sender);
    ``bad_length``: its UDP length disagreed with the IP packet, read as far as it goes."""

    flow: int
    side: int
    frame: int
    ts_ns: int
    data: bytes
    bad_length: bool
    # What the walk charged its association toward max_held: the most its records can make
    # (FlowCore.udp_told settles it once read).
    charged: int

@final
class FlowCut:
    """A datagram of UDP association ``flow``, or a segment of TCP flow ``flow``, from
    ``side``, cut by the capture's snap length: its frame held ``captured`` of its
    ``original`` bytes. A datagram is not handed out; a segment's bytes captured are, the
    rest is a gap."""

    flow: int
    side: int
    frame: int
    ts_ns: int
    captured: int
    original: int

@final
class UdpClosed:
    """A UDP association ended: ``frame``, ``ts_ns`` are its last datagram's; ``end`` why;
    ``datagrams`` and ``bytes`` per side (client, server)."""

    flow: int
    kind: Literal["QUIC", "DTLS"]
    frame: int
    ts_ns: int
    first_ts_ns: int
    end: Literal["idle", "evicted", "held", "end_of_capture"]
    datagrams: tuple[int, int]
    bytes: tuple[int, int]

# -- QUIC connections (tlslens-core quic::QuicConnections, inside the flow walk) -----------
@final
class QuicOpened:
    """A QUIC connection begins at its client's first Initial (``dcid``: the Destination
    Connection ID its Initial keys come from), or at the server's answer to one that could
    not be read (``dcid`` None). ``client``, ``client_port``: the client the core decided
    on, which is not always the sender of the association's first datagram."""

    conn: int
    frame: int
    ts_ns: int
    version: int
    dcid: bytes | None
    client: bytes
    client_port: int

@final
class QuicFrame:
    """One frame of an opened packet (``offset``: its type byte's in the plaintext);
    ``data``: a CRYPTO, STREAM or DATAGRAM frame's bytes, a NEW_CONNECTION_ID's Connection
    ID, a CONNECTION_CLOSE's reason phrase; ``error``: a CONNECTION_CLOSE's error name."""

    name: str
    offset: int
    stream: int | None
    at: int | None
    fin: bool
    data: bytes | None
    code: int | None
    error: str | None
    detail: str

@final
class QuicPacket:
    """One packet of a datagram (``offset``, ``len`` in the UDP payload), opened (``pn``
    set, ``frames`` read) or not; ``side`` 0 is the client."""

    conn: int
    frame: int
    ts_ns: int
    side: int
    offset: int
    len: int
    kind: str
    space: Literal["initial", "handshake", "application"] | None
    version: int
    dcid: bytes
    scid: bytes
    pn: int | None
    key_phase: bool | None
    failed: bool  # not opened although its keys were there: they do not authenticate it
    frames: list[QuicFrame]

@final
class QuicCrypto:
    """Handshake bytes of a CRYPTO stream that became contiguous, at their offset."""

    conn: int
    frame: int
    side: int
    space: Literal["initial", "handshake", "application"]
    offset: int
    data: bytes
    client_random: bytes | None  # read from these bytes (the client's Initial, offset 0)

@final
class QuicVersionNegotiation:
    conn: int | None
    frame: int
    versions: list[int]

@final
class QuicRetry:
    """A Retry; ``tag_ok``: its integrity tag verifies (RFC 9001 §5.8)."""

    conn: int
    frame: int
    scid: bytes
    token: bytes
    tag_ok: bool

@final
class QuicKeyUpdate:
    conn: int
    frame: int
    side: int
    key_phase: bool

@final
class QuicMigrated:
    """The client moved to ``address``:``port``."""

    conn: int
    frame: int
    address: bytes
    port: int

@final
class QuicFinding:
    """Something wrong in a datagram: its frame and byte offset in the UDP payload."""

    conn: int | None
    frame: int
    offset: int
    message: str

@final
class QuicRun:
    """Routine 1-RTT packets of one connection folded (``FlowCore.quic_runs``): packets
    and their bytes per side (client, server), and the STREAM frames of ``stream_side``:
    their count, their bytes joined (``data``), bytes per stream in first-seen order, the
    first one's (frame, ts_ns, packet offset, length) and the last one's frame.
    ``frame``/``ts_ns``: the last packet's; ``kept``: those of them the caller lists."""

    data: bytes  # before ``bytes``, which names the attribute below it in this class
    conn: int
    frame: int
    ts_ns: int
    packets: tuple[int, int]
    bytes: tuple[int, int]
    stream_side: int | None
    stream_frames: int
    stream_packets: int  # the packets holding those STREAM frames
    first_stream: tuple[int, int, int, int] | None
    last_stream_frame: int
    streams: list[tuple[int, int]]
    kept: QuicKeptPackets | None

@final
class QuicKeptPackets:
    """The packets of a run its caller lists, made on demand by ``packets()``."""

    def __len__(self) -> int: ...
    def packets(self) -> list[_KeptPacket]:
        """(frame, ts_ns, side, offset, length, pn, key phase, DCID, frames) of each
        packet; a frame: (name, offset, detail, stream, offset in its stream, FIN, bytes
        carried)."""

_KeptFrame = tuple[str, int, str, int | None, int | None, bool, int | None]
_KeptPacket = tuple[int, int, int, int, int, int, bool | None, bytes, list[_KeptFrame]]

def quic_key_material(version: int, suite: int, secret: bytes) -> list[tuple[str, bytes]] | None:
    """A QUIC packet protection secret's [(label, bytes)] for key, IV and header protection
    key (RFC 9001 §5.1, RFC 9369); None for a version or suite the core does not open."""

def quic_initial_secrets(version: int, dcid: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(salt, client initial secret, server initial secret) from the client's first
    Destination Connection ID (RFC 9001 §5.2); None for a version the core cannot open."""

def quic_version_name(version: int) -> str: ...

QuicEvent = (
    QuicOpened
    | QuicPacket
    | QuicCrypto
    | QuicVersionNegotiation
    | QuicRetry
    | QuicKeyUpdate
    | QuicMigrated
    | QuicFinding
    | QuicRun
)

@final
class QuicEvents:
    """What one datagram made the QUIC connection table say (``flow``: its UDP
    association, None for a datagram of none or the end of the capture)."""

    flow: int | None
    frame: int
    ts_ns: int
    events: list[QuicEvent]
    # What the walk charged ``flow`` toward max_held: the most its CRYPTO data can make.
    charged: int

FlowEvent = (
    FlowOpened
    | FlowData
    | FlowGap
    | FlowConflict
    | FlowLate
    | FlowClosing
    | FlowEvicted
    | FlowClosed
    | FlowHandOut
    | SessionEvents
    | SessionFailed
    | FlowIgnored
    | UdpOpened
    | UdpDatagram
    | FlowCut
    | UdpClosed
    | QuicEvents
)

_M = TypeVar("_M")

@final
class MadeOnUse(Generic[_M]):
    """A member made on its first reading, held in the slot of its name with an underscore
    (None until then): see crates/tlslens-py/src/made_on_use.rs."""

    def __init__(self, factory: Callable[[], _M]) -> None: ...
    def __set_name__(self, owner: type, name: str) -> None: ...
    @overload
    def __get__(self, obj: None, owner: type | None = None) -> MadeOnUse[_M]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _M: ...
    def __set__(self, obj: object, value: _M) -> None: ...

@final
class FlowBatch:
    """What one ``FlowCore.pull`` (or ``abandon``, ``finish``) made of the frames."""

    @property
    def events(self) -> list[FlowEvent]: ...
    @property
    def problems(self) -> list[tuple[int, str, int]]:
        """The capture reader's ``(byte offset, message, frame number)``, and the core's."""
    @property
    def secrets(self) -> list[tuple[int, bytes]]:
        """Decryption Secrets Blocks read: ``(secrets type, data)``."""
    @property
    def check(self) -> bool:
        """A frame at which a time budget is checked was reached."""
    @property
    def progress(self) -> bool:
        """A progress point (every 4096 frames) was passed."""
    @property
    def read(self) -> int:
        """Bytes the capture reader had taken in when the frames of these events came (it
        may be further on: the next frames may be walked ahead)."""
    @property
    def hungry(self) -> bool:
        """The reader needs more bytes before anything else can be walked."""

@final
class ContentOptions:
    """What each TCP flow's content layer is made with when ``FlowCore`` runs it in its
    walk: ``keys`` the run's key store a new flow's decryptor reads (None: none), and
    ``keys_for(secrets)`` that store once ``secrets`` (> 0) Decryption Secrets Blocks were
    read (the caller adds their secrets to it, or makes it); the rest as ``Content``'s. A
    KeyboardInterrupt (a BaseException that is no Exception) raised by a callback stops the
    walk: ``pull`` raises it; an Exception is an internal-error finding of that flow
    (``ContentFinding``), which is read on without the decryptor or premaster."""

    def __init__(
        self,
        *,
        max_message: int,
        known_types: list[int],
        keep_plaintext: bool,
        keep_records: bool,
        keys: KeyStore | None,
        keys_for: Callable[[int], KeyStore | None],
        rsa: Callable[[bytes, tuple[int, int]], bytes | None] | None = None,
    ) -> None: ...

@final
class FlowCore:
    """The flow table over a ``CaptureReader``'s frames: frames in, flow events out."""

    def __init__(
        self,
        *,
        reorder_window: int,
        max_connections: int,
        max_buffer: int,
        watch_after: int,
        checks: bool,
        sessions: bool = False,
        keys: bool = False,
        max_udp_flows: int = ...,
        max_held: int = ...,
        content: ContentOptions | None = None,
        on_secrets: Callable[[list[tuple[int, bytes]]], None] | None = None,
    ) -> None:
        """``sessions``: each flow's stream goes through its core session (record-level
        events out, ``SessionEvents``), otherwise the reassembled bytes (``FlowData``...,
        and each UDP association's ``UdpDatagram``); ``keys``: a key log was given
        (application data bodies are kept); ``content`` (with sessions): each TCP flow's
        records are read by its core content layer in the walk (content events out);
        ``on_secrets``: told each batch's Decryption Secrets Blocks before it is walked."""
    def pull(self, reader: CaptureReader) -> FlowBatch:
        """Walk the reader's frames until Python must act."""
    def abandon(self, flow: int) -> FlowBatch:
        """A flow whose content failed in Python (a bug): its core session only counts
        bytes from now on; a flow not yet TLS is let go."""
    def finish(self, most: int | None = None) -> FlowBatch:
        """Every open flow closes; every connection is handed out. With ``most``, that
        many open flows (TCP and UDP) at a time, the oldest first: call again until
        ``finished``."""
    @property
    def finished(self) -> bool:
        """``finish`` closed every flow and handed out every connection."""
    def exhausted(self, reader: CaptureReader) -> bool:
        """Nothing more will be walked."""
    def add_quic_secret(self, label: str, client_random: bytes, secret: bytes) -> bool:
        """A key log secret for the QUIC packets of the connection with this client
        random; False when QUIC has no use for it."""
    def quic_runs(self, after: int) -> None:
        """Fold each QUIC connection's routine 1-RTT packets past its first ``after`` into
        ``QuicRun``s (for a caller that keeps only the first packets one by one and writes
        no plaintext per stream)."""
    @property
    def frames(self) -> int: ...
    @property
    def tcp_flows(self) -> int: ...
    @property
    def evicted(self) -> int: ...
    @property
    def unstarted(self) -> list[tuple[str, int, int, bytes, int, bytes, int]]:
        """TCP connections that ended before either side sent a byte, by how ("refused",
        "unanswered", "silent"): (kind, count, the first one's frame, client address and
        port, server address and port)."""
    def udp_told(self, flow: int, cost: int) -> None:
        """What Python keeps of the connections of UDP association ``flow`` grew by
        ``cost`` bytes, less what the walk charged the events read (``charged``; ``cost``
        may be negative): it counts toward ``max_held`` until their hand-out."""
    @property
    def held(self) -> int:
        """What the open flows hold now, as ``max_held`` counts it: nothing once every
        flow ended and was handed out."""
    @property
    def evicted_held(self) -> int:
        """Flows closed early, the open ones holding over ``max_held`` bytes."""
    @property
    def backwards(self) -> tuple[int, int]:
        """Frames whose timestamp went back, and the first of them."""
    @property
    def skipped(self) -> list[tuple[str, int]]:
        """Frames without a TCP segment for us, by reason, in the order first met."""
    @property
    def udp_bad_length(self) -> tuple[int, int]:
        """Datagrams of UDP associations whose UDP length disagreed with their IP packet,
        and the first of their frames."""
    @property
    def udp_after_stop(self) -> tuple[int, int, int]:
        """Datagrams skipped on 4-tuples whose QUIC or DTLS association tlslens ended early
        (past ``max_held`` or ``max_udp_flows``), the associations so ended they came after,
        and the first of their frames."""

# -- the session: one connection's mode machine (tlslens-core records::session) -----------
# One direction's bytes in, record-level events out: the only way into the record layer.
MAX_PRELUDE_SCAN: int
MAX_RECORD: int
CT_CHANGE_CIPHER_SPEC: int
CT_ALERT: int
CT_HANDSHAKE: int
CT_APPLICATION_DATA: int
CT_HEARTBEAT: int

@final
class TlsStarted:
    """The connection's first TLS bytes came from ``side``; ``client_side`` is decided."""

    side: int
    client_side: int

@final
class PreludeChunk:
    """Plaintext before TLS; ``protocol`` once the kept prelude names a STARTTLS one."""

    side: int
    from_client: bool
    offset: int
    data: bytes
    protocol: str | None

@final
class TlsRecord:
    side: int
    offset: int
    content_type: int
    version: int
    body: bytes

@final
class SkippedBody:
    """An application data record whose body was skipped (nothing decrypts it)."""

    side: int
    offset: int
    content_type: int
    version: int
    length: int

@final
class RecordBadHeader:
    side: int
    offset: int
    message: str

@final
class RecordResync:
    side: int
    offset: int
    skipped: int

@final
class RecordTruncated:
    side: int
    offset: int
    present: int
    needed: int

@final
class Sslv2ClientHello:
    """An SSLv2-compatible ClientHello record, header included."""

    side: int
    offset: int
    record: bytes

@final
class Sslv2ServerHello:
    side: int

@final
class Sslv2Record:
    side: int
    offset: int
    size: int
    body: bytes

@final
class StreamLate:
    """Bytes of ``side`` tlslens gave up on at a bound (a ``StreamGap`` told them;
    ``given_up``: "bytes" or "segments") came after all: the capture holds them, unread."""

    side: int
    offset: int
    length: int
    given_up: Literal["bytes", "segments"]

def give_up_reason(given_up: Literal["bytes", "segments"]) -> str:
    """Why tlslens stopped waiting for bytes beyond a hole, as a clause, for the bound a
    gap's ``given_up`` names (the words of the core's own reasons)."""

@final
class StreamGap:
    """Bytes missing; ``lost``: records were being read and the reader resynchronises;
    ``given_up``: or not yet come when tlslens stopped waiting for them, "bytes"
    (--max-buffer) or "segments" (the bound that ended the wait)."""

    side: int
    offset: int
    length: int
    lost: bool
    given_up: Literal["bytes", "segments"] | None

@final
class StreamConflict:
    """The first later TCP copy of ``side``'s bytes that differs from the first."""

    side: int
    offset: int
    length: int

@final
class PlaintextAnswer:
    """The other end opened TLS and this side answered in text: its first line."""

    side: int
    offset: int
    line: bytes

@final
class SideEnd:
    """At the end of a TLS connection, per side: record layer totals, TCP conflicts."""

    side: int
    bytes: int
    records: int
    conflicts: int

SessionEvent = (
    TlsStarted
    | PreludeChunk
    | TlsRecord
    | SkippedBody
    | RecordBadHeader
    | RecordResync
    | RecordTruncated
    | Sslv2ClientHello
    | Sslv2ServerHello
    | Sslv2Record
    | StreamGap
    | StreamConflict
    | StreamLate
    | PlaintextAnswer
    | SideEnd
)

@final
class Session:
    """One connection's mode machine, sans-IO: stream events in, record-level events out.

    A bug in it raises RuntimeError."""

    def __init__(
        self,
        *,
        client_side: int | None,
        mid_stream: bool,
        ports: tuple[int, int],
        skip_application_data: bool,
    ) -> None: ...
    def data(self, side: int, offset: int, data: bytes) -> list[SessionEvent]: ...
    def gap(self, side: int, offset: int, length: int) -> list[SessionEvent]: ...
    def conflict(self, side: int, offset: int, length: int) -> list[SessionEvent]: ...
    def finish(self) -> list[SessionEvent]: ...
    def abandon(self) -> None: ...
    def may_give_up(self, side: int) -> bool: ...
    @property
    def ignored(self) -> bool: ...

# -- the content layer (crates/tlslens-py/src/content.rs) ----------------------------------

@final
class ContentMessage:
    """A handshake message the model reads (hellos, certificates, what a signature is
    checked in, tickets...), read with the context negotiated before it (``version``,
    ``kx``, ``auth``): ``event``, its timeline step made by the core (added to the timeline
    by the caller; a CompressedCertificate's replaced once opened, ``with_message``),
    ``raw`` its bytes with the header. ``signed``: a CertificateVerify's signed input as far
    as known (TLS 1.3: the transcript hash; before: the handshake messages so far). The
    other messages, and unreadable ones, cross only as their ``HandshakeEvent``; the
    findings of each (malformed, a crowded hello) come before it as ``ContentFinding``
    (a CompressedCertificate's malformed finding is told by Python once it opened it, after
    it). ``verified``: a ServerKeyExchange's or CertificateVerify's signature that verified
    in the core with its side's leaf, by the key ``tls.proof.verify`` caches its verdicts
    with (the leaf's SHA-256 in hex, the scheme, the SHA-256 of the signature and of the
    bytes signed); None otherwise (not checked there, or not verifying there)."""

    side: int
    offset: int
    msg_type: int
    event: HandshakeEvent
    raw: bytes
    version: int | None
    kx: str | None
    auth: str | None
    signed: bytes | None
    verified: tuple[str, int, bytes, bytes] | None

@final
class ContentPlaintext:
    """Decrypted application data of ``side`` for the plaintext sink: each record's bytes,
    in order (told before the run they belong to)."""

    side: int
    chunks: list[bytes]

@final
class ContentFinding:
    """Something wrong in the content, where it is (``frame``: the one it was seen in)."""

    frame: int
    side: int | None
    layer: str
    offset: int | None
    message: str

@final
class ContentLack:
    """The handshake of ``side`` lacks a message as tlslens read it (skipped past
    --max-message, or lost in a gap of the capture): ``msg_type`` when known, and ``text``,
    what is missing and why, as a clause of a reason."""

    frame: int
    side: int
    msg_type: int | None
    text: str

# -- the timeline (crates/tlslens-py/src/timeline.rs, timeline_data.rs) --------------------
# Made by the core's content layer for what it reads, and by Python (DTLS, QUIC, handshake
# messages) with the same classes. Every constructor takes the base fields first, in order.

class TimelineEvent:
    """Where one event of the timeline was seen; a subclass says what it was. ``offset``: in
    the direction's stream (TCP), datagram (DTLS) or packet (QUIC); ``last_frame``: of the
    last record of a run (``frame`` for one record); ``records``: of a run, 1 for others."""

    kind: ClassVar[str]
    __match_args__: ClassVar[tuple[str, ...]]
    @property
    def frame(self) -> int: ...
    @property
    def ts_ns(self) -> int: ...
    @property
    def direction(self) -> str: ...
    @property
    def offset(self) -> int: ...
    length: int
    last_frame: int
    records: int

@final
class HandshakeEvent(TimelineEvent):
    """A handshake message read (an unreadable one as ``OpaqueMessage``); ``raw``: its
    bytes, header included (``--records``); ``sslv2``: an SSL 2.0-format ClientHello;
    ``fragments``: DTLS, the fragments it was reassembled from, when more than one."""

    def __init__(
        self,
        frame: int,
        ts_ns: int,
        direction: str,
        offset: int,
        length: int,
        last_frame: int,
        records: int,
        message: HandshakeMessage,
        decrypted: bool = False,
        raw: bytes | None = None,
        sslv2: bool = False,
        fragments: int = 0,
    ) -> None: ...
    @property
    def message(self) -> HandshakeMessage: ...
    @property
    def decrypted(self) -> bool: ...
    @property
    def raw(self) -> bytes | None: ...
    @property
    def sslv2(self) -> bool: ...
    fragments: int
    def with_message(self, message: HandshakeMessage) -> HandshakeEvent:
        """The same event with ``message`` in place of its own (a CompressedCertificate
        once opened)."""

class _BareEvent(TimelineEvent):
    def __init__(
        self,
        frame: int,
        ts_ns: int,
        direction: str,
        offset: int,
        length: int,
        last_frame: int,
        records: int,
    ) -> None: ...

@final
class EncryptedHandshakeEvent(_BareEvent):
    """Handshake bytes no key opened (TLS 1.3's in application data records, the Finished
    after a ChangeCipherSpec, QUIC's Initial and Handshake packets left sealed)."""

@final
class EncryptedAlertEvent(_BareEvent):
    """An alert record no key opened: its level and description are unknown."""

@final
class GapEvent(TimelineEvent):
    """Bytes of the stream missing from the capture; ``given_up``: or not yet come when
    tlslens stopped waiting for them, "bytes" (--max-buffer) or "segments"."""

    def __init__(
        self,
        frame: int,
        ts_ns: int,
        direction: str,
        offset: int,
        length: int,
        last_frame: int,
        records: int,
        given_up: Literal["bytes", "segments"] | None = None,
    ) -> None: ...
    @property
    def given_up(self) -> Literal["bytes", "segments"] | None: ...

@final
class SkippedMessageEvent(TimelineEvent):
    """A handshake message tlslens did not read: its header claims ``claimed`` bytes, past
    --max-message's ``limit`` (``length``: the header and the bytes claimed)."""

    def __init__(
        self,
        frame: int,
        ts_ns: int,
        direction: str,
        offset: int,
        length: int,
        last_frame: int,
        records: int,
        msg_type: int,
        claimed: int,
        limit: int,
    ) -> None: ...
    @property
    def msg_type(self) -> int: ...
    @property
    def claimed(self) -> int: ...
    @property
    def limit(self) -> int: ...

@final
class SSLv2EncryptedEvent(_BareEvent):
    """SSL 2.0 records after CLIENT-MASTER-KEY: all encrypted."""

@final
class ChangeCipherSpecEvent(TimelineEvent):
    """``encrypted``: sent under the keys of a handshake before (renegotiation)."""

    def __init__(
        self,
        frame: int,
        ts_ns: int,
        direction: str,
        offset: int,
        length: int,
        last_frame: int,
        records: int,
        encrypted: bool = False,
    ) -> None: ...
    @property
    def encrypted(self) -> bool: ...

@final
class AlertEvent(TimelineEvent):
    """An alert read: a TLS alert record, or (``quic``) QUIC's CRYPTO_ERROR in a
    CONNECTION_CLOSE (RFC 9001 §4.8)."""

    def __init__(
        self,
        frame: int,
        ts_ns: int,
        direction: str,
        offset: int,
        length: int,
        last_frame: int,
        records: int,
        level: int,
        description: int,
        quic: bool = False,
    ) -> None: ...
    @property
    def level(self) -> int: ...
    @property
    def description(self) -> int: ...
    @property
    def quic(self) -> bool: ...

class DataEvent(TimelineEvent):
    """Application data records in a row, in one direction (QUIC: packets)."""

    def __init__(
        self,
        frame: int,
        ts_ns: int,
        direction: str,
        offset: int,
        length: int,
        last_frame: int,
        records: int,
        decrypted: bool = False,
    ) -> None: ...
    @property
    def decrypted(self) -> bool: ...

@final
class ApplicationDataEvent(DataEvent): ...

@final
class EarlyDataEvent(DataEvent):
    """0-RTT data (TLS 1.3 early data, QUIC's 0-RTT packets)."""

@final
class HeartbeatEvent(TimelineEvent):
    """A heartbeat record (RFC 6520); its type and payload length when it was readable."""

    def __init__(
        self,
        frame: int,
        ts_ns: int,
        direction: str,
        offset: int,
        length: int,
        last_frame: int,
        records: int,
        encrypted: bool = False,
        heartbeat_type: int | None = None,
        payload_length: int | None = None,
    ) -> None: ...
    @property
    def encrypted(self) -> bool: ...
    @property
    def heartbeat_type(self) -> int | None: ...
    @property
    def payload_length(self) -> int | None: ...

@final
class SSLv2MessageEvent(TimelineEvent):
    """An SSL 2.0 message after the ClientHello, in plaintext: ``name`` as the SSL 2.0
    draft writes it (SERVER-HELLO, CLIENT-MASTER-KEY...), ``decoded`` None for a type
    tlslens does not decode."""

    def __init__(
        self,
        frame: int,
        ts_ns: int,
        direction: str,
        offset: int,
        length: int,
        last_frame: int,
        records: int,
        name: str,
        decoded: SSLv2Message | None,
    ) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def decoded(self) -> SSLv2Message | None: ...

@final
class ACKEvent(TimelineEvent):
    """A DTLS 1.3 ACK (RFC 9147 §7): ``acked``, the (epoch, sequence number) of the first
    records it lists; ``count``, how many it lists."""

    def __init__(
        self,
        frame: int,
        ts_ns: int,
        direction: str,
        offset: int,
        length: int,
        last_frame: int,
        records: int,
        acked: tuple[tuple[int, int], ...],
        count: int,
    ) -> None: ...
    @property
    def acked(self) -> tuple[tuple[int, int], ...]: ...
    @property
    def count(self) -> int: ...

MAX_TICKETS_KEPT: int

def resumption_keys(
    conn: Connection,
) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """(presented, issued): the keys of the sessions ``conn``'s first ClientHello presented to
    resume (a session_ticket's, pre_shared_key identities, then the session ID; none unless
    it resumed) and those its server issued (a full handshake's session ID before TLS 1.3,
    then its tickets); each ("ticket" or "session_id", the value, or the first 16 bytes of
    its SHA-256 when longer)."""

def take_events(session: RecordContent, events: Sequence[object]) -> None:
    """A connection's core events (session and content events, in stream order) into the
    model of ``session`` (a ``tls.content.RecordContent``): timeline steps appended or
    folded, sides' ends counted, the hellos, handshakes, certificate request and status,
    tickets (at most ``MAX_TICKETS_KEPT``) and encrypted extensions kept; the rest through
    the session's methods (``_content_message``, ``_content_told``, ``_side_end``,
    ``_keep_record``, ``_other``, ``_new_handshake``), in order. After ``abandon`` only the
    sides' ends are counted."""

def fold_run(timeline: list[TimelineEvent], run: DataEvent) -> bool:
    """``run`` joins the last step of ``timeline`` when the timeline tells them as one (the
    same kind and direction; a decrypted run joins only a decrypted one): that step counts
    its records and bytes and ends at its last frame. Otherwise ``run`` is appended. True:
    joined."""

# What the content layer tells: the timeline events of what it read, handshake messages
# (modelled by the caller), findings and plaintext for a sink.
ContentEvent = TimelineEvent | ContentMessage | ContentFinding | ContentPlaintext | ContentLack

# Per side (0, 1): application data records (TLS 1.3's encrypted handshake ones included),
# their bytes, gaps once TLS started, the bytes missing.
SideCounts: TypeAlias = list[tuple[int, int, int, int]]

@final
class Content:
    """One connection's record content, sans-IO. TCP: a batch of the core session's events
    in (``take``), its records replaced by content events (``TlsRecord``/``SkippedBody``
    also pass through when ``keep_records``, and each handshake message keeps its bytes in
    ``HandshakeEvent.raw``, whatever the transport). DTLS and QUIC, which frame handshake messages
    themselves: ``message``, ``crypto`` and ``skipped``, each answering with the content
    events it caused. ``rsa(encrypted, versions)``: the premaster the caller's RSA keys
    recover, or None: a KeyboardInterrupt it raises is raised by the call that asked, an
    Exception is told as an internal-error ``ContentFinding``. A bug in the content layer
    raises RuntimeError."""

    def __init__(
        self,
        *,
        client_side: int | None,
        max_message: int,
        known_types: list[int],
        keep_plaintext: bool,
        keep_records: bool,
        decryptor: Decryptor | None = None,
        rsa: Callable[[bytes, tuple[int, int]], bytes | None] | None = None,
    ) -> None: ...
    def take(
        self, events: list[SessionEvent], frame: int, ts_ns: int
    ) -> list[SessionEvent | ContentEvent]:
        """One batch of the core session's events, seen at ``frame`` and ``ts_ns``."""
    def message(
        self,
        side: int,
        raw: bytes,
        offset: int,
        decrypted: bool,
        *,
        at: tuple[int, int],
        keeps_transcript: bool = False,
        signed13: bytes | None = None,
        signed_messages: bytes | None = None,
    ) -> list[ContentEvent]:
        """One whole handshake message (its 4-byte TLS header included). A caller that
        keeps the handshake hash itself (``keeps_transcript``, DTLS) gives what a
        CertificateVerify signs: the transcript hash before it (``signed13``) and the
        messages before it as its hash takes them (``signed_messages``)."""
    def crypto(
        self,
        side: int,
        space_name: str,
        data: bytes,
        offset: int,
        decrypted: bool,
        *,
        at: tuple[int, int],
    ) -> list[ContentEvent]:
        """QUIC CRYPTO bytes of one side and packet number space ("initial", "handshake",
        "application"; another raises ValueError) at their stream offset."""
    def crypto_restart(
        self, side: int, space_name: str, decryptor: Decryptor | None = None
    ) -> None:
        """A CRYPTO stream begins again (after a Retry), read with a new ``decryptor``."""
    def crypto_end(self, *, at: tuple[int, int]) -> list[ContentEvent]:
        """Each CRYPTO stream's message still incomplete, as findings."""
    def skipped(
        self, side: int, offset: int, length: int, *, at: tuple[int, int]
    ) -> list[ContentEvent]:
        """An application data record whose body is not read: its step."""
    def sealed_handshake(
        self, side: int, offset: int, length: int, *, at: tuple[int, int]
    ) -> list[ContentEvent]:
        """A record known by its header to be the encrypted handshake (DTLS 1.3's epoch 2),
        unread: its step."""
    @property
    def counts(self) -> SideCounts:
        """What the connection's statistics count of what was told (a batch a failure dropped
        is not counted), per side."""
    @property
    def renegotiation(self) -> bool: ...
    @property
    def abbreviated(self) -> bool: ...
    @property
    def tls13_encrypted(self) -> bool: ...

# -- key schedules and record protection (crates/tlslens-py/src/keys.rs) -------------------
# Hashes are named as the cipher suite registry names them: MD5, SHA (SHA-1), SHA1, SHA224,
# SHA256, SHA384, SHA512, SM3; another name raises ValueError.

def tls_prf(
    version: int, prf_hash: str, secret: bytes, label: bytes, seed: bytes, length: int
) -> bytes:
    """The PRF of ``version``: MD5 xor SHA-1 before TLS 1.2, the suite's hash after."""

def ssl3_prf(secret: bytes, seed: bytes, length: int) -> bytes:
    """SSL 3.0's key derivation (RFC 6101 §6.1)."""

def key_block(
    version: int,
    prf_hash: str,
    master: bytes,
    client_random: bytes,
    server_random: bytes,
    mac_len: int,
    key_len: int,
    iv_len: int,
    export_lens: tuple[int, int] | None = None,
) -> tuple[bytes, bytes, bytes, bytes, bytes, bytes]:
    """RFC 5246 §6.3: (client MAC key, server MAC key, client key, server key, client IV,
    server IV); export suites' keys and IVs stretched to ``export_lens`` (key, IV bytes)."""

def hkdf_extract(name: str, salt: bytes, ikm: bytes) -> bytes: ...
def hkdf_expand_label(name: str, secret: bytes, label: bytes, context: bytes, length: int) -> bytes:
    """RFC 8446 §7.1. Raises DecryptError for a secret shorter than the hash."""

def derive_secret(name: str, secret: bytes, label: bytes, messages: bytes) -> bytes: ...
def traffic_keys(name: str, secret: bytes, key_len: int, iv_len: int) -> tuple[bytes, bytes]:
    """RFC 8446 §7.3: (write key, write IV) of a traffic secret."""

@final
class CipherSpec:
    """What the records of a cipher suite need."""

    @property
    def cipher(self) -> str: ...
    @property
    def kind(self) -> str:
        """``aead``, ``block``, ``stream`` or ``null``."""
    @property
    def key_len(self) -> int: ...
    @property
    def iv_len(self) -> int:
        """Key block IV bytes (TLS 1.2 AEAD salt, CBC IV) or the TLS 1.3 nonce."""
    @property
    def block_size(self) -> int: ...
    @property
    def tag_len(self) -> int: ...
    @property
    def mac_len(self) -> int: ...
    @property
    def export_key_len(self) -> int:
        """Export suites: the length the 5-byte secret key is stretched to."""

def cipher_spec(name: str, cipher: str, mac: str, tls13: bool, version: int) -> CipherSpec:
    """Raises UnsupportedCipherError, saying why the suite's records cannot be opened."""

@final
class RecordProtection:
    """One direction's record protection: keys, IV chaining, sequence number."""

    def __init__(
        self,
        spec: CipherSpec,
        *,
        version: int,
        key: bytes,
        iv: bytes,
        mac_key: bytes = b"",
        encrypt_then_mac: bool = False,
        tls13: bool = False,
    ) -> None: ...
    def open_record(self, ctype: int, version: int, body: bytes) -> tuple[int, bytes]:
        """(real content type, plaintext); raises DecryptError when it does not authenticate,
        and what the SEED-CBC decryption (``cryptography``'s, in Python) raised as it came."""
    @property
    def spec(self) -> CipherSpec: ...
    @property
    def seq(self) -> int:
        """The sequence number of the next record."""
    @seq.setter
    def seq(self, seq: int) -> None: ...

# -- key log, session cache, one connection's decryptor (crates/tlslens-py/src/keylog.rs,
# decrypt.rs) ----------------------------------------------------------------------------

@final
class KeyLogProblem:
    """A key log line that could not be used: where, and why."""

    @property
    def source(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def message(self) -> str: ...

@final
class KeyLog:
    """NSS key log lines (SSLKEYLOGFILE), parsed by the core."""

    MAX_PROBLEMS_KEPT: ClassVar[int]
    def __init__(self) -> None: ...
    def add_text(self, text: str, source: str, origin: str = "keylog") -> int:
        """Add every usable line of ``text``; returns how many were used."""
    def copy(self) -> KeyLog:
        """A key log of its own holding these secrets (copied when either adds some)."""
    def get(self, label: str, client_random: bytes) -> bytes | None: ...
    def knows(self, client_random: bytes) -> bool:
        """Whether any line of the key log is for this client random."""
    def origin(self, label: str, client_random: bytes) -> str:
        """Where a secret came from: "keylog", "pcapng", "scanner"..."""
    def holds_nothing_for(self, what: str) -> str:
        """Why nothing was found for ``what``, naming what was searched: the key log given,
        the capture's Decryption Secrets Blocks, both, or nothing usable."""
    def __len__(self) -> int: ...
    @property
    def secret_count(self) -> int:
        """Secrets held by label and client random (RSA lines not counted)."""
    @property
    def problems(self) -> list[KeyLogProblem]: ...
    @property
    def problem_count(self) -> int:
        """Every bad line, kept in ``problems`` or not."""
    @property
    def secrets(self) -> dict[tuple[str, bytes], bytes]:
        """{(label, client random): secret}, built on each call."""
    @property
    def rsa_premasters(self) -> dict[bytes, bytes]:
        """{first 8 bytes of the encrypted premaster: premaster}, built on each call."""

@final
class SessionCache:
    """Master secrets of the full handshakes read, by session ID and ticket (bounded)."""

    MAX_SESSIONS: ClassVar[int]
    def __init__(self) -> None: ...
    def __len__(self) -> int: ...

@final
class Derivation:
    """The keys one handshake derived, in the order derived, and the secret they came from."""

    @property
    def values(self) -> list[tuple[str, bytes]]: ...
    @property
    def source(self) -> str | None: ...

@final
class DecryptionResult:
    """What one direction's records gave."""

    @property
    def records_decrypted(self) -> int: ...
    @property
    def records_failed_integrity(self) -> int: ...
    @property
    def plaintext_bytes(self) -> int: ...
    @property
    def plaintext_sha256(self) -> str | None:
        """None: no application data plaintext in this direction, or lost (the core's
        hashing thread ended early, a bug): see ``lost_digests``."""
    @property
    def finished_verified(self) -> bool | None: ...
    @property
    def finished_unchecked(self) -> str | None:
        """Why the Finished was not checked (a message of the handshake missing), if not."""
    @property
    def finished_handshake(self) -> int | None:
        """Which handshake the verdict is from (0 the first, then each renegotiation): the
        worst of ``finished_each``."""
    @property
    def finished_each(self) -> list[tuple[int, bool | None, str | None]]:
        """Each handshake's verdict on this direction's Finished: (handshake, verified, why
        not checked)."""

@final
class Decryptor:
    """One connection's decryption (crates/tlslens-core/src/decrypt), fed in order."""

    def __init__(self, store: KeyStore) -> None: ...
    def on_sslv2_client_hello(self, record: bytes) -> None: ...
    def on_change_cipher_spec(self, direction_name: str) -> None: ...
    def open(
        self, direction_name: str, ctype: int, version: int, body: bytes
    ) -> tuple[int, bytes] | str | None:
        """(real type, plaintext), None (no key for it) or why it does not open (also the
        fault that stopped the decryption, when the SEED-CBC cipher failed on it)."""
    def application_data(self, direction_name: str, plaintext: bytes) -> None:
        """Application data opened elsewhere (QUIC): counted and hashed."""
    def count_opened(self, part: str, direction_name: str, packets: int = 1) -> None:
        """``packets`` opened elsewhere (QUIC) counted as records of ``part``."""
    def transport_client_random(self, random: bytes) -> None:
        """The ClientHello's random as QUIC's connection table read it, told before the
        ClientHello's bytes: the secrets are looked up by it should the content layer skip
        that ClientHello (past --max-message)."""
    def count_failed(self, direction_name: str, packets: int = 1) -> None:
        """``packets`` opened elsewhere (QUIC) with the key log's secrets that did not
        authenticate: integrity failures."""
    def transcript_hash(self) -> bytes: ...
    def transcript_complete(self) -> bool: ...
    def missing_secrets(self, failed_in_handshake: bool = False) -> list[str]: ...
    def lost_digests(self) -> list[tuple[str, str]]:
        """(direction, why) of each direction whose application data digest was lost (the
        core's hashing thread ended early, a bug): a finding of the connection."""
    def to_json(
        self,
        failed_in_handshake: bool = False,
        reveal_keys: bool = False,
        stopped: str | None = None,
    ) -> dict[str, Any]:
        """The ``decryption`` object of ``show --json``, as the row writer writes it:
        ``failed_in_handshake`` is the outcome's, ``reveal_keys`` adds ``derived`` (every
        secret, key and IV of each handshake that derived any), ``stopped`` the connection's
        (``Connection.stopped``)."""
    @property
    def store(self) -> KeyStore: ...
    @property
    def status(self) -> str: ...
    @property
    def source(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def derivations(self) -> list[Derivation]: ...
    @property
    def derivation(self) -> list[tuple[str, bytes]]: ...
    @property
    def results(self) -> dict[str, DecryptionResult]: ...
    @property
    def master_secret(self) -> bytes | None: ...
    def key_log_knows(self) -> bool | None: ...
    @property
    def client_random(self) -> bytes: ...
    @property
    def version(self) -> int | None: ...
    @property
    def tls13(self) -> bool: ...
    @property
    def early_seen(self) -> bool: ...
    @property
    def early_active(self) -> bool: ...

# -- extension bodies (crates/tlslens-py/src/extensions.rs) --------------------------------
# One frozen class per decoded shape; fields are raw values (codes as ints, opaque fields as
# bytes), names come from the registries at display time.

@final
class Acknowledged:
    """An empty server_name or status_request: the server's acknowledgement."""

@final
class Empty:
    """A body that must be empty, and is."""

@final
class ServerName:
    """One ServerNameList entry; non-ASCII bytes of ``name`` are U+FFFD."""

    type: Final[int]
    name: Final[str]

@final
class ServerNameList:
    names: Final[list[ServerName]]

@final
class StatusRequest:
    status_type: Final[int]
    responder_ids_length: Final[int]
    request_extensions_length: Final[int]

@final
class StapledStatus:
    """status_request in a TLS 1.3 CertificateEntry: the stapled OCSP response."""

    status_type: Final[int]
    ocsp_response: Final[bytes]

@final
class SupportedGroups:
    groups: Final[list[int]]

@final
class ECPointFormats:
    formats: Final[list[int]]

@final
class SignatureSchemes:
    """signature_algorithms, signature_algorithms_cert, delegated_credential (ClientHello)."""

    schemes: Final[list[int]]

@final
class UseSRTP:
    profiles: Final[list[int]]
    mki: Final[bytes]

@final
class Heartbeat:
    mode: Final[int]

@final
class ProtocolNameList:
    """ALPN, application_settings (ClientHello), NPN (ServerHello); non-ASCII bytes U+FFFD."""

    protocols: Final[list[str]]

@final
class SCTRequest:
    """An empty signed_certificate_timestamp: the client asks for SCTs."""

@final
class SignedCertificateTimestamp:
    version: Final[int]
    log_id: Final[bytes]
    timestamp_ms: Final[int]

@final
class SignedCertificateTimestampList:
    scts: Final[list[SignedCertificateTimestamp]]

@final
class CertificateTypeList:
    types: Final[list[int]]

@final
class CertificateType:
    type: Final[int]

@final
class Padding:
    length: Final[int]
    all_zero: Final[bool]

@final
class CompressCertificate:
    algorithms: Final[list[int]]

@final
class RecordSizeLimit:
    limit: Final[int]

@final
class MaxFragmentLength:
    code: Final[int]
    length: Final[int | None]

@final
class SessionTicket:
    ticket_length: Final[int]

@final
class PSKIdentity:
    identity: Final[bytes]
    identity_length: Final[int]
    obfuscated_ticket_age: Final[int]

@final
class OfferedPSKs:
    identities: Final[list[PSKIdentity]]
    binder_lengths: Final[list[int]]

@final
class SelectedIdentity:
    selected_identity: Final[int]

@final
class EarlyDataIndication:
    max_early_data_size: Final[int]

@final
class SupportedVersions:
    versions: Final[list[int]]

@final
class SelectedVersion:
    selected_version: Final[int]

@final
class Cookie:
    cookie_length: Final[int]

@final
class PSKKeyExchangeModes:
    modes: Final[list[int]]

@final
class CertificateAuthorities:
    """DER DistinguishedNames."""

    authorities: Final[list[bytes]]

@final
class KeyShareEntry:
    group: Final[int]
    key_length: Final[int]
    key_exchange: Final[bytes]

@final
class KeyShareList:
    """A ClientHello's client_shares, or a ServerHello's one server_share."""

    shares: Final[list[KeyShareEntry]]

@final
class SelectedGroup:
    """key_share in a HelloRetryRequest: the group the server wants."""

    selected_group: Final[int]

@final
class RenegotiationInfo:
    renegotiated_connection: Final[bytes]

@final
class ECHOuter:
    ech_type: Final[str]
    kdf_id: Final[int]
    aead_id: Final[int]
    config_id: Final[int]
    enc_length: Final[int]
    payload_length: Final[int]

@final
class ECHInner:
    ech_type: Final[str]

@final
class ECHConfirmation:
    confirmation: Final[bytes]

@final
class ECHRetryConfigs:
    retry_configs_length: Final[int]

@final
class ApplicationSettings:
    settings_length: Final[int]

@final
class DelegatedCredential:
    length: Final[int]

@final
class PreferredAddress:
    ipv4_address: Final[bytes]
    ipv4_port: Final[int]
    ipv6_address: Final[bytes]
    ipv6_port: Final[int]
    connection_id: Final[bytes]
    stateless_reset_token: Final[bytes]

@final
class VersionInformation:
    """RFC 9368 §3's Version Information (transport parameter 0x11)."""

    chosen_version: Final[int]
    available_versions: Final[list[int]]

@final
class TransportParameter:
    """``name`` per the registry (RFC 9000 §18.2, RFC 9221, RFC 9287, RFC 9368; None for
    unknown and GREASE ids), ``value`` the raw bytes, ``integer`` for varint-valued
    parameters."""

    id: Final[int]
    name: Final[str | None]
    value: Final[bytes]
    integer: Final[int | None]
    preferred_address: Final[PreferredAddress | None]
    version_information: Final[VersionInformation | None]

@final
class TransportParameters:
    parameters: Final[list[TransportParameter]]

DecodedExtension: TypeAlias = (
    Acknowledged
    | Empty
    | ServerNameList
    | StatusRequest
    | StapledStatus
    | SupportedGroups
    | ECPointFormats
    | SignatureSchemes
    | UseSRTP
    | Heartbeat
    | ProtocolNameList
    | SCTRequest
    | SignedCertificateTimestampList
    | CertificateTypeList
    | CertificateType
    | Padding
    | CompressCertificate
    | RecordSizeLimit
    | MaxFragmentLength
    | SessionTicket
    | OfferedPSKs
    | SelectedIdentity
    | EarlyDataIndication
    | SupportedVersions
    | SelectedVersion
    | Cookie
    | PSKKeyExchangeModes
    | CertificateAuthorities
    | KeyShareList
    | SelectedGroup
    | RenegotiationInfo
    | ECHOuter
    | ECHInner
    | ECHConfirmation
    | ECHRetryConfigs
    | ApplicationSettings
    | DelegatedCredential
    | TransportParameters
)

def decode_extension(ext_type: int, data: bytes, message: str) -> DecodedExtension | None:
    """A known extension's body as it appears in ``message`` ("client_hello",
    "server_hello", "hello_retry_request", "encrypted_extensions", "certificate",
    "certificate_request", "new_session_ticket"); None for a code kept raw. Raises
    DecodeError on a malformed body, ValueError on an unknown message name."""

def first_alpn(data: bytes) -> bytes | None:
    """The first protocol an ALPN body names (None when it names none), even where the
    rest of the body is broken."""

# -- the handshake layer (crates/tlslens-core/src/handshake/) --------------------------------

MAX_HANDSHAKE_MESSAGE: int

@final
class Extension:
    """One extension of a message: its code point and its body, undecoded."""

    def __init__(self, type: int, data: bytes) -> None: ...
    @property
    def type(self) -> int: ...
    @property
    def data(self) -> bytes: ...
    def __hash__(self) -> int: ...

class HandshakeMessage:
    @property
    def msg_type(self) -> int: ...
    @property
    def malformed(self) -> str | None:
        """Why parts of the message could not be read (what could is kept)."""

@final
class ClientHello(HandshakeMessage):
    @property
    def legacy_version(self) -> int: ...
    @property
    def random(self) -> bytes: ...
    @property
    def legacy_session_id(self) -> bytes: ...
    @property
    def cipher_suites(self) -> tuple[int, ...]:
        """16-bit suites; an SSLv2-format hello's 3-byte cipher kinds keep their 24 bits."""
    @property
    def legacy_compression_methods(self) -> bytes: ...
    @property
    def extensions(self) -> tuple[Extension, ...]: ...
    @property
    def sslv2(self) -> bool:
        """Sent in the SSLv2-compatible format (RFC 5246 Appendix E.2)."""
    def extension(self, ext_type: int, /) -> Extension | None:
        """The first extension of code ``ext_type``, or None: found without a walk."""
    def decoded(self, ext_type: int, /) -> DecodedExtension | None:
        """The first ``ext_type`` extension decoded as this message's (once); None when it is
        absent, kept raw (unknown, GREASE) or malformed."""
    @property
    def server_name(self) -> str | None:
        """The host_name of server_name (RFC 6066 §3: the first entry of type 0), or None."""

@final
class ServerHello(HandshakeMessage):
    @property
    def legacy_version(self) -> int: ...
    @property
    def random(self) -> bytes: ...
    @property
    def legacy_session_id(self) -> bytes: ...
    @property
    def cipher_suite(self) -> int: ...
    @property
    def legacy_compression_method(self) -> int: ...
    @property
    def extensions(self) -> tuple[Extension, ...]: ...
    @property
    def is_hello_retry_request(self) -> bool: ...
    @property
    def selected_version(self) -> int:
        """The version it selects: supported_versions' (read as a ServerHello's), else the
        legacy one."""
    @property
    def key_share_group(self) -> int | None:
        """The group of its key_share (or the drafts' code 40): a ServerHello's one share, a
        HelloRetryRequest's selected group; None without a readable one."""
    def extension(self, ext_type: int, /) -> Extension | None:
        """The first extension of code ``ext_type``, or None: found without a walk."""
    def decoded(self, ext_type: int, /) -> DecodedExtension | None:
        """The first ``ext_type`` extension decoded as this message's (once); None when it is
        absent, kept raw (unknown, GREASE) or malformed."""

@final
class NewSessionTicket(HandshakeMessage):
    @property
    def ticket_lifetime(self) -> int: ...
    @property
    def ticket_age_add(self) -> int | None: ...
    @property
    def ticket_nonce(self) -> bytes | None: ...
    @property
    def ticket(self) -> bytes: ...
    @property
    def extensions(self) -> tuple[Extension, ...]: ...
    def extension(self, ext_type: int, /) -> Extension | None:
        """The first extension of code ``ext_type``, or None: found without a walk."""
    def decoded(self, ext_type: int, /) -> DecodedExtension | None:
        """The first ``ext_type`` extension decoded as this message's (once); None when it is
        absent, kept raw (unknown, GREASE) or malformed."""

@final
class EncryptedExtensions(HandshakeMessage):
    @property
    def extensions(self) -> tuple[Extension, ...]: ...
    def extension(self, ext_type: int, /) -> Extension | None:
        """The first extension of code ``ext_type``, or None: found without a walk."""
    def decoded(self, ext_type: int, /) -> DecodedExtension | None:
        """The first ``ext_type`` extension decoded as this message's (once); None when it is
        absent, kept raw (unknown, GREASE) or malformed."""

@final
class CertificateEntry:
    @property
    def cert_data(self) -> bytes: ...
    @property
    def extensions(self) -> tuple[Extension, ...]: ...
    def extension(self, ext_type: int, /) -> Extension | None:
        """The first extension of code ``ext_type``, or None: found without a walk."""
    def decoded(self, ext_type: int, /) -> DecodedExtension | None:
        """The first ``ext_type`` extension decoded as this message's (once); None when it is
        absent, kept raw (unknown, GREASE) or malformed."""

@final
class Certificate(HandshakeMessage):
    @property
    def certificate_request_context(self) -> bytes | None:
        """TLS 1.3 only."""
    @property
    def certificate_list(self) -> tuple[CertificateEntry, ...]: ...

class ServerKeyExchangeParams(TypedDict, total=False):
    """What a ServerKeyExchange carries, by key exchange (the RFCs' names)."""

    psk_identity_hint: str
    curve_type: int
    named_curve: int
    public_key: bytes
    dh_p: bytes
    dh_g: bytes
    dh_Ys: bytes
    rsa_modulus: bytes
    rsa_exponent: bytes
    srp_N: bytes
    srp_g: bytes
    srp_s: bytes
    srp_B: bytes
    raw: bytes

class ClientKeyExchangeParams(TypedDict, total=False):
    psk_identity: str
    encrypted_pre_master_secret_length: int
    ecdh_Yc_length: int
    dh_Yc_length: int

@final
class ServerKeyExchange(HandshakeMessage):
    @property
    def kx(self) -> str | None:
        """The key exchange this was read as."""
    @property
    def params(self) -> ServerKeyExchangeParams: ...
    @property
    def signature_scheme(self) -> int | None: ...
    @property
    def signature(self) -> bytes | None: ...

@final
class CertificateRequest(HandshakeMessage):
    @property
    def certificate_request_context(self) -> bytes | None: ...
    @property
    def certificate_types(self) -> bytes: ...
    @property
    def signature_schemes(self) -> tuple[int, ...]: ...
    @property
    def certificate_authorities(self) -> tuple[bytes, ...]: ...
    @property
    def extensions(self) -> tuple[Extension, ...]: ...
    def extension(self, ext_type: int, /) -> Extension | None:
        """The first extension of code ``ext_type``, or None: found without a walk."""
    def decoded(self, ext_type: int, /) -> DecodedExtension | None:
        """The first ``ext_type`` extension decoded as this message's (once); None when it is
        absent, kept raw (unknown, GREASE) or malformed."""

@final
class CertificateVerify(HandshakeMessage):
    @property
    def signature_scheme(self) -> int | None: ...
    @property
    def signature(self) -> bytes: ...

@final
class ClientKeyExchange(HandshakeMessage):
    @property
    def kx(self) -> str | None: ...
    @property
    def params(self) -> ClientKeyExchangeParams: ...
    @property
    def exchange_keys(self) -> bytes: ...

@final
class Finished(HandshakeMessage):
    @property
    def verify_data(self) -> bytes: ...

@final
class CertificateStatus(HandshakeMessage):
    @property
    def status_type(self) -> int: ...
    @property
    def response(self) -> bytes: ...

@final
class KeyUpdate(HandshakeMessage):
    @property
    def request_update(self) -> int: ...

@final
class CompressedCertificate(HandshakeMessage):
    @property
    def algorithm(self) -> int: ...
    @property
    def uncompressed_length(self) -> int: ...
    @property
    def compressed_certificate_message(self) -> bytes: ...
    @property
    def certificate(self) -> Certificate | None:
        """The Certificate inside, once opened (handshake/compression.py)."""
    def with_certificate(self, certificate: Certificate) -> CompressedCertificate: ...
    def with_malformed(self, malformed: str) -> CompressedCertificate: ...

@final
class OpaqueMessage(HandshakeMessage):
    """Empty messages (HelloRequest, ServerHelloDone, EndOfEarlyData) and ones kept raw."""

    def __init__(self, *, msg_type: int, body: bytes, malformed: str | None = None) -> None: ...
    @property
    def body(self) -> bytes: ...

def parse_message(
    msg_type: int,
    body: bytes,
    version: int | None = None,
    kx: str | None = None,
    auth: str | None = None,
) -> HandshakeMessage:
    """One handshake message body (without its header), with the negotiated version and the
    suite's key exchange and authentication; raises DecodeError on a malformed body."""

def is_tls13_version(value: int) -> bool:
    """RFC 8446's 0x0304 and every pre-standard TLS 1.3 code point."""

def parse_sslv2_client_hello(record: bytes) -> ClientHello:
    """An SSLv2-format ClientHello, its record header included; raises DecodeError."""

# -- JA3, JA3S and JA4 (crates/tlslens-core/src/fingerprint/) ---------------------------------

def ja3(hello: ClientHello) -> str | None:
    """JA3 (MD5 hex) of a ClientHello, made once and kept with it; None for an
    SSLv2-format hello (tshark gives none)."""

def ja3_string(hello: ClientHello) -> str | None:
    """JA3's string before hashing (tshark's ja3_full); None for an SSLv2-format hello."""

def ja4(hello: ClientHello, transport: Literal["tcp", "quic", "dtls"] = "tcp") -> str:
    """FoxIO's JA4 of a ClientHello carried over ``transport`` (its first letter: "t", "q"
    or "d"), made once and kept with the hello."""

def ja4_r(hello: ClientHello, transport: Literal["tcp", "quic", "dtls"] = "tcp") -> str:
    """JA4_r: JA4's parts before hashing, "a_suites_extensions[_signature algorithms]"."""

def ja3s(hello: ServerHello) -> str:
    """JA3S (MD5 hex) of a ServerHello or HelloRetryRequest, made once and kept with it."""

def ja3s_string(hello: ServerHello) -> str:
    """JA3S's string before hashing (tshark's ja3s_full)."""

@final
class SSLv2ServerHello:
    @property
    def session_id_hit(self) -> bool: ...
    @property
    def certificate_type(self) -> int:
        """1: X.509"""
    @property
    def server_version(self) -> int: ...
    @property
    def certificate(self) -> bytes: ...
    @property
    def cipher_specs(self) -> tuple[int, ...]: ...
    @property
    def connection_id(self) -> bytes: ...

@final
class SSLv2ClientMasterKey:
    @property
    def cipher_kind(self) -> int: ...
    @property
    def clear_key(self) -> bytes: ...
    @property
    def encrypted_key(self) -> bytes: ...
    @property
    def key_arg(self) -> bytes: ...

@final
class SSLv2Error:
    @property
    def error_code(self) -> int: ...

def sslv2_message(body: bytes) -> SSLv2ServerHello | SSLv2ClientMasterKey | SSLv2Error | None:
    """The plaintext SSL 2.0 message of a record body (None: a type kept undecoded); the
    DecodeError it raises says what broke, not which message."""

@final
class DtlsKeys:
    """The key log's DTLS secrets by client random and the suites they may be used with."""

    def __init__(self, keylog: KeyLog, suites: list[tuple[int, CipherSpec, str]]) -> None:
        """The DTLS secrets of ``keylog``, each with where it came from ("keylog", "pcapng"...:
        the source of the keys derived from it); ``suites``: (code point, its record layout,
        its PRF/HKDF hash name)."""

@final
class DtlsEvent:
    """One event of a DTLS association; ``kind`` names it and which fields it fills:
    "record", "message" (``data``: the message in TLS form, ``fragments``: how many it was
    reassembled from), "retransmission",
    "client_hello" (``data``: the message as TLS, without the ``cookie``; ``epoch``: its
    records', past 0 for a renegotiation's),
    "hello_verify_request", "negotiated" (``client_cid``, ``server_cid``: the connection
    IDs the ClientHello and the ServerHello asked for, None without the extension),
    "change_cipher_spec", "alert",
    "application_data" (``data``: the plaintext), "transcript" (told before a
    CertificateVerify or Finished ``msg_type``: ``data``, what a CertificateVerify signs, DTLS
    1.3's transcript hash of the messages before it or, before DTLS 1.3, those messages in
    their DTLS form (empty before a DTLS 1.0/1.2 Finished); ``verified``, a Finished's check
    with the key log's secret, the handshake traffic secret or the master secret, None
    without one), "ack", "lacking" (a message of the handshake tlslens does not have, the
    reassembly having refused it or the capture missing fragments of it: ``message_seq``,
    ``msg_type``, ``text``: what and why, as a clause of a reason), "skipped_message" (a
    message refused past --max-message: ``offset``, ``msg_type``, ``length``: the bytes it
    claims, ``limit``), "hello_random"
    (``data``: the random of a ClientHello refused for its length, read from its first
    fragment), "finding" (``offset``, ``text``). ``from_client`` is None for the hellos'
    events."""

    kind: Literal[
        "record",
        "message",
        "retransmission",
        "client_hello",
        "hello_verify_request",
        "negotiated",
        "change_cipher_spec",
        "alert",
        "application_data",
        "transcript",
        "ack",
        "lacking",
        "skipped_message",
        "hello_random",
        "finding",
    ]
    frame: int
    from_client: bool | None
    offset: int
    content_type: int | None
    version: int | None
    epoch: int
    seq: int
    cid: bytes
    length: int
    unified: bool
    decrypted: bool
    inner_type: int | None
    message_seq: int
    msg_type: int
    data: bytes | None
    cookie: bytes | None
    suite: int | None
    level: int
    description: int
    acks: list[tuple[int, int]]
    text: str
    fragments: int
    verified: bool | None
    limit: int
    client_cid: bytes | None
    server_cid: bytes | None

@final
class DtlsPool:
    """What the incomplete handshake messages of a capture's DTLS associations hold, and
    its bound (``max`` bytes, 16 MiB by default): one per capture pass, shared."""

    def __init__(self, max: int = ...) -> None: ...
    @property
    def held(self) -> int: ...

@final
class DtlsAssociation:
    """One DTLS association (the core's ``dtls::Association``): datagrams in, events out;
    ``pool`` shared with the capture's other associations (alone: one of its own)."""

    def __init__(
        self,
        keys: DtlsKeys | None = None,
        max_message: int | None = None,
        pool: DtlsPool | None = None,
    ) -> None: ...
    def feed(self, frame: int, side: int, payload: bytes) -> list[DtlsEvent]:
        """A datagram from ``side`` (0: the flow's first sender). Raises ValueError after a
        bug in the core, naming it; nothing more is read then."""
    def finish(self, frame: int) -> list[DtlsEvent]:
        """The end: messages left incomplete become findings."""
    @property
    def derivations(self) -> list[Derivation]:
        """With a key log, one per handshake (the first, then each renegotiation; the first
        16 kept): the secrets, keys and IVs derived, as a TCP ``Decryptor``'s."""

JSON_MAX_DEPTH: Final[int]

def forget_certificate_texts() -> None:
    """Forget the row writer's certificate texts, and the certificates they hold
    (``parse_certificate``'s cache let them go)."""

def connection_line(
    conn: Connection,
    parts: dict[str, Any],
    *,
    reveal_keys: bool = False,
) -> str:
    """The line of ``show --json`` for ``conn`` (a ``model.Connection``), byte for byte as
    ``json.dumps`` writes its row: the core writes what the connection's hellos, timeline,
    stats and records show, how its handshake ended (``connection_outcome``), with the
    registry's names, and its certificates (each ``to_json``'s text, made once per
    certificate object and kept), and the verdicts, signature checks and findings Python
    made (as ``validation_json``, ``signature_json`` and ``finding_json`` write them);
    ``parts`` gives the values Python owns ("schema_version", and "dtls" and "quic" when
    the connection has them), written as they are. "decryption" is written as
    given when there; without it the row writes the connection's ``Decryptor`` (``to_json``
    of it, ``failed_in_handshake`` from the outcome, with ``reveal_keys``), or
    ``decryption_not_attempted()`` when the connection has none. Raises KeyError for a
    missing part, what ``json_line`` raises for a value json cannot write, and RuntimeError
    naming a bug of the core's (a panic)."""

def connection_line_bytes(
    conn: Connection,
    parts: dict[str, Any],
    *,
    reveal_keys: bool = False,
) -> bytes:
    """``connection_line``'s line and its newline, as ASCII bytes (what ``json.dumps``
    writes, ensure_ascii as it is by default), for a binary stream."""

def connection_row(
    conn: Connection,
    parts: dict[str, Any],
    *,
    reveal_keys: bool = False,
) -> dict[str, Any]:
    """The same row as ``connection_line``'s, as Python values (dicts in the line's key
    order, lists, str, int, float, bool, None): ``json.dumps`` of it is the line. The parts
    are in it as the objects given, and each certificate as a ``to_json`` of its own."""

def decryption_not_attempted() -> dict[str, Any]:
    """The ``decryption`` object of a connection read without secrets, as the row writes it."""

def finding_json(finding: Finding) -> dict[str, Any]:
    """``Finding.to_json``: a problem as the row writes it ("code" only when it has one)."""

def signature_json(check: SignatureCheck) -> dict[str, Any]:
    """``SignatureCheck.to_json``: a handshake signature's check as the row writes it."""

def validation_json(verdict: Validation) -> dict[str, Any]:
    """``Validation.to_json``: a chain's verdict as the row writes it (its OCSP check and
    online revocation answers as their own ``to_json`` give them)."""

def connection_version(conn: Connection) -> int | None:
    """The version the server chose; 0x0002 for a server that answered in SSL 2.0."""

def connection_client_versions(conn: Connection) -> list[int]:
    """The versions the ClientHello offered (supported_versions without GREASE, else its
    legacy_version); empty without a ClientHello."""

def connection_cipher_suite(conn: Connection) -> int | None:
    """The suite chosen; for SSL 2.0 the 3-byte cipher kind of CLIENT-MASTER-KEY."""

def connection_alpn_offered(conn: Connection) -> list[str]:
    """The protocols the ClientHello's ALPN offered."""

def connection_alpn(conn: Connection) -> str | None:
    """The protocol the server chose: its EncryptedExtensions', else its ServerHello's."""

def connection_group_name(conn: Connection) -> str | None:
    """The key exchange's group: the key share's or the ServerKeyExchange's named curve by
    name, a finite-field group as "DH <bits>-bit"."""

def connection_forward_secrecy(conn: Connection) -> bool | None:
    """Whether the key exchange gives forward secrecy; None without a ServerHello or for a
    suite the registry does not describe."""

def connection_resumed(conn: Connection) -> Literal["session_id", "ticket", "psk"] | None:
    """How the session was resumed, None when it was not."""

def connection_session_ticket(conn: Connection) -> tuple[bool, bool | None]:
    """Whether a ticket (or a PSK) was offered, and whether one was issued (None: TLS 1.3's
    travel encrypted and were not read)."""

def connection_client_auth(conn: Connection) -> dict[str, Any]:
    """``client_auth`` of the row: requested, sent (None where it cannot be told), the
    request's certificate_types and authorities (``model.request_words``) and the client
    chain's verdict (``Validation.to_json``, None until checked)."""

def connection_ocsp_stapled(conn: Connection) -> bool | None:
    """Whether the server stapled an OCSP response (a CertificateStatus, or TLS 1.3's in the
    leaf's CertificateEntry); None where it cannot be told: TLS 1.3 without its
    EncryptedExtensions read, or the server's flight not seen."""

def connection_tls13_stapled_ocsp(conn: Connection) -> bytes | None:
    """TLS 1.3: the OCSP response stapled to the leaf of the server's first Certificate (or
    opened CompressedCertificate) that has one; None without a leaf or a staple."""

def connection_timing(conn: Connection) -> tuple[float | None, float | None, float | None]:
    """The first handshake's times in ms, as the row writes them: TCP's SYN to SYN/ACK,
    ClientHello to ServerHello, ClientHello to the later Finished (None: not seen)."""

def connection_outcome(
    conn: Connection,
) -> tuple[str, Literal["client", "server"] | None, str | None, str, bool]:
    """How the handshake ended (``outcome.Outcome``'s fields): its status ("completed",
    "failed", "incomplete"), who ended it, the alert's name, the reason in words, and
    whether a fatal alert came after it had completed."""

def message_title(msg_type: int) -> str:
    """A handshake message's name as the RFC writes it: ServerHello, CertificateVerify."""

ALERT_WORDS: dict[str, str]
"""What the alerts the outcome words mean, in plain words, by name."""

def alert_sized(conn: Connection, event: TimelineEvent) -> bool:
    """A lone, unread TLS 1.3 record of ``conn`` as long as a protected alert."""

def alert_is_fatal(event: AlertEvent, tls13: bool) -> bool:
    """Whether a read alert is fatal: in TLS 1.3 all but close_notify and user_canceled,
    before it a level of 2."""

def alert_names(event: AlertEvent | EncryptedAlertEvent) -> tuple[str | None, str]:
    """An alert's (level, description) by name, as the row writes them: (None, "encrypted")
    for one no key opened. Raises TypeError for an event that is no alert."""

def key_exchange(hello: ServerHello) -> str | None:
    """The key exchange a ServerHello chose: ECDHE, DHE, RSA, PSK+ECDHE, ECDHE+KEM..."""

def json_line(value: object) -> str:
    """The JSON text of ``value`` (dicts, lists, tuples, str, int, float, bool, None), byte
    for byte as ``json.JSONEncoder(check_circular=False).encode`` writes it. Raises
    TypeError for what json cannot write, naming its type (or a key's), and ValueError
    past ``JSON_MAX_DEPTH`` nested containers."""
