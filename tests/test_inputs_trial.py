"""What a user gives, said as what it is (the newcomer's trial of the inputs): a capture
given as the key log, a key log beside a pcapng that carries its own secrets, a damaged or
foreign gzip stream, a directory given as the capture, an --ca root as the trust anchor,
and a --brief line that must not blame the key log where the full reason clears it. Built
from the demo capture and its key log (tests/vectors/captures)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from click.testing import CliRunner

from tlslens.capture.writer import PcapngWriter
from tlslens.cli import main

from _frames import read_frames
from conftest import CAPTURES

DEMO = CAPTURES / "demo-tls12-tls13.pcapng"
KEYS = CAPTURES / "demo-tls12-tls13.keys"
ROOT_PEM = CAPTURES.parent / "pki" / "root.pem"
KEY_SOURCE = "tlslens did the same, from "


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"SSLKEYLOGFILE": None})
    return result.exit_code, result.stdout, result.stderr


def _with_secrets(tmp_path: Path) -> Path:
    """The demo capture with its whole key log in a Decryption Secrets Block."""
    path = tmp_path / "with-dsb.pcapng"
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        writer.add_secrets(KEYS.read_bytes())
        for ts, _linktype, data in read_frames(DEMO):
            writer.add_packet(ts, data)
    return path


def _sources(narration: str) -> list[str]:
    return [line.split(KEY_SOURCE, 1)[1] for line in narration.splitlines() if KEY_SOURCE in line]


def test_a_capture_given_as_the_key_log_is_said_once_and_left_out() -> None:
    status, out, err = _run("show", "--brief", "--keylog", str(DEMO), str(DEMO))
    assert status == 0
    assert "unknown label" not in err
    assert err.splitlines()[0] == (
        f"{DEMO}: not a key log: it is a pcapng capture (its first bytes are 0a0d0d0a); read "
        "without it (a capture's own Decryption Secrets Blocks are read when it is given as "
        "the capture)"
    )
    assert len(out.splitlines()) == 3  # both connections and the summary, read as without it


def test_a_capture_given_as_the_key_log_is_not_read_whole(tmp_path: Path) -> None:
    """A capture given as --keylog is told by its first bytes; it was read whole first (a
    180 MB capture given as --keylog made a `show` of 202 MB). Here 400 MB: the demo
    capture's bytes, then a sparse run of zeros."""
    import adversarial

    big = tmp_path / "big.pcapng"
    with big.open("wb") as out:
        out.write(DEMO.read_bytes())
        out.truncate(400 << 20)
    _seconds, peak, status, out, err = adversarial.run_tlslens(
        "show", "--brief", "--keylog", str(big), str(DEMO)
    )
    assert status == 0, err
    assert f"{big}: not a key log: it is a pcapng capture" in err
    assert peak < 200, peak  # MB: the interpreter and its modules, not the file


def test_a_capture_given_as_the_key_log_is_no_secret_given(tmp_path: Path) -> None:
    """Its Decryption Secrets Blocks hold the very secrets, yet it is not read as a key log:
    the reason says nothing usable was given (it said "the secrets given hold nothing")."""
    status, out, _err = _run("show", "--json", "--keylog", str(_with_secrets(tmp_path)), str(DEMO))
    assert status == 0
    reasons = [json.loads(line)["decryption"]["reason"] for line in out.splitlines()]
    assert len(reasons) == 2
    for reason in reasons:
        assert reason.startswith("no usable secret was given and the capture carries none: ")
        assert reason.endswith("cannot be looked up")


def test_a_gzip_capture_given_as_the_key_log_is_named_compressed(tmp_path: Path) -> None:
    packed = tmp_path / "demo.pcapng.gz"
    packed.write_bytes(gzip.compress(DEMO.read_bytes(), mtime=0))
    status, _out, err = _run("show", "--brief", "--keylog", str(packed), str(DEMO))
    assert status == 0
    assert "it is a pcapng capture (its first bytes are 1f8b0800, gzip-compressed)" in err


