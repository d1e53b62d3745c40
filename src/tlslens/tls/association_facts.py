"""What DTLS adds to a TLS ``Connection`` model (``Connection.dtls``): the cookie exchange,
the records by epoch, the fragments and retransmissions, and what the association's own
decryption showed (``show --json``'s ``dtls`` and ``decryption`` objects). Filled in by
tls/dtls.py's ``DtlsSession``; read by the narration and the serializer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tlslens._core import MAX_DERIVATIONS
from tlslens.model import C2S, S2C

if TYPE_CHECKING:
    from tlslens._core import Derivation, KeyLog


# (handshake, verified, why not checked): one handshake's verdict on one side's Finished.
FinishedVerdict = tuple[int, bool | None, str | None]
# Handshakes whose verdicts are kept one by one (as the TCP decryptor's verdicts.rs): past
# them, the newest's and the worst of the others'.
_MAX_VERDICTS = MAX_DERIVATIONS


def _rank(verdict: FinishedVerdict) -> tuple[int, int]:
    """Lower is worse: does not verify, not checked, matches (the first handshake first)."""
    handshake, verified, unchecked = verdict
    if verified is False:
        return (0, handshake)
    if verified is None and unchecked is not None:
        return (1, handshake)
    return (2 if verified else 3, handshake)


def _verdict_words(verified: bool | None) -> str:
    return {True: "matches", False: "does not verify", None: "was not checked"}[verified]


@dataclass(slots=True)
class DtlsFacts:
    """What DTLS adds to a connection: the cookie exchange, the records by epoch, the
    fragments and retransmissions the association reassembled."""

    cookie_frame: int | None = None  # the HelloVerifyRequest's
    cookie_length: int | None = None
    records: dict[str, int] = field(default_factory=lambda: {C2S: 0, S2C: 0})
    epochs: dict[str, list[int]] = field(default_factory=lambda: {C2S: [], S2C: []})
    retransmissions: dict[str, int] = field(default_factory=lambda: {C2S: 0, S2C: 0})
    # (frame, direction, handshake type) of the first MAX_RETRANSMISSIONS_KEPT (tls/dtls.py),
    # for the ladder
    retransmitted: list[tuple[int, str, int]] = field(default_factory=list)
    acks: dict[str, int] = field(default_factory=lambda: {C2S: 0, S2C: 0})  # DTLS 1.3 ACKs
    # Handshake messages that came in several fragments, and those fragments, per direction.
    fragmented: dict[str, int] = field(default_factory=lambda: {C2S: 0, S2C: 0})
    fragments: dict[str, int] = field(default_factory=lambda: {C2S: 0, S2C: 0})
    records_decrypted: dict[str, int] = field(default_factory=lambda: {C2S: 0, S2C: 0})
    unified_headers: int = 0  # DTLS 1.3 records with the unified header
    # RFC 9146: the connection ID each direction's records carry, the one its receiver asked
    # for in its hello (empty: it asked for none to be sent to it); None each unless the
    # ServerHello took up the ClientHello's connection_id extension.
    connection_ids: dict[str, bytes | None] = field(default_factory=lambda: {C2S: None, S2C: None})
    # Datagrams of the protocols RFC 7983 multiplexes with DTLS on one UDP flow (WebRTC's
    # STUN, ZRTP, TURN channels, RTP/RTCP), told by their first byte and passed over.
    multiplexed: int = 0
    # Decryption: whether a key log was given, what it held for this connection, and what
    # opened (the core's association opens the records; a record that fails is a finding).
    keys_given: bool = False
    other_secrets: bool = False  # --rsa-key or --psk given: not applied to DTLS yet
    # The secrets searched (given, and the capture's own): names them when none is found.
    keylog: KeyLog | None = None
    source: str | None = None  # "keylog" or "pcapng" (a Decryption Secrets Block)
    known: bool = False  # the key log has a secret for this connection's client random
    records_failed: dict[str, int] = field(default_factory=lambda: {C2S: 0, S2C: 0})
    plaintext: dict[str, Any] = field(
        default_factory=lambda: {C2S: hashlib.sha256(), S2C: hashlib.sha256()}
    )
    plaintext_bytes: dict[str, int] = field(default_factory=lambda: {C2S: 0, S2C: 0})
    opened: set[tuple[str, str]] = field(default_factory=set)  # (part, direction)
    finished_verified: dict[str, bool | None] = field(
        default_factory=lambda: {C2S: None, S2C: None}
    )
    # Why a Finished was not checked: its handshake lacks a message (the reassembly refused
    # it, or the capture lacks fragments of it), so it cannot be recomputed. For the
    # narration; the JSON's ``reason`` says it.
    finished_unchecked: dict[str, str | None] = field(
        default_factory=lambda: {C2S: None, S2C: None}
    )
    # Each handshake's verdict on each side's Finished, (handshake, verified, why not
    # checked), 0 the first, then each renegotiation: the two fields above are the worst of
    # them (``finished_verdict``), and ``finished_handshake`` which handshake gave it.
    finished_each: dict[str, list[FinishedVerdict]] = field(
        default_factory=lambda: {C2S: [], S2C: []}
    )
    finished_handshake: dict[str, int | None] = field(
        default_factory=lambda: {C2S: None, S2C: None}
    )
    # Why no ClientHello was read, when the reassembly refused it: why no secret is looked
    # up (not that the key log lacks one).
    hello_lacking: str | None = None
    # The random of a ClientHello the reassembly refused for its length, read from its first
    # fragment by the core: the secrets are looked up by it (said in the reason).
    hello_random: bytes | None = None
    # The capture began after the hellos: DTLS 1.3 unified headers only (flows/udp.rs found
    # them by content), whose record numbers, type and content stay sealed without them.
    hellos_missing: bool = False
    # With a key log, what each handshake derived (the first, then each renegotiation), as
    # a TCP connection's ``Decryptor.derivations``: the core's association derives the keys.
    derivations: list[Derivation] = field(default_factory=list)

    def finished_verdict(
        self, direction: str, handshake: int, verified: bool | None, unchecked: str | None
    ) -> None:
        """Handshake ``handshake``'s verdict on ``direction``'s Finished, replacing the one it
        had: the summary is the worst handshake's, so that a renegotiation whose Finished
        match does not hide a first handshake whose Finished failed (as the TCP decryptor's
        verdicts.rs)."""
        each = [v for v in self.finished_each[direction] if v[0] != handshake]
        each.append((handshake, verified, unchecked))
        each.sort(key=lambda v: v[0])
        if len(each) > _MAX_VERDICTS + 2:  # memory bounded whatever the renegotiations
            each = [*each[:_MAX_VERDICTS], min(each[_MAX_VERDICTS:-1], key=_rank), each[-1]]
        self.finished_each[direction] = each
        worst_handshake, worst, why = min(each, key=_rank)
        self.finished_verified[direction] = worst
        self.finished_unchecked[direction] = why
        self.finished_handshake[direction] = worst_handshake

    def finished_of(self, direction: str, handshake: int) -> FinishedVerdict | None:
        """Handshake ``handshake``'s verdict on ``direction``'s Finished, if it has one."""
        return next((v for v in self.finished_each[direction] if v[0] == handshake), None)

    def _by_handshake_text(self) -> str | None:
        """Each handshake's verdicts, when there are several and not all match, in the TCP
        decryptor's words ("Finished by handshake: the first handshake: the client's does
        not verify, ...; renegotiation 1: ...")."""
        verdicts = [v for each in self.finished_each.values() for v in each]
        if len({v[0] for v in verdicts}) < 2 or all(v[1] is True for v in verdicts):
            return None
        said = []
        for handshake in sorted({v[0] for v in verdicts}):
            sides = [
                f"the {who}'s {_verdict_words(verdict[1])}"
                for direction, who in ((C2S, "client"), (S2C, "server"))
                if (verdict := self.finished_of(direction, handshake)) is not None
            ]
            name = f"renegotiation {handshake}" if handshake else "the first handshake"
            said.append(f"{name}: {', '.join(sides)}")
        return "Finished by handshake: " + "; ".join(said)

    def to_json(self) -> dict[str, Any]:
        """The ``dtls`` object of ``show --json`` (connection.schema.json)."""
        return {
            "cookie_frame": self.cookie_frame,
            "cookie_length": self.cookie_length,
            "records": dict(self.records),
            "epochs": {d: list(e) for d, e in self.epochs.items()},
            "retransmissions": dict(self.retransmissions),
            "acks": dict(self.acks),
            "fragmented_messages": dict(self.fragmented),
            "fragments": dict(self.fragments),
            "unified_headers": self.unified_headers,
            "multiplexed_datagrams": self.multiplexed,
            "connection_ids": {
                d: None if cid is None else cid.hex() for d, cid in self.connection_ids.items()
            },
        }

    def decryption_json(
        self, stopped: str | None = None, reveal_keys: bool = False
    ) -> dict[str, Any]:
        """The ``decryption`` object of ``show --json``, as for TCP (DTLS 1.3's Finished
        messages are checked by the core, with the "dtls13" finished key); ``stopped``: where
        and why tlslens stopped reading the association (``Connection.stopped``);
        ``reveal_keys`` adds every secret, key and IV derived (``derived``)."""
        decrypted = any(self.records_decrypted.values())
        failed = any(self.records_failed.values())
        reason: str | None = None
        if not self.keys_given:
            status = "not_attempted"
        elif not self.known:
            status = "no_secret"
            reason = (
                "the secrets given hold nothing for this connection"
                if self.keylog is None
                else self.keylog.holds_nothing_for("this connection")
            )
            if self.other_secrets:
                # Said, not ignored: tshark opens these; tlslens does not yet over DTLS.
                reason = (
                    "over DTLS only a key log is used: --rsa-key and --psk are not applied "
                    "to DTLS connections yet"
                )
            elif self.hello_lacking is not None:
                reason = f"{self.hello_lacking}, so no secret can be looked up"
        elif failed and not decrypted:
            status = "wrong_secret"
            reason = "the key log's secrets for this connection open none of its records"
        else:
            # Records that authenticate prove the secret (as for TCP, a secret found with
            # no protected record yet is "decrypted"): a Finished that does not verify then
            # means the handshake messages it hashes were altered or not all read (one
            # whose handshake tlslens knows lacks a message is not checked, and says why).
            status = "decrypted"
            if not decrypted and stopped is not None:
                reason = (
                    "the secrets are there, and tlslens stopped reading the connection before "
                    f"any protected record, {stopped}"
                )
            elif not decrypted:
                reason = "the secrets are there, and the capture holds no protected record"
            elif False in self.finished_verified.values():
                # The words the TCP decryptor uses (decrypt/finished.rs), naming the first
                # handshake whose Finished failed.
                failed_in = min(
                    (v[0] for each in self.finished_each.values() for v in each if v[1] is False),
                    default=0,
                )
                subject = "Finished" if failed_in == 0 else f"renegotiation {failed_in}'s Finished"
                reason = (
                    f"{subject} does not verify although the records open: the handshake "
                    "messages it hashes were altered, or not all read"
                )
            else:
                reason = self._unchecked_reason()
            by_handshake = self._by_handshake_text()
            if by_handshake is not None:
                reason = by_handshake if reason is None else f"{reason}; {by_handshake}"
            if self.hello_random is not None:
                found = (
                    f"the secrets were looked up by client random {self.hello_random[:6].hex()}…, "
                    "read from the first bytes of the ClientHello tlslens skipped"
                )
                reason = found if reason is None else f"{found}; {reason}"
        data: dict[str, Any] = {
            "status": status,
            "source": self.source if decrypted else None,
            "reason": reason,
            "finished_verified": dict(self.finished_verified),
            "records_decrypted": dict(self.records_decrypted),
            "records_failed_integrity": dict(self.records_failed),
            "plaintext_bytes": dict(self.plaintext_bytes),
            "plaintext_sha256": {
                d: h.hexdigest() if self.plaintext_bytes[d] else None
                for d, h in self.plaintext.items()
            },
            "opened": {
                part: {d: (part, d) in self.opened for d in (C2S, S2C)}
                for part in ("handshake", "application_data")
            }
            | {"early_data": False},
            "missing_secrets": [],
        }
        if reveal_keys and self.keys_given:
            data["derived"] = self._derived_json()
        return data

    def _derived_json(self) -> list[dict[str, Any]]:
        """``derived``: each handshake's values, as the TCP decryptor's row writes them."""
        return [
            {
                "handshake": number,
                "source": derivation.source,
                "values": [{"name": name, "hex": value.hex()} for name, value in derivation.values],
            }
            for number, derivation in enumerate(self.derivations)
            if derivation.values
        ]

    def _unchecked_reason(self) -> str | None:
        """The Finished not checked and why, in the TCP decryptor's words."""
        unchecked = {d: why for d, why in self.finished_unchecked.items() if why is not None}
        if not unchecked:
            return None
        if len(unchecked) == 2 and unchecked[C2S] == unchecked[S2C]:
            text = f"the Finished messages were not checked: {unchecked[C2S]}"
        else:
            who = {C2S: "client", S2C: "server"}
            text = "; ".join(
                f"the {who[d]}'s Finished was not checked: {why}" for d, why in unchecked.items()
            )
        return f"{text}, and a Finished MACs the whole handshake"
