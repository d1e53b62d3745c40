"""Which earlier connection of a capture issued the session a connection resumes.

A TLS 1.2 client resumes by presenting a session ID a server gave it in a full
handshake, or a ticket (RFC 5077) from a NewSessionTicket; a TLS 1.3 client presents a
ticket as a pre_shared_key identity (RFC 8446 §4.6.1). Connections are learnt in the
order they are numbered, so the issuer of a resumed session, which started earlier, is
known by the time the resumption is resolved. The index is bounded: it forgets the
oldest sessions first.
"""

from __future__ import annotations

from collections import OrderedDict

from tlslens import _core
from tlslens.model import Connection

MAX_SESSIONS = 1 << 16


# ("session_id" or "ticket", the value; the first 16 bytes of its SHA-256 when longer): the
# core's keys (``_core.resumption_keys``).
Key = tuple[str, bytes]


class ResumptionIndex:
    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self.max_sessions = max_sessions
        self._issuers: OrderedDict[Key, int] = OrderedDict()

    def settle(self, conn: Connection) -> int | None:
        """As a connection is handed out: the id of the connection whose session it resumes
        (``resolve``), then what its server issued learnt (``learn``); its keys read once."""
        presented, issued = _core.resumption_keys(conn)
        issuer = self._resolve(presented, conn.id)
        self._learn(issued, conn.id)
        return issuer

    def resolve(self, conn: Connection) -> int | None:
        """The id of the connection whose session ``conn`` resumes, if the capture has it."""
        return self._resolve(_core.resumption_keys(conn)[0], conn.id)

    def learn(self, conn: Connection) -> None:
        """Remember the session ID and tickets ``conn``'s server issued."""
        self._learn(_core.resumption_keys(conn)[1], conn.id)

    def _resolve(self, presented: list[Key], conn_id: int) -> int | None:
        for key in presented:
            issuer = self._issuers.get(key)
            if issuer is not None and issuer != conn_id:
                return issuer
        return None

    def _learn(self, issued: list[Key], conn_id: int) -> None:
        for key in issued:
            self._issuers[key] = conn_id
            self._issuers.move_to_end(key)
            while len(self._issuers) > self.max_sessions:
                self._issuers.popitem(last=False)
