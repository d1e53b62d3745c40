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

from tlslens._core import OfferedPSKs
from tlslens.handshake import extensions as ext
from tlslens.model import Connection

MAX_SESSIONS = 1 << 16


Key = tuple[str, bytes]  # ("session_id" or "ticket", the value, hashed when long)


class ResumptionIndex:
    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self.max_sessions = max_sessions
        self._issuers: OrderedDict[Key, int] = OrderedDict()

    def resolve(self, conn: Connection) -> int | None:
        """The id of the connection whose session ``conn`` resumes, if the capture has it."""
        for key in _presented(conn):
            issuer = self._issuers.get(key)
            if issuer is not None and issuer != conn.id:
                return issuer
        return None

    def learn(self, conn: Connection) -> None:
        """Remember the session ID and tickets ``conn``'s server issued."""
        for key in _issued(conn):
            self._issuers[key] = conn.id
            self._issuers.move_to_end(key)
            while len(self._issuers) > self.max_sessions:
                self._issuers.popitem(last=False)


def _issued(conn: Connection) -> list[Key]:
    """The session ID and tickets ``conn``'s server issued, as index keys."""
    keys: list[Key] = []
    sh = conn.server_hello
    if sh is not None and sh.legacy_session_id and not conn.resumed and not conn.tls13:
        keys.append(_short(("session_id", sh.legacy_session_id)))
    keys += [_short(("ticket", ticket)) for ticket in conn.issued_tickets]
    return keys


def _presented(conn: Connection) -> list[Key]:
    """What a resumed connection's ClientHello presented, as index keys, tickets first, then
    its session ID (none if the connection did not resume)."""
    ch = conn.client_hello
    if ch is None or conn.resumed is None:
        return []
    keys: list[tuple[str, bytes]] = []
    ticket = ch.extension(ext.SESSION_TICKET)
    if ticket is not None and ticket.data:
        keys.append(("ticket", ticket.data))
    psk = ext.decoded_in(ch, ext.PRE_SHARED_KEY, OfferedPSKs)
    for identity in psk.identities if psk is not None else []:
        keys.append(("ticket", identity.identity))
    if ch.legacy_session_id:
        keys.append(("session_id", ch.legacy_session_id))
    return [_short(key) for key in keys]


def _short(key: tuple[str, bytes]) -> tuple[str, bytes]:
    """Tickets run to hundreds of bytes: an index entry keeps 16 bytes of their hash."""
    kind, value = key
    return kind, hashlib.sha256(value).digest()[:16] if len(value) > 16 else value
