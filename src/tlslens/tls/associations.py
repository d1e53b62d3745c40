"""The DTLS associations of one capture pass: each one's ``DtlsSession`` (tls/dtls.py), made
when the core opens the association and finished when the core ends it (its last datagram
read, or evicted by the bound of associations open at once: the pipeline tells why).

Every capture pass makes a router; tls/dtls.py loads with the capture's first DTLS
association, so a capture without one does not pay for it (as the QUIC router's modules).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tlslens import _core
from tlslens.decrypt.connection import PlaintextSink
from tlslens.errors import OutputError
from tlslens.keys.store import KeyStore
from tlslens.model import Connection

if TYPE_CHECKING:
    from tlslens.tls.dtls import DtlsSession


class DtlsRouter:
    """Owns the DTLS sessions of a pass, by the core's association (flow) number."""

    def __init__(
        self,
        *,
        file: str,
        sink: Callable[[int], PlaintextSink | None],
        keep_records: bool,
        max_message: int,
        told: Callable[[int, int], None] | None = None,
    ) -> None:
        self.file = file
        # What each association's connection keeps, told as it grows (bytes), less what the
        # walk charged each datagram, to count toward --max-held (FlowCore.udp_told):
        # 500,000 alerts held 208 MB.
        self.told = told
        self.sink = sink  # the plaintext sink of an association, by its flow index
        self.keep_records = keep_records
        self.max_message = max_message
        self.sessions: dict[int, DtlsSession] = {}  # open associations' sessions
        # What their incomplete handshake messages hold, bounded across them all: 2,000
        # associations each opening messages that never complete held 1 MiB each.
        self.pool = _core.DtlsPool()
        self.keys_made: tuple[int, _core.DtlsKeys] | None = None  # (key log size, keys)

    def __contains__(self, flow: int) -> bool:
        return flow in self.sessions

    def open(self, ev: _core.UdpOpened, store: KeyStore | None) -> None:
        """A DTLS association: its session decrypts with the key log as it stands now."""
        from tlslens.tls.dtls import DtlsSession, dtls_keys

        keys = None
        if store is not None:
            size = len(store.keylog)
            if self.keys_made is None or self.keys_made[0] != size:
                self.keys_made = (size, dtls_keys(store))
            keys = self.keys_made[1]
        self.sessions[ev.flow] = DtlsSession(
            ev.flow,
            ev.ends,
            ev.frame,
            ev.ts_ns,
            file=self.file,
            keys=keys,
            store=store,
            sink=self.sink(ev.flow),
            keep_records=self.keep_records,
            max_message=self.max_message,
            pool=self.pool,
        )

    def take(self, ev: _core.UdpDatagram | _core.UdpClosed) -> Connection | None:
        """An association's datagram or end (then its connection); a bug in reading it is
        reported as a finding of that connection, which is not parsed further, and the run
        goes on."""
        dtls = self.sessions.get(ev.flow)
        if dtls is None:
            return None
        if type(ev) is _core.UdpDatagram:
            kept = dtls.kept()
            try:
                dtls.datagram(ev.side, ev.frame, ev.ts_ns, ev.data)
            except OutputError:  # the plaintext's files refused it: the run's end
                raise
            except Exception as exc:  # a bug in tlslens: report it, keep going
                dtls.abandon(f"internal error ({type(exc).__name__}: {exc})")
            settled = (dtls.kept() - kept) * _core.SAID_COST - ev.charged
            if settled and self.told is not None:
                self.told(ev.flow, settled)
            return None
        assert type(ev) is _core.UdpClosed
        del self.sessions[ev.flow]
        dtls.frame, dtls.ts_ns = ev.frame, ev.ts_ns
        return dtls.finish()
