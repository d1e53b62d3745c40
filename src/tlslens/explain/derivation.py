"""Keys told: how both ends derived them, whether decryption worked, forward secrecy."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from tlslens._text import plural
from tlslens.events import HandshakeEvent
from tlslens.handshake import messages as hs
from tlslens.model import Connection
from tlslens.serialize import decryption_json

if TYPE_CHECKING:
    from tlslens._core import Derivation

_DTLS12 = 0xFEFD  # DTLS 1.0 is 0xFEFF

_KEY_WORDS = {
    "pre_master_secret": "pre_master_secret",
    "session_hash": "session_hash (RFC 7627: hash of the handshake up to ClientKeyExchange)",
    "master_secret": "master_secret",
}


_SOURCE_WORDS = {
    "keylog": "the key log",
    "pcapng": "the key log inside the pcapng (Decryption Secrets Block)",
    "rsa_key": "the server's RSA private key, which decrypts the ClientKeyExchange",
    "psk": "the pre-shared key",
    "resumed_session": "the session this one resumes (found earlier in the capture)",
    "resumed_ticket": "the session whose ticket the client presented",
}


def secret_hex(value: bytes, reveal: bool) -> str:
    if reveal or len(value) <= 8:
        return value.hex()
    return f"{value[:6].hex()}…{value[-2:].hex()}"


def _derivations(conn: Connection) -> list[Derivation]:
    """Each handshake's derivation: the connection's decryptor's, or over DTLS its
    association's (the core's association derives the keys itself)."""
    if conn.dtls is not None:
        return conn.dtls.derivations
    return conn.decryption.derivations if conn.decryption is not None else []


# How a DTLS version derives its keys: the TLS version it is written against (RFC 9147 §1:
# DTLS 1.0 is a delta from TLS 1.1, DTLS 1.2 deltas to TLS 1.2), and DTLS 1.3's labels.
_DTLS12_WORDS = (
    "DTLS 1.2 derives its keys as TLS 1.2 does (RFC 6347 only states its differences from "
    "TLS 1.2, and the key derivation is not one): TLS 1.2's PRF with the suite's hash."
)
_DTLS10_WORDS = (
    "DTLS 1.0 derives its keys as TLS 1.1 does (RFC 4347 only states its differences from "
    "TLS 1.1): TLS 1.1's PRF, MD5 and SHA-1 together."
)
_DTLS13_WORDS = (
    "DTLS 1.3: each traffic secret gives a key, an IV and a record-number key through "
    'HKDF-Expand-Label(secret, "key" / "iv" / "sn", "", length), its labels prefixed '
    '"dtls13" where TLS 1.3 has "tls13 " (RFC 9147 §5.9). The "sn" key encrypts the record '
    "numbers in the headers (RFC 9147 §4.2.3)."
)


def key_steps(conn: Connection, reveal: bool, handshake: int = 0) -> list[str]:
    """How handshake ``handshake`` (0: the first, then each renegotiation) computed its
    session keys on each side (never sent), value by value."""
    derivations = _derivations(conn)
    if handshake >= len(derivations):
        return []
    derivation = derivations[handshake]
    if not derivation.values:
        return []
    source = _SOURCE_WORDS.get(derivation.source or "", derivation.source or "")
    lines = [
        f"Neither side sends these keys: each computes them. tlslens did the same, from {source}."
    ]
    if handshake:
        lines[0] = f"Renegotiation {handshake}: new keys from a new master secret. " + lines[0]
    derived = dict(derivation.values)
    if conn.quic is not None:
        from tlslens.explain.packets import quic_key_lines  # QUIC's modules, for QUIC only

        return lines + quic_key_lines(conn, derivation.values, lambda v: secret_hex(v, reveal))
    if conn.tls13:
        lines.append(
            _DTLS13_WORDS
            if conn.dtls is not None
            else "TLS 1.3: each traffic secret gives a key and an IV through HKDF-Expand-Label"
            '(secret, "key" / "iv", "", length).'
        )
    else:
        if conn.dtls is not None:
            lines.append(_DTLS12_WORDS if conn.version == _DTLS12 else _DTLS10_WORDS)
        if "pre_master_secret" in derived:
            lines.append(
                f"pre_master_secret ({len(derived['pre_master_secret'])} bytes): "
                f"{secret_hex(derived['pre_master_secret'], reveal)}"
            )
        if "session_hash" in derived:
            lines.append(
                'master_secret = PRF(pre_master_secret, "extended master secret", session_hash) '
                "(RFC 7627)"
            )
        elif "pre_master_secret" in derived:
            lines.append(
                'master_secret = PRF(pre_master_secret, "master secret", '
                "client_random + server_random)"
            )
        lines.append(f"master_secret (48 bytes): {secret_hex(derived['master_secret'], reveal)}")
        lines.append(
            'key_block = PRF(master_secret, "key expansion", server_random + client_random), '
            "cut in order into:"
        )
    for name, value in derivation.values:
        if name in _KEY_WORDS:
            continue
        lines.append(f"  {name} ({len(value)} bytes): {secret_hex(value, reveal)}")
    return lines


def _attempted(conn: Connection) -> bool:
    """Whether secrets were given for this connection (over DTLS: to its association)."""
    if conn.dtls is not None:
        return bool(conn.dtls.keys_given)
    return conn.decryption is not None


def decryption_summary(conn: Connection) -> str | None:
    if not _attempted(conn):
        return None
    data = decryption_json(conn)
    status = data["status"]
    if status == "decrypted":
        records = sum(data["records_decrypted"].values())
        size = sum(data["plaintext_bytes"].values())
        if not records and data["reason"]:
            # Secrets found, no protected record read (tlslens stopped reading first, or the
            # capture holds none): "decrypted (0 records...)" read as a success.
            return f"nothing decrypted: {data['reason']}"
        text = "decrypted"
        if data["missing_secrets"]:  # the parts opened matter only when some could not be
            text += f": {opened_words(data['opened'])}"
        unit = "record" if conn.quic is None else "packet"  # QUIC protects packets
        text += f" ({plural(records, unit)}, {plural(size, 'byte')} of application data"
        finished = _finished_words(data["finished_verified"], _finished_seen(conn))
        reason = data["reason"]
        # (Only where the Finished words end with the ones not checked: after "..., the
        # server's was not seen" the reason would seem to explain that.)
        if reason and finished.endswith("checked") and _UNCHECKED.search(reason):
            # The reason says why the Finished were not checked: said once, with them.
            text += "); " + _UNCHECKED.sub(f"{finished}: ", reason, count=1)
        else:
            text += f"; {finished})" + (f"; {reason}" if reason else "")
        failed = data["records_failed_integrity"]
        if any(failed.values()):
            text += (
                f"; records failing their integrity check: {failed['c2s']} from the client, "
                f"{failed['s2c']} from the server"
            )
        return text
    return f"{status.replace('_', ' ')}: {data['reason']}" if data["reason"] else status


def decryption_status(conn: Connection) -> str | None:
    """One phrase for a --brief line: what the secrets given opened of this connection, and
    which were missing (None when no secrets were given)."""
    if not _attempted(conn):
        return None
    data = decryption_json(conn)
    opened = opened_words(data["opened"])
    if data["status"] == "decrypted" and opened == NOTHING_OPENED:
        text = "nothing decrypted: the secrets are there, no record was read"  # as the text
    elif data["status"] == "decrypted":
        text = f"decrypted: {opened}"
    else:
        text = "not decrypted: " + _brief_reason(conn, data["status"])
    if data["missing_secrets"]:
        text += f" ({missing_words(data['missing_secrets'])})"
    return text


def _brief_reason(conn: Connection, status: str) -> str:
    """The status in a few words, as the full reason words it (the core's status_text):
    "no secret" only where the secrets given hold nothing for the connection, never where
    the reason clears them (no hello read to look them up or to use them with)."""
    dec = conn.decryption
    if status != "no_secret" or dec is None or conn.dtls is not None or conn.quic is not None:
        return status.replace("_", " ")
    if not dec.client_random:
        return "no ClientHello read, so no secret could be looked up"
    knows = dec.key_log_knows()
    if knows and dec.version is None:
        return "no ServerHello read, so the secrets cannot be used (the key log is not at fault)"
    if knows:
        return "the key log's secrets open no record"
    return "no secret"


_PAIRS = {
    "handshake traffic secrets": (
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    ),
    "application traffic secrets": ("CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"),
}


def missing_words(missing: list[str]) -> str:
    """'no application traffic secrets' for both of a pair, else each label by name, in
    the order given."""
    words: list[str] = []
    for label in missing:
        pair = next((n for n, labels in _PAIRS.items() if label in labels), None)
        if pair is not None and all(other in missing for other in _PAIRS[pair]):
            label = pair
        if label not in words:
            words.append(label)
    return "no " + ", no ".join(words)


NOTHING_OPENED = "no record opened"


def opened_words(opened: dict[str, Any]) -> str:
    """'handshake only', "the server's handshake only", 'handshake and application data'…"""
    parts = []
    for part, noun in (("handshake", "handshake"), ("application_data", "application data")):
        sides = opened[part]
        if sides["c2s"] and sides["s2c"]:
            parts.append(noun)
        elif sides["c2s"] or sides["s2c"]:
            parts.append(f"the {'client' if sides['c2s'] else 'server'}'s {noun}")
    if opened["early_data"]:
        parts.append("early data")
    if not parts:
        return NOTHING_OPENED
    if len(parts) == 1:
        return parts[0] + " only"
    return ", ".join(parts[:-1]) + " and " + parts[-1]


# How a decryption's reason says why the Finished were not checked (the core's
# decrypt/lack.rs, tls/association_facts.py over DTLS).
_UNCHECKED = re.compile(
    r"the (?:Finished messages were|client's Finished was|server's Finished was) not checked: "
)


def _finished_seen(conn: Connection) -> set[str]:
    """The directions whose Finished the timeline holds, read (decrypted or in the clear)."""
    return {
        event.direction
        for event in conn.handshake_events
        if isinstance(event, HandshakeEvent) and isinstance(event.message, hs.Finished)
    }


def _finished_words(verified: dict[str, bool | None], seen: set[str]) -> str:
    """``seen``: the directions whose Finished was read, so that one without a verdict is
    said as not checked (a message of the handshake missing: the reason says which), not as
    not seen."""
    if verified == {"c2s": True, "s2c": True}:
        return "both Finished verify"
    words = {
        direction: "was not checked" if direction in seen else "was not seen"
        for direction in ("c2s", "s2c")
        if verified[direction] is None
    }
    if words == {"c2s": "was not checked", "s2c": "was not checked"}:
        return "neither Finished was checked"
    for direction, value in verified.items():
        if value is not None:
            words[direction] = "verifies" if value else "does NOT verify"
    return f"the client's Finished {words['c2s']}, the server's {words['s2c']}"


class ForwardSecrecyTally:
    """Which sessions a server's RSA key opens, and which it cannot, and why.

    Counts every connection; keeps the first ids of each kind to name them. A resumed
    session reuses its origin's master secret, so the key opens it too when it opened the
    origin: the tally keeps (a hash of) each master secret the key opened, from every
    connection read, shown or not (``learn``)."""

    SHOWN = 30
    MAX_MASTERS = 1 << 16  # as many as the key store remembers for resumption

    def __init__(self) -> None:
        self.opened: list[int] = []
        self.resumed: list[int] = []
        self.forward_secret: list[int] = []
        self.other: list[int] = []
        self.counts = {"opened": 0, "resumed": 0, "forward_secret": 0, "other": 0}
        self._masters: dict[bytes, None] = {}

    def learn(self, conn: Connection) -> None:
        """Remember the master secrets ``conn``'s handshakes got from the RSA key."""
        dec = conn.decryption
        if dec is None:
            return
        opened = False
        for derivation in dec.derivations:
            master = dict(derivation.values).get("master_secret")
            if master is None:
                continue
            digest = hashlib.sha256(master).digest()[:16]
            if derivation.source == "rsa_key" or (
                derivation.source in _RESUMED and (opened or digest in self._masters)
            ):
                opened = True
                self._masters.pop(digest, None)
                self._masters[digest] = None
                while len(self._masters) > self.MAX_MASTERS:
                    del self._masters[next(iter(self._masters))]

    def add(self, conn: Connection) -> None:
        self.learn(conn)
        dec = conn.decryption
        kind = "other"
        if dec is not None and dec.status == "decrypted":
            sources = {derivation.source for derivation in dec.derivations}
            if "rsa_key" in sources:
                kind = "opened"
            elif sources & _RESUMED and dec.master_secret is not None:
                digest = hashlib.sha256(dec.master_secret).digest()[:16]
                kind = "resumed" if digest in self._masters else "other"
        if kind == "other" and conn.forward_secrecy:
            kind = "forward_secret"
        ids = {
            "opened": self.opened,
            "resumed": self.resumed,
            "forward_secret": self.forward_secret,
            "other": self.other,
        }[kind]
        self.counts[kind] += 1
        if len(ids) < self.SHOWN:
            ids.append(conn.id)

    def lines(self) -> list[str]:
        counts = self.counts
        total = sum(counts.values())
        opened = counts["opened"] + counts["resumed"]
        out = [
            "Forward secrecy in practice: the RSA key opens "
            f"{opened} of {plural(total, 'session')}."
        ]
        if self.opened:
            out.append(
                f"  Opened (RSA key exchange: the premaster secret travels encrypted to this key): "
                f"{_ids(self.opened, counts['opened'])}"
            )
        if self.resumed:
            out.append(
                "  Opened through the session they resume (a resumed session reuses the master "
                f"secret the key opened): {_ids(self.resumed, counts['resumed'])}"
            )
        if self.forward_secret:
            out.append(
                "  Cannot be opened with it (ephemeral (EC)DHE or TLS 1.3: the key only signed the "
                f"handshake; the session keys came from values that were never stored): "
                f"{_ids(self.forward_secret, counts['forward_secret'])}"
            )
        if self.other:
            out.append(
                "  Not opened for another reason (see each connection): "
                f"{_ids(self.other, counts['other'])}"
            )
        return out


_RESUMED = frozenset({"resumed_session", "resumed_ticket"})


def _ids(ids: list[int], count: int) -> str:
    return ", ".join(str(i) for i in ids) + (
        f" and {count - len(ids)} more" if count > len(ids) else ""
    )
