"""tlslens.judge: one capture read with a command's options, judged alike for every
command (issue 23, item 4), on the project's recorded captures."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding

from tlslens.cli import main
from tlslens.errors import OptionError
from tlslens.judge import Judge, Reading, Selection, checker_given, secrets_given
from tlslens.model import Connection
from tlslens.x509 import pki

from _frames import tls12_capture
from conftest import CAPTURES, VECTORS

CHAINS = CAPTURES / "chains.pcapng"
CHAINS_ROOT = VECTORS / "chains" / "root.pem"
PKI = VECTORS / "pki"


def _judge(*, ca: Path | None = CHAINS_ROOT) -> Judge:
    warned: list[str] = []
    checker = checker_given("none", [ca] if ca else [], None, None, warn=warned.append)
    assert warned == []
    return Judge(checker)


def _codes(conn: Connection) -> list[str]:
    assert conn.validation is not None
    return [problem.code for problem in conn.validation.problems]


def test_connections_left_out_still_lend_their_certificates() -> None:
    """Connection 6 forgot its intermediate; 1 to 3, left out by the selection, sent it:
    the verdict says so, as `show --connection 6` and `show` say it."""
    reading = Reading(CHAINS, _judge(), selection=Selection(number=6))
    (conn,) = list(reading)
    assert conn.id == 6
    assert _codes(conn) == ["missing_intermediate", "intermediate_elsewhere_in_capture"]
    shown = CliRunner().invoke(
        main, ["show", "--json", "--connection", "6", str(CHAINS), "--ca", str(CHAINS_ROOT)]
    )
    (row,) = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [p["code"] for p in row["validation"]["problems"]] == _codes(conn)
    notes = reading.notes()
    assert notes.shown == 1
    assert notes.no_such_connection is None


def test_without_a_checker_no_chain_is_judged() -> None:
    """`decrypt` judges no chain: its connections carry no verdict."""
    conns = list(Reading(CHAINS, Judge()))
    assert [conn.id for conn in conns] == list(range(1, len(conns) + 1))
    assert all(conn.validation is None for conn in conns)


def test_the_closing_notes_are_data() -> None:
    """A key log for other connections, and a connection number the capture lacks, are
    said once for the capture; every connection was passed over, none shown."""
    keys = secrets_given([CAPTURES / "gnutls.keys"], [], None, warn=pytest.fail)
    reading = Reading(CHAINS, _judge(), keys=keys, selection=Selection(number=99))
    assert list(reading) == []
    notes = reading.notes()
    clients = reading.summary.client_randoms
    assert clients == reading.summary.tls_connections > 0
    assert notes.key_log_unmatched == (
        f"the key log matched 0 of {clients} client randoms: its secrets are for other "
        "connections (another capture, or another run of the client)"
    )
    assert notes.no_such_connection is not None
    assert notes.no_such_connection.startswith("there is no connection 99; the capture holds")
    assert notes.shown == 0
    assert notes.forward_secrecy == []  # said only with an RSA key


def test_the_forward_secrecy_tally_is_kept_only_with_an_rsa_key() -> None:
    """The tally says what an RSA key opens: with a key log alone no connection is counted
    into it (it cost every decrypted connection a hash of its master secret), with an RSA
    key every one is, shown or not."""
    keys = secrets_given([CAPTURES / "gnutls.keys"], [], None, warn=pytest.fail)
    reading = Reading(CHAINS, _judge(), keys=keys)
    assert list(reading) and reading.tally is None
    assert reading.notes().forward_secrecy == []
    rsa = secrets_given([], [str(PKI / "server.key")], None, warn=pytest.fail)
    reading = Reading(CAPTURES / "openssl-versions.pcapng", _judge(), keys=rsa)
    conns = list(reading)
    assert reading.tally is not None and sum(reading.tally.counts.values()) == len(conns) == 6
    assert reading.notes().forward_secrecy[0] == (
        "Forward secrecy in practice: the RSA key opens 3 of 6 sessions."
    )


def test_an_unusable_option_value_names_its_option(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-cert.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    with pytest.raises(OptionError) as caught:
        checker_given("none", [bad], None, None, warn=pytest.fail)
    assert caught.value.option == "--ca"
    with pytest.raises(OptionError) as caught:
        checker_given("none", [], None, "yesterday", warn=pytest.fail)
    assert caught.value.option == "--at"
    with pytest.raises(OptionError) as caught:
        secrets_given([], [], "zz", warn=pytest.fail)
    assert caught.value.option == "--psk"


def test_a_file_that_is_no_certificate_is_said_in_words(tmp_path: Path) -> None:
    """The parser's message is a Rust debug dump of ASN.1 tags (ParseError { kind: ...
    }): the option error says what the file is not instead."""
    text = tmp_path / "README.md"
    text.write_text("# a readme\n")
    result = CliRunner().invoke(main, ["show", str(CHAINS), "--ca", str(text)])
    assert result.exit_code == 2
    assert "neither a PEM file with a CERTIFICATE block nor a DER certificate" in result.output
    assert "ParseError" not in result.output and "Tag {" not in result.output
    missing = CliRunner().invoke(main, ["show", str(CHAINS), "--ca", str(tmp_path / "no")])
    assert "No such file or directory" in missing.output


def test_a_hostile_late_intermediate_reaches_no_terminal_raw(tmp_path: Path) -> None:
    """The closing note names an intermediate by its subject, which the server wrote: its
    control characters are replaced, as every other line from a certificate is."""
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    root = pki.make_root("tlslens judge root", now=now)
    intermediate = pki.make_intermediate("Evil\x1b[2J\x1b]0;owned\x07 CA", root, now=now)
    csr, _key, _story = pki.make_csr("judge.tlslens.test", ["judge.tlslens.test"])
    leaf = pki.sign_csr(csr, intermediate, now=now)
    leaf_der = leaf.certificate.public_bytes(Encoding.DER)
    middle_der = intermediate.certificate.public_bytes(Encoding.DER)
    capture = tmp_path / "late.pcapng"
    # The first connection forgets the intermediate; the second, later, sends it.
    sni = "judge.tlslens.test"
    tls12_capture(capture, [([leaf_der], sni), ([leaf_der, middle_der], sni)], now)
    root_pem = tmp_path / "root.pem"
    root_pem.write_bytes(root.certificate.public_bytes(Encoding.PEM))
    for command in (["show"], ["show", "--json"], ["certs"]):
        result = CliRunner().invoke(main, [*command, str(capture), "--ca", str(root_pem)])
        assert result.exit_code == 0, (command, result.output)
        said = result.stderr if "--json" in command else result.stdout
        (line,) = [line for line in said.splitlines() if "did not send" in line]
        assert "Connection 1 did not send CN=Evil\ufffd[2J\ufffd]0\\;owned\ufffd CA," in line
        assert "\x1b" not in result.output and "\x07" not in result.output, command
