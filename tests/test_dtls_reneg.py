"""DTLS 1.2 renegotiations read end to end (tests/vectors/captures/udp/dtls-reneg.pcapng and
its key log, recorded by tools/record_dtls.py; the captures README lists what it holds):
OpenSSL's client renegotiating with a ClientHello in epoch 1, OpenSSL's server asking for
it with a HelloRequest. Each new handshake numbers its messages from 0 again (RFC 6347
§4.2.2): read as a new handshake, not as retransmissions of the first, its keys derived
from its own ClientHello random. tshark (tests/_tshark.py) reads the renegotiation's
ClientHello with the first handshake's keys, and opens no record of epoch 2.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from tlslens.cli import main
from tlslens.events import EncryptedAlertEvent, EncryptedHandshakeEvent, HandshakeEvent
from tlslens.handshake import messages as hs
from tlslens.keys.files import add_keylog_file
from tlslens.keys.store import KeyStore
from tlslens.model import C2S, S2C, Connection
from tlslens.pipeline import read_capture
from tlslens.serialize import connection_to_json

from _tshark import _fields
from conftest import CAPTURES

UDP = CAPTURES / "udp"
CAPTURE, KEYS = UDP / "dtls-reneg.pcapng", UDP / "dtls-reneg.keys"
CLIENT_LINE, SERVER_LINE = b"hello from the DTLS client\n", b"hello from the DTLS server\n"
# (connection, the renegotiation's ClientHello frame, its Finished frames)
RENEGOTIATIONS = [(0, 13, (18, 19)), (1, 34, (41, 42))]


@pytest.fixture(scope="module")
def conns() -> list[Connection]:
    store = KeyStore()
    add_keylog_file(store, KEYS)
    return list(read_capture(CAPTURE, keys=store))


def _handshake_steps(conn: Connection) -> list[tuple[int, str, int, bool]]:
    """(frame, direction, type, decrypted) of each handshake message in the timeline."""
    return [
        (e.frame, e.direction, e.message.msg_type, e.decrypted)
        for e in conn.timeline
        if isinstance(e, HandshakeEvent)
    ]


@pytest.mark.parametrize(("index", "hello", "finished"), RENEGOTIATIONS)
def test_a_renegotiation_is_a_new_handshake_decrypted_whole(
    conns: list[Connection], index: int, hello: int, finished: tuple[int, int]
) -> None:
    conn = conns[index]
    steps = _handshake_steps(conn)
    # the renegotiation's ClientHello, sent in epoch 1, in the timeline as what it is
    assert (hello, C2S, hs.CLIENT_HELLO, True) in steps
    assert [h.client_hello_frame for h in conn.handshakes] == [conn.first_frame, hello]
    assert conn.renegotiation
    facts = conn.dtls
    assert facts is not None
    assert facts.retransmissions == {C2S: 0, S2C: 0} and facts.retransmitted == []
    # the renegotiation's Finished read and checked with its own master secret; every
    # record past epoch 0 opened; no finding
    for frame, direction in zip(finished, (C2S, S2C), strict=True):
        assert (frame, direction, hs.FINISHED, True) in steps
    assert facts.finished_verified == {C2S: True, S2C: True}
    assert facts.epochs == {C2S: [0, 1, 2], S2C: [0, 1, 2]}
    assert facts.records_failed == {C2S: 0, S2C: 0}
    assert not any(
        isinstance(e, EncryptedHandshakeEvent | EncryptedAlertEvent) for e in conn.timeline
    )
    assert conn.problems == []
    decryption = connection_to_json(conn)["decryption"]
    assert decryption["status"] == "decrypted"
    assert decryption["plaintext_bytes"] == {C2S: len(CLIENT_LINE), S2C: len(SERVER_LINE)}


def test_a_hello_request_asks_for_the_renegotiation(conns: list[Connection]) -> None:
    steps = _handshake_steps(conns[1])
    at = steps.index((33, S2C, hs.HELLO_REQUEST, True))
    assert steps[at + 1] == (34, C2S, hs.CLIENT_HELLO, True)
    # the renegotiation asks for the client's certificate: its CertificateVerify checked
    # against the new handshake's messages
    assert (41, C2S, hs.CERTIFICATE_VERIFY, True) in steps
    assert conns[1].client_certificates


def test_the_text_tells_the_renegotiation_and_no_loss(conns: list[Connection]) -> None:
    out = CliRunner().invoke(main, ["show", "--keylog", str(KEYS), str(CAPTURE)]).output
    assert "Retransmitted" not in out and "Problems" not in out
    assert "does not open" not in out and "Encrypted handshake message" not in out
    for _index, hello, _finished in RENEGOTIATIONS:
        assert re.search(rf"\nRenegotiation +yes, 1 time \(frame {hello}: DTLS 1\.2 ", out)
        assert re.search(rf"\n +#{hello} \S+ C → S ClientHello \(decrypted\)\n", out)
    assert out.count("both Finished verify") == 2
    matches = "tlslens recomputed it from the transcript and the keys: it matches"
    assert out.count(matches) == 8  # each side's Finished of each handshake


def test_tshark_reads_the_same_renegotiation_client_hello(
    conns: list[Connection], tshark: str
) -> None:
    """tshark opens epoch 1 with the first handshake's keys: the renegotiation's
    ClientHello is the one tlslens read, by frame and random; the records it counts past
    epoch 0 are the ones tlslens opened."""
    options = ["-o", f"tls.keylog_file:{KEYS}"]
    out = _fields(
        CAPTURE,
        options,
        "dtls.handshake.type == 1",
        ["frame.number", "dtls.handshake.random"],
        None,
    )
    randoms = dict(line.split("\t") for line in out.splitlines())
    for index, hello, _finished in RENEGOTIATIONS:
        mine = conns[index].client_hellos[-1].random
        assert randoms[str(hello)].replace(":", "") == mine.hex()
    epochs = _fields(CAPTURE, [], "dtls", ["udp.stream", "dtls.record.epoch"], None)
    past_zero = [0, 0]
    for line in epochs.splitlines():
        stream, listed = line.split("\t")
        past_zero[int(stream)] += sum(1 for e in listed.split(",") if e != "0")
    assert [sum(c.dtls.records_decrypted.values()) for c in conns if c.dtls] == past_zero
