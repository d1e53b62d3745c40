"""Which earlier connection of a capture issued the session a connection resumes.

A TLS 1.2 client resumes by presenting a session ID a server gave it in a full
handshake, or a ticket (RFC 5077) from a NewSessionTicket; a TLS 1.3 client presents a
ticket as a pre_shared_key identity (RFC 8446 §4.6.1). Connections are learnt in the
order they are numbered, so the issuer of a resumed session, which started earlier, is
known by the time the resumption is resolved. The index is bounded: it forgets the
oldest sessions first.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from tlslens.handshake import extensions as ext
from tlslens.model import Connection

MAX_SESSIONS = 1 << 16


class ResumptionIndex:
    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self.max_sessions = max_sessions
        self._issuers: OrderedDict[tuple[str, bytes], int] = OrderedDict()

    def resolve(self, conn: Connection) -> int | None:
        """The id of the connection whose session ``conn`` resumes, if the capture has it."""
        if conn.resumed is None:
            return None
        for key in _presented(conn):
            issuer = self._issuers.get(_short(key))
            if issuer is not None and issuer != conn.id:
                return issuer
        return None

    def learn(self, conn: Connection) -> None:
        """Remember the session ID and tickets ``conn``'s server issued."""
        sh = conn.server_hello
        if sh is not None and sh.legacy_session_id and not conn.resumed and not conn.tls13:
            self._remember(("session_id", sh.legacy_session_id), conn.id)
        for ticket in conn.issued_tickets:
            self._remember(("ticket", ticket), conn.id)

    def _remember(self, key: tuple[str, bytes], conn_id: int) -> None:
        key = _short(key)
        self._issuers[key] = conn_id
        self._issuers.move_to_end(key)
        while len(self._issuers) > self.max_sessions:
            self._issuers.popitem(last=False)


def _presented(conn: Connection) -> list[tuple[str, bytes]]:
    """What the resuming ClientHello presented: tickets first, then its session ID."""
    ch = conn.client_hello
    if ch is None:
        return []
    keys: list[tuple[str, bytes]] = []
    ticket = ext.find(ch.extensions, ext.SESSION_TICKET)
    if ticket is not None and ticket.data:
        keys.append(("ticket", ticket.data))
    psk = ext.find_decoded(ch.extensions, ext.PRE_SHARED_KEY, ext.CLIENT_HELLO)
    for identity in (psk or {}).get("identities", []):
        keys.append(("ticket", identity["identity"]))
    if ch.legacy_session_id:
        keys.append(("session_id", ch.legacy_session_id))
    return keys


def _short(key: tuple[str, bytes]) -> tuple[str, bytes]:
    """Tickets run to hundreds of bytes: an index entry keeps 16 bytes of their hash."""
    kind, value = key
    return kind, hashlib.sha256(value).digest()[:16] if len(value) > 16 else value
