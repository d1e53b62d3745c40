"""The core's per-connection decryptor (crates/tlslens-core/src/decrypt) through its Python
boundary: the key log held in the core, the RSA premaster asked of Python once per
connection, the connection's decryption crossing into Python whole."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import tlslens
from tlslens import _core
from tlslens.keys.files import add_keylog_file, load_rsa_key
from tlslens.keys.store import KeyStore
from tlslens.tls.content import message_content

from conftest import CAPTURES, VECTORS

CLIENT_RANDOM = bytes([0xC1]) * 32


def _message(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def _hellos(suite: int) -> tuple[bytes, bytes]:
    ch = _message(
        1,
        b"\x03\x03"  # legacy_version
        + CLIENT_RANDOM
        + b"\x00"  # legacy_session_id
        + b"\x00\x02"
        + suite.to_bytes(2, "big")  # cipher_suites
        + b"\x01\x00"  # compression: null
        + b"\x00\x00",  # no extensions
    )
    sh = _message(2, b"\x03\x03" + b"\x5e" * 32 + b"\x00" + suite.to_bytes(2, "big") + b"\x00")
    return ch, sh


def _handshake(content: _core.Content, *messages: tuple[int, bytes]) -> None:
    """Whole handshake messages of (side, raw) through the core's content layer (client:
    side 0), which feeds them to its decryptor."""
    for side, raw in messages:
        content.message(side, raw, 0, False, at=(0, 0))


def test_an_rsa_key_exchange_is_asked_of_python_once_and_its_answer_used() -> None:
    key = load_rsa_key(VECTORS / "pki" / "server.key")
    store = KeyStore(rsa_keys=[key])
    dec = _core.Decryptor(store)
    ch, sh = _hellos(0x002F)  # TLS_RSA_WITH_AES_128_CBC_SHA
    premaster = b"\x03\x03" + bytes(range(46))
    encrypted = key.public_key().encrypt(premaster, padding.PKCS1v15())
    cke = _message(16, len(encrypted).to_bytes(2, "big") + encrypted)
    asked: list[tuple[bytes, tuple[int, int]]] = []

    def answer(request: bytes, versions: tuple[int, int]) -> bytes:
        asked.append((request, versions))
        return premaster

    content = _core.Content(
        client_side=0,
        max_message=_core.MAX_HANDSHAKE_MESSAGE,
        known_types=[1, 2, 16],
        keep_plaintext=False,
        keep_records=False,
        decryptor=dec,
        rsa=answer,
    )
    _handshake(content, (0, ch), (1, sh), (0, cke))
    assert asked == [(encrypted, (0x0303, 0x0303))]
    assert (dec.status, dec.source) == ("decrypted", "rsa_key")
    names = [name for name, _ in dec.derivation]
    assert names[:2] == ["pre_master_secret", "master_secret"]
    assert dict(dec.derivation)["pre_master_secret"] == premaster
    # Through the answer the capture path gives, a key that does not open it.
    wrong = KeyStore(rsa_keys=[rsa.generate_private_key(public_exponent=65537, key_size=2048)])
    other = _core.Decryptor(wrong)
    _handshake(
        message_content(_core.MAX_HANDSHAKE_MESSAGE, other, wrong), (0, ch), (1, sh), (0, cke)
    )
    assert other.status == "no_secret"
    assert "does not open this ClientKeyExchange" in (other.to_json()["reason"] or "")


def test_the_key_log_is_parsed_and_held_by_the_core() -> None:
    store = KeyStore()
    text = f"CLIENT_RANDOM {CLIENT_RANDOM.hex()} {'11' * 48}\r\nbad line\n"
    assert store.keylog.add_text(text, "dsb", "pcapng") == 1
    assert isinstance(store.keylog, _core.KeyLog)
    assert store.keylog.origin("CLIENT_RANDOM", CLIENT_RANDOM) == "pcapng"
    assert [str(p) for p in store.keylog.problems] == ["dsb, line 2: unknown label 'bad'"]
    assert store.keylog.secrets == {("CLIENT_RANDOM", CLIENT_RANDOM): b"\x11" * 48}
    dec = _core.Decryptor(store)
    ch, sh = _hellos(0xC02F)  # TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    _handshake(message_content(_core.MAX_HANDSHAKE_MESSAGE, dec, store), (0, ch), (1, sh))
    assert (dec.status, dec.source) == ("decrypted", "pcapng")
    assert dec.master_secret == b"\x11" * 48


@pytest.mark.parametrize("name", ["nginx-curl", "openssl-resumption"])
def test_each_connection_is_decrypted_by_the_core(name: str) -> None:
    capture = next(p for p in CAPTURES.glob(f"{name}.pcap*"))
    store = KeyStore()
    add_keylog_file(store, Path(capture).with_suffix(".keys"))
    plain: dict[tuple[int, str], bytearray] = {}

    def sink(stream: int, direction: str, data: bytes) -> None:
        plain.setdefault((stream, direction), bytearray()).extend(data)

    conns = list(tlslens.read_capture(capture, keys=store, plaintext_sink=sink))
    assert conns and all(isinstance(c.decryption, _core.Decryptor) for c in conns)
    for conn in conns:
        state = conn.decryption.to_json()
        assert state["status"] == "decrypted", state
        for direction in ("c2s", "s2c"):
            data = bytes(plain.get((conn.tcp_stream, direction), b""))
            # The sink got each plaintext in order: the core hashed the same bytes.
            assert state["plaintext_sha256"][direction] == hashlib.sha256(data).hexdigest()
            assert state["plaintext_bytes"][direction] == len(data)