def test_a_key_log_beside_the_capture_s_own_secrets(tmp_path: Path) -> None:
    capture = _with_secrets(tmp_path)
    # Nothing usable given: the capture's secrets decrypt it, and no warning says otherwise.
    empty = tmp_path / "empty.keys"
    empty.write_text("# nothing here\n")
    status, out, err = _run("show", "--brief", "--keylog", str(empty), str(capture))
    assert status == 0
    assert "no usable secret" not in err
    assert out.count("decrypted: handshake and application data") == 2
    # The user's file holds the TLS 1.2 connection's line (the block holds it too): each
    # connection names the source its secrets were taken from.
    tls12 = tmp_path / "tls12.keys"
    tls12.write_text(
        "".join(line for line in KEYS.read_text().splitlines(True) if "CLIENT_RANDOM" in line)
    )
    status, out, err = _run("show", "--keylog", str(tls12), str(capture))
    assert status == 0, err
    assert _sources(out) == [
        "the key log inside the pcapng (Decryption Secrets Block).",
        "the key log.",
    ]


def test_no_usable_secret_is_said_once_the_capture_is_read_and_had_none(tmp_path: Path) -> None:
    empty = tmp_path / "empty.keys"
    empty.write_text("# nothing here\n")
    status, _out, err = _run("show", "--brief", "--keylog", str(empty), str(DEMO))
    assert status == 0
    assert err.splitlines()[-1] == (
        f"{DEMO}: no usable secret in what was given, nor in the capture: no connection "
        "could be decrypted"
    )


def test_a_damaged_gzip_capture_is_said_to_be_one(tmp_path: Path) -> None:
    packed = gzip.compress(DEMO.read_bytes(), mtime=0)
    cut = tmp_path / "cut.pcapng.gz"
    cut.write_bytes(packed[:30])
    status, _out, err = _run("show", str(cut))
    assert status == 1
    assert err.strip() == (
        f"{cut}: a gzip stream that cannot be read past compressed byte 30, before any "
        "decompressed byte: compressed data is damaged or cut short (Compressed file ended before the "
        "end-of-stream marker was reached)"
    )
    garbage = tmp_path / "garbage.gz"
    garbage.write_bytes(gzip.compress(b"\x5d\x42\xc1\xb1 not a capture", mtime=0))
    status, _out, err = _run("show", str(garbage))
    assert status == 1
    assert err.strip() == (
        f"{garbage}: a gzip stream whose decompressed content is not a pcap or pcapng "
        "capture (it starts with 5d42c1b1)"
    )


def test_a_directory_as_the_capture_fails_as_a_missing_file_does(tmp_path: Path) -> None:
    for command in ("show", "certs", "decrypt"):
        missing = _run(command, str(tmp_path / "missing.pcapng"))
        folder = _run(command, str(tmp_path))
        assert missing[0] == folder[0] == 1, (command, missing, folder)
        assert folder[2].strip() == (
            f"{tmp_path}: cannot read: it is a directory, not a capture file (tlslens "
            "extract searches folders)"
        )


def test_an_anchor_given_with_ca_names_its_file() -> None:
    status, out, _err = _run(
        "certs", str(DEMO), "--keylog", str(KEYS), "--connection", "1", "--ca", str(ROOT_PEM)
    )
    assert status == 0
    assert f"CN=tlslens lab root CA,O=tlslens lab [trust anchor, from --ca {ROOT_PEM}]" in out
    assert "mozilla+ca store]" not in out


def test_the_brief_line_does_not_blame_the_key_log_the_reason_clears() -> None:
    args = ("show", "--keylog", str(KEYS), "--max-message", "100", str(DEMO))
    _status, full, _err = _run(*args, "--connection", "1")
    assert "the key log's secrets for client random e6d4f0e69bf8… are not at fault" in full
    _status, brief, _err = _run(*args, "--connection", "1", "--brief")
    assert brief.splitlines()[0].endswith(
        "not decrypted: no ServerHello read, so the secrets cannot be used (the key log is "
        "not at fault)"
    )
    assert "no secret" not in brief


