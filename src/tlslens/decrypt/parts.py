"""What a connection's secrets opened, part by part, and which key-log labels it lacked.

A key log is often partial: a TLS 1.3 client that aborts its handshake logged the
handshake secrets and never the application ones. ``decryption`` in ``show --json``
says which parts were read (the handshake, the application data each way, 0-RTT) and
names each secret that was missing, so that "decrypted" never hides half a connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tlslens.keys.keylog import (
    CLIENT_RANDOM,
    EARLY,
    TLS13_APPLICATION_LABELS,
    TLS13_TRAFFIC_LABELS,
)

if TYPE_CHECKING:
    from tlslens.decrypt.connection import ConnectionDecryptor

C2S = "c2s"
S2C = "s2c"
HANDSHAKE = "handshake"
APPLICATION_DATA = "application_data"
EARLY_DATA = "early_data"
NO_SECRET = "no_secret"
DECRYPTED = "decrypted"


def missing_secrets(dec: ConnectionDecryptor, failed_in_handshake: bool = False) -> list[str]:
    """The key-log labels this connection's records need and the key log lacks: the four
    TLS 1.3 traffic secrets (and the early one where 0-RTT was sent), or CLIENT_RANDOM
    when no other source (RSA key, PSK, a resumed session) gave the master secret.

    A TLS 1.3 handshake that failed before it completed never reached its application
    traffic secrets (the aborting side never derived them, so no key log can hold them):
    they are not asked for then."""
    if not dec.client_random:
        return []
    labels = [EARLY] if dec.early_seen else []
    if dec.tls13:
        labels += TLS13_TRAFFIC_LABELS
        if failed_in_handshake:
            labels = [label for label in labels if label not in TLS13_APPLICATION_LABELS]
    elif dec.version is not None and dec.master_secret is None:
        labels.append(CLIENT_RANDOM)
    return [label for label in labels if dec.store.keylog.get(label, dec.client_random) is None]


def decryption_json(dec: ConnectionDecryptor, failed_in_handshake: bool = False) -> dict[str, Any]:
    """The ``decryption`` object of ``show --json`` (connection.schema.json)."""
    reason = dec.reason
    missing = missing_secrets(dec, failed_in_handshake)
    if dec.status == NO_SECRET and reason is None:
        random = f"client random {dec.client_random[:6].hex()}…"
        if not dec.client_random:
            reason = "no ClientHello was seen, so no secret can be looked up"
        elif dec.store.keylog.knows(dec.client_random):
            # Application secrets are tried record by record: none opened.
            reason = f"the key log's secrets for {random} open no record of this connection"
        else:
            reason = f"the secrets given hold nothing for {random}"
    elif dec.status == DECRYPTED and reason is None and missing:
        # A renegotiation looks its secrets up by its own client random.
        which = (
            f"renegotiation {len(dec.derivations) - 1} (client random "
            f"{dec.client_random[:6].hex()}…)"
            if len(dec.derivations) > 1
            else "this session"
        )
        reason = f"the key log has no {', '.join(missing)} for {which}"
    results = dec.results
    return {
        "status": dec.status,
        "source": dec.source,
        "reason": reason,
        "finished_verified": {d: r.finished_verified for d, r in results.items()},
        "records_decrypted": {d: r.records_decrypted for d, r in results.items()},
        "records_failed_integrity": {d: r.records_failed_integrity for d, r in results.items()},
        "plaintext_bytes": {d: r.plaintext_bytes for d, r in results.items()},
        "plaintext_sha256": {d: r.sha256.hexdigest() for d, r in results.items()},
        "opened": {
            HANDSHAKE: {d: (HANDSHAKE, d) in dec.opened for d in (C2S, S2C)},
            APPLICATION_DATA: {d: (APPLICATION_DATA, d) in dec.opened for d in (C2S, S2C)},
            EARLY_DATA: (EARLY_DATA, C2S) in dec.opened,
        },
        "missing_secrets": missing,
    }
