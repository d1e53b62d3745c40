"""Types of the compiled core (crates/tlslens-py), built by maturin into tlslens._core."""

from typing import final

GZIP_MAX_RATIO: int
GZIP_FLOOR: int

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
    """pcap / pcapng / gzip'd capture reader, sans-IO: ``feed`` bytes, ``poll`` batches."""

    def __init__(self, max_expansion: int, gzip_floor: int) -> None: ...
    def feed(self, chunk: bytes) -> None: ...
    def finish(self, error: str | None = None) -> None:
        """No more bytes will come; ``error``: why (a read that failed)."""
    def poll(self) -> FrameBatch:
        """What can be read of the bytes fed so far: no frames when more are needed."""
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

# -- the flow table (crates/tlslens-py/src/flows.rs) ---------------------------------------

REORDER_WINDOW: int
MAX_OPEN_FLOWS: int
MAX_PENDING_BYTES: int
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

@final
class FlowData:
    """Reassembled bytes of one side at ``offset`` within that direction."""

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
    """``length`` bytes at ``offset`` the capture lacks: a hole given up on."""

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
    """A FIN or RST from ``side``."""

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
    """About to be closed early at ``frame``: more than ``max_connections`` were open."""

    @property
    def flow(self) -> int: ...
    @property
    def frame(self) -> int: ...

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

@final
class FlowHandOut:
    """The flow's connection is next in first-packet order (``late``: after later ones)."""

    @property
    def flow(self) -> int: ...
    @property
    def late(self) -> bool: ...

FlowEvent = (
    FlowOpened
    | FlowData
    | FlowGap
    | FlowConflict
    | FlowClosing
    | FlowEvicted
    | FlowClosed
    | FlowHandOut
)

@final
class FlowBatch:
    """What one ``FlowCore.pull`` (or ``answer``, ``ignore``, ``finish``) made of the frames."""

    @property
    def events(self) -> list[FlowEvent]: ...
    @property
    def problems(self) -> list[tuple[int, str, int]]:
        """The capture reader's ``(byte offset, message, frame number)``, and the core's."""
    @property
    def secrets(self) -> list[tuple[int, bytes]]:
        """Decryption Secrets Blocks read: ``(secrets type, data)``."""
    @property
    def ask(self) -> int | None:
        """The flow whose session must say, before the next frame, if it gave it up."""
    @property
    def check(self) -> bool:
        """A frame at which a time budget is checked was reached."""
    @property
    def progress(self) -> bool:
        """A progress point (every 4096 frames) was passed."""
    @property
    def hungry(self) -> bool:
        """The reader needs more bytes before anything else can be walked."""

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
    ) -> None: ...
    def pull(self, reader: CaptureReader) -> FlowBatch:
        """Walk the reader's frames until Python must act."""
    def answer(self, verdict: str, watch: tuple[bool, bool] = (True, True)) -> FlowBatch:
        """``ignored``, ``tls`` or ``undecided``: the session of the flow ``ask`` named;
        ``watch``: which sides' data could still make an undecided one give its flow up."""
    def ignore(self, flow: int) -> FlowBatch:
        """A flow whose session gave it up after an internal error: let go from now on."""
    def finish(self) -> FlowBatch:
        """Every open flow closes; every connection is handed out."""
    def exhausted(self, reader: CaptureReader) -> bool:
        """Nothing more will be walked."""
    @property
    def frames(self) -> int: ...
    @property
    def tcp_flows(self) -> int: ...
    @property
    def evicted(self) -> int: ...
    @property
    def backwards(self) -> tuple[int, int]:
        """Frames whose timestamp went back, and the first of them."""
    @property
    def skipped(self) -> list[tuple[str, int]]:
        """Frames without a TCP segment for us, by reason, in the order first met."""