def test_a_capture_s_own_secrets_are_not_used_for_the_next_capture(tmp_path: Path) -> None:
    # Two captures in one run, the first carrying its secrets: the second is read with what
    # the user gave alone, as tshark reads each file (it was decrypted "from the key log
    # inside the pcapng" it does not have, and no note said the key log was of no use).
    capture = _with_secrets(tmp_path)
    empty = tmp_path / "empty.keys"
    empty.write_text("# nothing here\n")
    status, out, err = _run("show", "--brief", "--keylog", str(empty), str(capture), str(DEMO))
    assert status == 0, err
    first, second = out.split(f"{capture}: pcapng", 1)
    assert first.count("decrypted: handshake and application data") == 2
    assert "decrypted: handshake" not in second
    assert f"{capture}: no usable secret" not in err
    assert f"{DEMO}: no usable secret in what was given, nor in the capture" in err


def test_a_secret_a_capture_replaced_is_the_user_s_again_for_the_next(tmp_path: Path) -> None:
    # The first capture's block holds another secret for the TLS 1.2 connection's random:
    # it is that capture's to use; the next capture gets the user's line back.
    lines = [line for line in KEYS.read_text().splitlines(True) if "CLIENT_RANDOM" in line]
    label, random, _secret = lines[0].split()
    path = tmp_path / "wrong-dsb.pcapng"
    with path.open("wb") as out_file:
        writer = PcapngWriter(out_file)
        writer.add_interface(tsresol=9)
        writer.add_secrets(f"{label} {random} {'00' * 48}\n".encode())
        for ts, _linktype, data in read_frames(DEMO):
            writer.add_packet(ts, data)
    status, out, err = _run("show", "--keylog", str(KEYS), "--json", str(path), str(DEMO))
    assert status == 0, err
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    by_file = {(row["file"], row["version"]): row["decryption"] for row in rows if "file" in row}
    assert by_file[(str(path), "TLS 1.2")]["status"] == "wrong_secret"
    assert by_file[(str(path), "TLS 1.2")]["source"] == "pcapng"
    assert by_file[(str(DEMO), "TLS 1.2")]["status"] == "decrypted"
    assert by_file[(str(DEMO), "TLS 1.2")]["source"] == "keylog"


def _one_connection(source: Path, port: int, path: Path) -> Path:
    """The Ethernet/IPv4 frames of ``source`` to or from TCP ``port``, as a pcapng."""
    with path.open("wb") as out:
        writer = PcapngWriter(out)
        writer.add_interface(tsresol=9)
        for ts, _linktype, data in read_frames(source):
            tcp = 14 + (data[14] & 0x0F) * 4
            if port in (
                int.from_bytes(data[tcp : tcp + 2]),
                int.from_bytes(data[tcp + 2 : tcp + 4]),
            ):
                writer.add_packet(ts, data)
    return path


def test_a_session_learnt_in_one_capture_does_not_open_the_next(tmp_path: Path) -> None:
    # The abbreviated handshake alone in the second capture, the key log without its line:
    # it was decrypted with the session learnt in the first capture, said "from the session
    # this one resumes (found earlier in the capture)" beside "Resumed: ... issued before this
    # capture"; tshark cannot open it from that file. Now it is read as the file alone is.
    resumption = CAPTURES / "openssl-resumption.pcap"
    abbreviated = _one_connection(resumption, 40098, tmp_path / "abbreviated.pcapng")
    random = "7733831efa8dd90ac76a7fc9100a809b30554827b70be0e2e9d7a61274259bc6"
    keys = tmp_path / "without-it.keys"
    keys.write_text(
        "".join(
            line
            for line in (CAPTURES / "openssl-resumption.keys").read_text().splitlines(True)
            if random not in line.lower()
        )
    )
    status, out, err = _run(
        "show", "--json", "--keylog", str(keys), str(resumption), str(abbreviated)
    )
    assert status == 0, err
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    first = [r["decryption"] for r in rows if r.get("file") == str(resumption)]
    assert [d["source"] for d in first][1] == "resumed_session"  # within its own capture
    (alone,) = [r["decryption"] for r in rows if r.get("file") == str(abbreviated)]
    _status, by_itself, _err = _run("show", "--json", "--keylog", str(keys), str(abbreviated))
    assert alone == json.loads(by_itself.splitlines()[0])["decryption"]
    assert alone["status"] == "no_secret"
