"""Decrypting one connection: from secrets to keys to plaintext, with every step kept.

Strategy: a ``ConnectionDecryptor`` follows the handshake as session.py sees it
(each handshake message in order, each ChangeCipherSpec, each protected record)
and keeps the handshake transcript. As soon as the secret for this connection is
known (a key log line for its client random, a premaster recovered with the
server's RSA key, or the master secret of the session it resumes), it derives the
keys both ends derived and keeps them in ``derivation`` to be shown. Each
Finished is recomputed from the transcript and compared. Application data
plaintext is hashed per direction (and handed to an optional sink) but never
stored.

Key logs are often partial: a TLS 1.3 client that aborts its handshake logged its
handshake secrets and never the application ones, and some stacks log one side's
secret before the other's. Each TLS 1.3 secret is used on its own, for its own
direction and phase; a direction whose handshake secret is missing tries its
application traffic secret on each record (as Wireshark does) until one opens, since
its encrypted handshake cannot be read to see where it ends. ``opened`` keeps which
parts were read and ``missing_secrets`` names the key-log labels that were not there.

Nothing here reads files or the clock: the ``KeyStore`` is filled by the caller.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import padding

from tlslens import _core, registry
from tlslens._core import CipherSpec, RecordProtection
from tlslens.decrypt import parts
from tlslens.decrypt.parts import (
    APPLICATION_DATA,
    C2S,
    DECRYPTED,
    EARLY_DATA,
    HANDSHAKE,
    NO_SECRET,
    S2C,
)
from tlslens.decrypt.suites import cipher_spec, key_block
from tlslens.errors import DecryptError, UnsupportedCipherError
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs
from tlslens.keys.keylog import CLIENT_RANDOM, EARLY
from tlslens.keys.store import KeyStore

WRONG_SECRET = "wrong_secret"
UNSUPPORTED_CIPHER = "unsupported_cipher"

PlaintextSink = Callable[[str, bytes], None]
MAX_DECOMPRESSED = (1 << 14) + 1024
# Records of a direction tried with its application traffic secret, its handshake secret
# missing, before that secret is taken to be another session's: a server's encrypted
# handshake is a few records (a large chain spans several of 16 KiB).
MAX_TRIAL_RECORDS = 32
_SIDE = {C2S: "CLIENT", S2C: "SERVER"}


@dataclass(slots=True)
class DirectionResult:
    records_decrypted: int = 0
    records_failed_integrity: int = 0
    plaintext_bytes: int = 0
    sha256: Any = field(default_factory=hashlib.sha256)
    finished_verified: bool | None = None


@dataclass(slots=True)
class Derivation:
    """The keys one handshake derived, in the order derived, and the secret they came from."""

    values: list[tuple[str, bytes]] = field(default_factory=list)
    source: str | None = None


class ConnectionDecryptor:
    """Follows one connection's handshake and opens its protected records."""

    def __init__(self, store: KeyStore, sink: PlaintextSink | None = None) -> None:
        self.store = store
        self.sink = sink
        # A decryptor exists only where secrets were given (or the pcapng carries some).
        self.status = NO_SECRET
        self.source: str | None = None
        self.reason: str | None = None
        # One per handshake (the first, then each renegotiation), in order.
        self.derivations: list[Derivation] = [Derivation()]
        self.results = {C2S: DirectionResult(), S2C: DirectionResult()}
        self.transcript = bytearray()
        self.version: int | None = None
        self.info: registry.CipherSuiteInfo | None = None
        self.spec: CipherSpec | None = None
        self.client_random = b""
        self.server_random = b""
        self.master_secret: bytes | None = None
        self.extended_master_secret = False
        self.encrypt_then_mac = False
        self.active: dict[str, RecordProtection | None] = {C2S: None, S2C: None}
        self.pending: dict[str, RecordProtection | None] = {C2S: None, S2C: None}
        self.tls13 = False
        self.hash_name = "SHA256"
        self.traffic: dict[str, bytes] = {}  # TLS 1.3 current traffic secret per direction
        self.hrr_seen = False
        self.client_session_id = b""
        self.client_version = 0  # the ClientHello's, which an RSA premaster begins with
        self.client_ticket = b""
        self.session_id = b""
        self.early: RecordProtection | None = None
        self.early_suite: registry.CipherSuiteInfo | None = None
        self.early_active = False
        # DEFLATE (compression method 1, RFC 3749): one zlib stream per direction.
        self.inflaters: dict[str, Any] | None = None
        # TLS 1.3: what the keys in force per direction protect, and the application keys
        # tried on a direction whose handshake keys are missing (see Strategy).
        self.phase = {C2S: HANDSHAKE, S2C: HANDSHAKE}
        self.trial: dict[str, RecordProtection | None] = {C2S: None, S2C: None}
        self.trial_failures = {C2S: 0, S2C: 0}
        self.early_seen = False  # a 0-RTT record was seen, opened or not
        self.opened: set[tuple[str, str]] = set()  # (part, direction) with a record opened
        self.server_handshake_keys = False  # TLS 1.3: its flight, in the transcript, is read

    # -- handshake messages ---------------------------------------------------------
    def on_message(self, direction: str, raw: bytes, message: hs.HandshakeMessage) -> None:
        """Called for every handshake message, in order, plaintext or decrypted."""
        if isinstance(message, hs.Finished):
            self._check_finished(direction, message)
            self._append(raw)
            if self.tls13:
                self._tls13_after_finished(direction)
            return
        if isinstance(message, hs.ClientHello):
            if not self.hrr_seen:
                # A new handshake (the first, or a renegotiation) starts a new transcript,
                # and derives its own keys.
                self.transcript = bytearray()
                if self.client_random:  # not the first handshake: a renegotiation
                    self.derivations.append(Derivation())
                self.client_random = message.random
                self.client_session_id = message.legacy_session_id
                self.client_version = message.legacy_version
                ticket = ext.find(message.extensions, ext.SESSION_TICKET)
                self.client_ticket = ticket.data if ticket else b""
                suites = [s for s in message.cipher_suites if (s >> 8) == 0x13]
                self.early_suite = registry.CIPHER_SUITES.get(suites[0]) if suites else None
            self._append(raw)
            return
        if message.msg_type == hs.END_OF_EARLY_DATA:
            self._append(raw)
            self.early_active = False
            return
        if isinstance(message, hs.ServerHello) and message.is_hello_retry_request:
            # RFC 8446 §4.4.1: the first ClientHello is replaced by its hash.
            self.hrr_seen = True
            info = registry.CIPHER_SUITES.get(message.cipher_suite)
            name = info.prf_hash if info and info.prf_hash else "SHA256"
            first = _core.digest(name, bytes(self.transcript))
            self.transcript = bytearray(bytes([hs.MESSAGE_HASH, 0, 0, len(first)]) + first)
            self._append(raw)
            return
        if self.tls13 and message.msg_type in (hs.NEW_SESSION_TICKET, hs.KEY_UPDATE):
            # Post-handshake messages are not part of the transcript (RFC 8446 §4.6), even
            # when a server sends its tickets before the client's Finished.
            if message.msg_type == hs.KEY_UPDATE:
                self._key_update(direction)
            return
        self._append(raw)
        if isinstance(message, hs.ServerHello):
            self._server_hello(message)
        elif isinstance(message, hs.ClientKeyExchange):
            self._client_key_exchange(message)
        elif isinstance(message, hs.NewSessionTicket) and self.master_secret and not self.tls13:
            self.store.remember("tickets", message.ticket, self.master_secret)

    def transcript_hash(self) -> bytes:
        """The hash of the handshake so far, with the suite's hash (RFC 8446 §4.4.1)."""
        return _core.digest(self.hash_name, bytes(self.transcript))

    @property
    def derivation(self) -> list[tuple[str, bytes]]:
        """The current handshake's (name, value) pairs."""
        return self.derivations[-1].values

    def _append(self, raw: bytes) -> None:
        self.transcript += raw

    def _server_hello(self, sh: hs.ServerHello) -> None:
        self.version = hs.selected_version(sh)
        self.server_random = sh.random
        self.master_secret = None  # a renegotiation derives everything anew
        self.pending = {C2S: None, S2C: None}
        if sh.legacy_compression_method == 1:
            self.inflaters = {C2S: zlib.decompressobj(), S2C: zlib.decompressobj()}
        self.info = registry.CIPHER_SUITES.get(sh.cipher_suite)
        if self.info is None:
            self.status, self.reason = (
                UNSUPPORTED_CIPHER,
                f"unknown cipher suite {sh.cipher_suite:#06x}",
            )
            return
        try:
            self.spec = cipher_spec(self.info, self.version)
        except UnsupportedCipherError as exc:
            self.status, self.reason = UNSUPPORTED_CIPHER, str(exc)
            return
        self.tls13 = hs.HandshakeContext(version=self.version).tls13
        self.hash_name = self.info.prf_hash or "SHA256"
        self.extended_master_secret = (
            ext.find(sh.extensions, ext.EXTENDED_MASTER_SECRET) is not None
        )
        self.encrypt_then_mac = (
            ext.find(sh.extensions, ext.ENCRYPT_THEN_MAC) is not None and self.spec.kind == "block"
        )
        if self.tls13:
            self._tls13_handshake_keys()
            return
        master = self.store.keylog.get(CLIENT_RANDOM, self.client_random)
        source = self.store.keylog.origin(CLIENT_RANDOM, self.client_random)
        if (
            master is None
            and sh.legacy_session_id
            and sh.legacy_session_id == self.client_session_id
        ):
            master = self.store.look_up("sessions", sh.legacy_session_id)
            source = "resumed_session"
        if master is None and self.client_ticket:
            master = self.store.look_up("tickets", self.client_ticket)
            source = "resumed_ticket"
        if master is not None:
            self._set_master(master, source)
        self.session_id = sh.legacy_session_id  # remembered with its master at the CCS

    def _client_key_exchange(self, cke: hs.ClientKeyExchange) -> None:
        if (
            self.master_secret is not None
            or self.tls13
            or self.version is None
            or self.info is None
        ):
            return
        if self.spec is None:
            return
        if cke.kx == "PSK":
            self._psk_premaster()
            return
        if cke.kx not in ("RSA", "RSA_PSK"):
            return
        premaster = self.store.keylog.rsa_premasters.get(cke.exchange_keys[:8])
        source = "keylog"
        if premaster is None and self.store.rsa_keys:
            source = "rsa_key"
            for key in self.store.rsa_keys:
                if key.key_size // 8 != len(cke.exchange_keys):
                    continue
                try:
                    candidate = key.decrypt(cke.exchange_keys, padding.PKCS1v15())
                except ValueError:
                    continue
                # RFC 5246 §7.4.7.1: 48 bytes, opening with the ClientHello's version (some
                # old clients put the negotiated one). A wrong key need not fail: OpenSSL's
                # implicit rejection answers it with random bytes, at times 48 of them.
                versions = (self.client_version, self.version or 0)
                if len(candidate) == 48 and int.from_bytes(candidate[:2]) in versions:
                    premaster = candidate
                    break
            if premaster is None:
                self.reason = (
                    "the RSA key given does not open this ClientKeyExchange (another server's key?)"
                )
        if premaster is None:
            return
        self._from_premaster(premaster, source)

    def _psk_premaster(self) -> None:
        """RFC 4279 §2: with a plain PSK, premaster = N zero bytes and the PSK, each length-prefixed."""
        psk = self.store.psk
        if psk is None:
            self.reason = "a PSK cipher suite, and no --psk was given"
            return
        n = len(psk).to_bytes(2, "big")
        premaster = n + b"\0" * len(psk) + n + psk
        self._from_premaster(premaster, "psk")

    def _from_premaster(self, premaster: bytes, source: str) -> None:
        assert self.version is not None
        self.derivation.append(("pre_master_secret", premaster))
        session_hash = None
        if self.extended_master_secret:
            session_hash = _core.session_hash(self.version, self.hash_name, bytes(self.transcript))
            self.derivation.append(("session_hash", session_hash))
        master = _core.master_secret(
            self.version,
            self.hash_name,
            premaster,
            self.client_random,
            self.server_random,
            session_hash,
        )
        self._set_master(master, source)

    def _set_master(self, master: bytes, source: str) -> None:
        assert self.version is not None and self.spec is not None
        self.master_secret = master
        self.source = self.derivations[-1].source = source
        self.derivation.append(("master_secret", master))
        spec = self.spec
        randoms = (self.client_random, self.server_random)
        block = key_block(spec, self.version, self.hash_name, master, randoms)
        self.derivation.extend((name, value) for name, value in block.items() if value)
        for direction, prefix in ((C2S, "client"), (S2C, "server")):
            self.pending[direction] = RecordProtection(
                spec,
                version=self.version,
                key=block[f"{prefix}_write_key"],
                iv=block[f"{prefix}_write_iv"],
                mac_key=block[f"{prefix}_write_mac_key"],
                encrypt_then_mac=self.encrypt_then_mac,
            )
        self.status = DECRYPTED

    def on_change_cipher_spec(self, direction: str) -> None:
        if self.tls13:
            return
        self.active[direction] = self.pending[direction]
        self.pending[direction] = None
        if self.master_secret is not None and self.session_id:
            self.store.remember("sessions", self.session_id, self.master_secret)

    # -- TLS 1.3 ----------------------------------------------------------------------
    def _tls13_protection(self, prefix: str, secret: bytes) -> RecordProtection:
        """The record protection of a traffic secret; the derivation is kept to be shown."""
        assert self.spec is not None and self.version is not None
        key, iv = _core.traffic_keys(self.hash_name, secret, self.spec.key_len, 12)
        self.derivation.append((f"{prefix}_traffic_secret", secret))
        self.derivation.append((f"{prefix}_write_key", key))
        self.derivation.append((f"{prefix}_write_iv", iv))
        return RecordProtection(self.spec, version=self.version, key=key, iv=iv, tls13=True)

    def open_early(self, version: int, body: bytes) -> tuple[int, bytes] | None:
        """A 0-RTT record (before the ServerHello), with the client early traffic secret
        and the cipher suite of the PSK (taken to be the first TLS 1.3 suite offered)."""
        self.early_seen = True
        if self.early is None:
            if self.early_suite is None:
                return None
            name = self.early_suite.prf_hash or "SHA256"
            secret = self._tls13_secret(EARLY, name)
            if secret is None:
                return None
            try:
                spec = cipher_spec(self.early_suite, 0x0304)
            except UnsupportedCipherError:
                return None
            key, iv = _core.traffic_keys(name, secret, spec.key_len, 12)
            self.early = RecordProtection(spec, version=0x0304, key=key, iv=iv, tls13=True)
            self.derivation.append(("client_early_traffic_secret", secret))
            if self.source is None:
                self.source = self.derivations[-1].source = self.store.keylog.origin(
                    EARLY, self.client_random
                )
        self.early_active = True
        return self._open_with(self.early, C2S, 23, version, body)

    def _tls13_handshake_keys(self) -> None:
        """Each direction's handshake keys from its own secret; a direction without one
        gets its application keys to try (see Strategy)."""
        for direction in (C2S, S2C):
            label = f"{_SIDE[direction]}_HANDSHAKE_TRAFFIC_SECRET"
            secret = self._tls13_secret(label, self.hash_name)
            if secret is None:
                self.trial[direction] = self._application_keys(direction)
                continue
            self._found(label)
            self.server_handshake_keys = self.server_handshake_keys or direction == S2C
            self.traffic[direction] = secret
            prefix = f"{_SIDE[direction].lower()}_handshake"
            protection = self._tls13_protection(prefix, secret)
            # The client's handshake keys are in force from its first protected record.
            if direction == C2S:
                self.pending[C2S] = protection
            else:
                self.active[S2C] = protection

    def _tls13_secret(self, label: str, hash_name: str) -> bytes | None:
        """A TLS 1.3 secret of the key log, if it can be this suite's: HKDF-Expand takes
        no key shorter than the hash (RFC 5869 §2.3), so a shorter one is told and left
        out rather than derived from."""
        secret = self.store.keylog.get(label, self.client_random)
        if secret is not None and len(secret) < len(_core.digest(hash_name, b"")):
            self.reason = (
                f"the key log's {label} has {len(secret)} bytes, fewer than {hash_name} "
                "makes: it is not this connection's"
            )
            return None
        return secret

    def _found(self, label: str) -> None:
        """A secret of this connection was found: where the first came from is its source."""
        if self.source is None:
            self.source = self.store.keylog.origin(label, self.client_random)
            self.derivations[-1].source = self.source
        if self.status == NO_SECRET:
            self.status = DECRYPTED

    def _application_keys(self, direction: str) -> RecordProtection | None:
        """TLS 1.3: the record protection of a direction's first application traffic
        secret, if the key log holds it."""
        label = f"{_SIDE[direction]}_TRAFFIC_SECRET_0"
        secret = self._tls13_secret(label, self.hash_name)
        if secret is None:
            return None
        self.traffic[direction] = secret
        prefix = "client_application" if direction == C2S else "server_application"
        return self._tls13_protection(prefix, secret)

    def transcript_complete(self) -> bool:
        """TLS 1.3: whether every handshake message so far was read (the server's flight
        needs its handshake secret), so that a transcript hash is the one both ends took."""
        return not self.tls13 or self.server_handshake_keys

    def client_handshake_protection(self) -> RecordProtection | None:
        """TLS 1.3: the client's handshake keys, once the ServerHello is in."""
        if self.pending[C2S] is not None and self.active[C2S] is None:
            self.active[C2S] = self.pending[C2S]
            self.pending[C2S] = None
        return self.active[C2S]

    def _tls13_after_finished(self, direction: str) -> None:
        self.phase[direction] = APPLICATION_DATA
        self.active[direction] = self._application_keys(direction)
        if direction == C2S:
            self.pending[C2S] = None

    def _key_update(self, direction: str) -> None:
        secret = self.traffic.get(direction)
        if secret is None:
            return
        secret = _core.next_traffic_secret(self.hash_name, secret)
        self.traffic[direction] = secret
        prefix = ("client" if direction == C2S else "server") + "_application_updated"
        self.active[direction] = self._tls13_protection(prefix, secret)

    # -- Finished ------------------------------------------------------------------------
    def _check_finished(self, direction: str, finished: hs.Finished) -> None:
        result = self.results[direction]
        if self.version is None:
            return
        if self.tls13:
            base = self.traffic.get(direction)
            # The client's Finished covers the server's flight, which needs its own secret.
            if base is None or not self.transcript_complete():
                return
            result.finished_verified = _core.tls13_finished_matches(
                self.hash_name, base, self.transcript_hash(), finished.verify_data
            )
        else:
            if self.master_secret is None:
                return
            label = b"client finished" if direction == C2S else b"server finished"
            result.finished_verified = _core.finished_matches(
                self.version,
                self.hash_name,
                self.master_secret,
                label,
                bytes(self.transcript),
                finished.verify_data,
            )
        if not result.finished_verified:
            self.status = WRONG_SECRET
            self.reason = (
                "Finished does not verify: the secret belongs to another session, or the "
                "handshake was altered"
            )

    # -- records ---------------------------------------------------------------------------
    def open_record(
        self, direction: str, ctype: int, version: int, body: bytes
    ) -> tuple[int, bytes] | None:
        """Decrypt one protected record; None when no key is active for it.

        A record that fails its integrity check is counted and reported through the
        status; it raises DecryptError for the caller to note where.
        """
        protection = self.active[direction]
        if direction == C2S and self.early_active and self.early is not None:
            protection = self.early  # 0-RTT goes on until EndOfEarlyData
        if protection is not None:
            return self._open_with(protection, direction, ctype, version, body)
        trial = self.trial[direction]
        if trial is None:
            return None
        opened = self._open_with(trial, direction, ctype, version, body, trial=True)
        if opened is not None:
            # The first record the application keys open ends this direction's handshake.
            self.trial[direction], self.active[direction] = None, trial
            self.phase[direction] = APPLICATION_DATA
            self._found(f"{_SIDE[direction]}_TRAFFIC_SECRET_0")
        return opened

    def _open_with(
        self,
        protection: RecordProtection,
        direction: str,
        ctype: int,
        version: int,
        body: bytes,
        *,
        trial: bool = False,
    ) -> tuple[int, bytes] | None:
        """Open one record; with ``trial``, a record that does not open is one the keys
        do not protect (None), not a failure."""
        result = self.results[direction]
        try:
            opened = protection.open_record(ctype, version, body)
        except DecryptError:
            if trial:
                protection.seq = 0  # not this key's record: its first is still to come
                self.trial_failures[direction] += 1
                if self.trial_failures[direction] >= MAX_TRIAL_RECORDS:
                    self.trial[direction] = None
                    self.reason = (
                        f"no record of {MAX_TRIAL_RECORDS} from the "
                        f"{_SIDE[direction].lower()} opens with its "
                        f"{_SIDE[direction]}_TRAFFIC_SECRET_0: the secret belongs to another "
                        "session"
                    )
                return None
            result.records_failed_integrity += 1
            if result.records_decrypted == 0:
                self.status = WRONG_SECRET
                self.reason = self.reason or (
                    "the first protected record does not authenticate: the secret belongs to "
                    "another session"
                )
            raise
        result.records_decrypted += 1
        self._mark_opened(protection, direction, opened[0])
        if self.inflaters is not None and not self.tls13:
            inflater = self.inflaters[direction]
            # RFC 5246 §6.2.2: a decompressed fragment never exceeds 2^14 + 1024 bytes.
            try:
                plain = inflater.decompress(opened[1], MAX_DECOMPRESSED)
            except zlib.error as exc:
                raise DecryptError(f"the compressed record does not inflate: {exc}") from exc
            if inflater.unconsumed_tail:
                raise DecryptError(
                    f"a compressed record inflates beyond {MAX_DECOMPRESSED} bytes (a zip bomb?)"
                )
            return opened[0], plain
        return opened

    def _mark_opened(self, protection: RecordProtection, direction: str, ctype: int) -> None:
        """Which part a record opened belongs to: in TLS 1.3 the keys tell (an alert under
        handshake keys ends the handshake); before, the content type (the Finished is the
        encrypted handshake)."""
        if protection is self.early:
            part: str | None = EARLY_DATA
        elif self.tls13:
            # Tried application keys open application data, whatever the phase said.
            part = (
                APPLICATION_DATA if protection is self.trial[direction] else self.phase[direction]
            )
        else:
            part = {22: HANDSHAKE, 23: APPLICATION_DATA}.get(ctype)
        if part is not None:
            self.opened.add((part, direction))
        if self.status == NO_SECRET:
            self.status = DECRYPTED  # 0-RTT opened with the early secret alone

    def application_data(self, direction: str, plaintext: bytes) -> None:
        result = self.results[direction]
        result.plaintext_bytes += len(plaintext)
        result.sha256.update(plaintext)
        if self.sink is not None and plaintext:
            self.sink(direction, plaintext)

    def to_json(self, failed_in_handshake: bool = False) -> dict[str, Any]:
        return parts.decryption_json(self, failed_in_handshake)
