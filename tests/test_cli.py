"""The command line: narration, JSON Lines against the schema, filters, bad input."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from tlslens.capture.writer import PcapngWriter
from tlslens.cli import main

from conftest import CAPTURES, ROOT

SCHEMA = json.loads((ROOT / "src/tlslens/schema/connection.schema.json").read_text())
DEMO = CAPTURES / "demo-tls12-tls13.pcapng"


def _run(*args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_show_narrates() -> None:
    code, out, _err = _run("show", str(DEMO))
    assert code == 0
    assert "Connection 1" in out and "Connection 2" in out
    assert "The server picked TLS 1.2 and TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" in " ".join(
        out.split()
    )
    assert (
        "ECDHE for key exchange, RSA to authenticate the server, AES-256 in GCM mode"
        in " ".join(out.split())
    )
    assert "Everything the server sends after its ServerHello is encrypted" in " ".join(out.split())


@pytest.mark.parametrize("capture", sorted(p.name for p in CAPTURES.glob("*.pcap*")))
def test_json_lines_follow_the_schema(capture: str) -> None:
    code, out, _err = _run("show", "--json", str(CAPTURES / capture))
    assert code == 0
    lines = out.splitlines()
    assert lines
    for line in lines:
        jsonschema.validate(json.loads(line), SCHEMA)


def test_json_lines_reach_a_text_only_stdout_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lines go to stdout's binary stream; an embedding's stdout without one (a StringIO)
    gets the same text."""
    _code, through_bytes, _err = _run("show", "--json", str(DEMO))
    text_only = io.StringIO()
    monkeypatch.setattr(sys, "stdout", text_only)
    with pytest.raises(SystemExit) as ended:
        main(["show", "--json", str(DEMO)])
    assert ended.value.code == 0
    assert text_only.getvalue() == through_bytes and through_bytes.count("\n") == 2


def test_json_fields() -> None:
    _code, out, _err = _run("show", "--json", str(CAPTURES / "nginx-curl.pcapng"))
    first = json.loads(out.splitlines()[0])
    assert first["client"].startswith("[::1]:") and first["server"].startswith("[::1]:")
    assert first["start_time"].endswith("Z")
    assert first["handshake"][0] == {
        "frame": first["handshake"][0]["frame"],
        "direction": "c2s",
        "type": "client_hello",
    }
    assert first["handshake"][-1]["type"] == "encrypted"


def test_filters() -> None:
    _code, out, _err = _run("show", "--json", "--connection", "2", str(DEMO))
    assert [json.loads(line)["id"] for line in out.splitlines()] == [2]
    _code, out, _err = _run("show", "--json", "--sni", "*.test", str(DEMO))
    assert len(out.splitlines()) == 2
    _code, out, _err = _run("show", "--json", "--sni", "other.example", str(DEMO))
    assert out == ""
    port = json.loads(out or _run("show", "--json", str(DEMO))[1].splitlines()[0])["server"].rsplit(
        ":", 1
    )[1]
    _code, out, _err = _run("show", "--json", "--server", f"127.0.0.1:{port}", str(DEMO))
    assert len(out.splitlines()) == 2
    _code, out, _err = _run("show", "--json", "--server", "127.0.0.1:1", str(DEMO))
    assert out == ""


def test_server_filter_by_port_alone() -> None:
    """`--server :PORT`, as --help says ("HOST and/or PORT")."""
    port = json.loads(_run("show", "--json", str(DEMO))[1].splitlines()[0])["server"].rsplit(":")[
        -1
    ]
    code, out, _err = _run("show", "--json", "--server", f":{port}", str(DEMO))
    assert code == 0 and [json.loads(line)["id"] for line in out.splitlines()] == [1, 2]
    code, out, err = _run("show", "--server", ":1", "--brief", str(DEMO))
    assert (code, out.startswith("#")) == (1, False)
    assert "no connection matches --server :1" in err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["show", "--sni", "other.example"], "no connection matches --sni other.example"),
        (["show", "--json", "--server", "[::1]:443"], "no connection matches --server [::1]:443"),
        (
            ["show", "--connection", "99"],
            "there is no connection 99; the capture holds 2 TLS connections",
        ),
        (["show", "--connection", "2", "--sni", "x.test"], "matches --connection 2 --sni x.test"),
        (["certs", "--connection", "99"], "there is no connection 99"),
        (["decrypt", "--connection", "3"], "there is no connection 3"),
        (["report", "--sni", "nothing.test", "-o", "{tmp}/r.html"], "matches --sni nothing.test"),
        (["report", "--connection", "5", "-o", "{tmp}/r.html"], "there is no connection 5"),
    ],
)
def test_a_filter_that_matches_nothing_fails(tmp_path: Path, args: list[str], said: str) -> None:
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    code, _out, err = _run(*args, str(DEMO))
    assert code == 1, args
    assert said in err


@pytest.mark.parametrize("command", ["show", "certs", "decrypt"])
def test_workers_is_gone_from_the_commands_that_read_one_capture(command: str) -> None:
    """--workers split one capture across processes; it went (one process reads a capture,
    extract keeps --workers for many): an old script that passes it gets click's error."""
    code, out, err = _run(command, "--workers", "2", str(DEMO))
    assert code == 2 and not out
    assert "No such option '--workers'" in err


# What show --json to a file or a pipe never uses: the progress bar (stderr is no terminal),
# the terminal's tables, the ladder.
_NOT_FOR_JSON = ("rich.progress", "rich.table", "tlslens.cli.drawing", "tlslens.explain.ladder")


def test_show_json_imports_only_what_it_uses() -> None:
    code = (
        "import sys\n"
        "from tlslens.cli import main\n"
        f"main(['show', '--json', {str(DEMO)!r}], standalone_mode=False)\n"
        f"print([m for m in {_NOT_FOR_JSON!r} if m in sys.modules], file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert len(done.stdout.splitlines()) == 2  # the two connections, written
    assert done.stderr.splitlines()[-1] == "[]"


def test_a_deprecated_version_is_a_named_problem() -> None:
    """TLS 1.0 and 1.1 (RFC 8996) negotiated: the problem code `deprecated_version`, in the
    JSON's problems, the narration and --brief, in the words `scan` uses for a server that
    accepts them."""
    from tlslens.tls.deprecated import WHY_DEPRECATED  # here: the module is new

    capture = CAPTURES / "openssl-versions.pcapng"  # TLS 1.0, 1.1, then 1.2 x3 and 1.3
    _code, out, _err = _run("show", "--json", str(capture))
    rows = [json.loads(line) for line in out.splitlines()]
    for row in rows:
        jsonschema.validate(row, SCHEMA)
    named = [[p for p in row["problems"] if p.get("code")] for row in rows]
    assert [len(found) for found in named] == [1, 1, 0, 0, 0, 0]
    tls10 = named[0][0]
    assert tls10["code"] == "deprecated_version" and tls10["direction"] == "s2c"
    assert tls10["frame"] == rows[0]["handshake"][1]["frame"]  # the ServerHello's
    assert tls10["message"] == f"negotiated TLS 1.0: {WHY_DEPRECATED['TLS 1.0']}"
    assert "deprecated by RFC 8996" in named[1][0]["message"]
    _code, text, _err = _run("show", "--connection", "2", str(capture))
    assert "Version          TLS 1.1 (deprecated_version: see the problems)" in text
    assert "deprecated_version: negotiated TLS 1.1: no client needs it" in text
    _code, brief, _err = _run("show", "--brief", str(capture))
    lines = brief.splitlines()
    assert lines[0].endswith("; 1 problem (deprecated_version)")
    assert lines[2].endswith("; 0 problems")


def test_ssl3_is_a_deprecated_version(corpus: Path) -> None:
    from tlslens.tls.deprecated import WHY_DEPRECATED

    _code, out, _err = _run("show", "--json", str(corpus / "wireshark/rsasnakeoil2.pcap"))
    for line in out.splitlines():
        (problem,) = [p for p in json.loads(line)["problems"] if p.get("code")]
        assert problem["message"] == f"negotiated SSL 3.0: {WHY_DEPRECATED['SSL 3.0']}"


def test_certs_no_color() -> None:
    """`certs --no-color`, as `show --no-color`: on a terminal (FORCE_COLOR), no colour."""
    colour = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])m")
    args = ["certs", "--connection", "2", str(DEMO)]
    runner = CliRunner(env={"FORCE_COLOR": "1", "NO_COLOR": None})
    coloured = runner.invoke(main, args, catch_exceptions=False)
    assert colour.search(coloured.stdout), "the terminal should see colours without the option"
    plain = runner.invoke(main, [*args, "--no-color"], catch_exceptions=False)
    assert plain.exit_code == 0 and "untrusted_root" in plain.stdout
    assert not colour.search(plain.stdout + plain.stderr)


def test_bad_files_one_line_each_and_exit_status(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n")
    code, out, err = _run("show", str(empty), str(text), str(tmp_path / "missing.pcap"))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 3
    # The file's name, then why (not "capture: ... at byte 0": newcomer's trial)
    assert lines[0].endswith("empty.pcap: the file is empty")
    assert lines[1].endswith("notes.txt: not a pcap or pcapng file (starts with 6e6f7420)")
    assert "missing.pcap: cannot read" in lines[2]
    # One readable file among them: its connections are shown, and the run fails as
    # extract's does (it said exit 0, extract 1, for the same captures).
    code, out, err = _run("show", "--json", str(empty), str(DEMO))
    assert code == 1 and len(out.splitlines()) == 2
    assert err.strip().endswith("empty.pcap: the file is empty")


def test_a_missing_capture_among_several_fails_show_report_and_extract_alike(
    tmp_path: Path,
) -> None:
    """README: exit status 1 when a capture given could not be read; the others are
    still read. show and report said 0 for "missing.pcap DEMO", extract 1."""
    missing = str(tmp_path / "missing.pcap")
    show = _run("show", "--brief", missing, str(DEMO))
    page = tmp_path / "report.html"
    report = _run("report", missing, str(DEMO), "-o", str(page))
    extract = _run("extract", missing, str(DEMO), "--out", str(tmp_path / "ds"))
    assert show[0] == report[0] == extract[0] == 1, (show, report, extract)
    assert len(show[1].splitlines()) == 3  # both connections and the summary
    assert "2 connections reported" in report[2] and page.stat().st_size > 0
    for _code, _out, err in (show, report, extract):
        assert f"{missing}: " in err


def test_truncated_capture_reports_and_goes_on(tmp_path: Path) -> None:
    data = DEMO.read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[: len(data) * 2 // 3])
    code, out, err = _run("show", str(cut))
    assert code == 0
    assert "Connection 1" in out
    assert "cut.pcapng" in err and "byte offset" in err and "frame" in err


def test_hostile_text_is_neutralised(tmp_path: Path) -> None:
    """An SNI carrying terminal escape sequences is shown inert."""
    from test_session import CLIENT_HELLO_BODY

    evil_name = b"\x1b[2J\x1b]0;pwned\x07evil.test"
    body = bytearray(CLIENT_HELLO_BODY)
    # replace "tlslens.test" (12 bytes) in the server_name extension, fixing the lengths
    old = b"tlslens.test"
    i = body.index(old)
    delta = len(evil_name) - len(old)
    body[i : i + len(old)] = evil_name
    for at, size in ((i - 2, 2), (i - 5, 2), (i - 7, 2), (2 + 32 + 33 + 10 + 2, 2)):
        value = int.from_bytes(body[at : at + size], "big") + delta
        body[at : at + size] = value.to_bytes(size, "big")
    hello = b"\x01" + len(body).to_bytes(3, "big") + bytes(body)
    record = b"\x16\x03\x01" + len(hello).to_bytes(2, "big") + hello
    tcp = (b"\xc3\x50\x01\xbb" + b"\0\0\0\1" + b"\0\0\0\0" + b"\x50\x18\xff\xff\0\0\0\0") + record
    ip = (
        b"\x45\x00"
        + (20 + len(tcp)).to_bytes(2, "big")
        + b"\0\1\0\0\x40\x06\0\0"
        + b"\x0a\0\0\1\x0a\0\0\2"
    ) + tcp
    path = tmp_path / "evil.pcapng"
    with path.open("wb") as handle:
        writer = PcapngWriter(handle)
        writer.add_interface(101)
        writer.add_packet(0, ip)
    code, out, _err = _run("show", str(path))
    assert code == 0
    assert "evil.test" in out
    assert "\x1b" not in out and "\x07" not in out
    _code, out, _err = _run("show", "--json", str(path))
    assert "\x1b" not in out and json.loads(out)["sni"].startswith("\x1b[2J")


def test_console_script_help_and_wrong_argument() -> None:
    exe = Path(sys.executable).parent / "tlslens"
    done = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "show" in done.stdout
    done = subprocess.run(
        [str(exe), "show", "--connection", "x", str(DEMO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "is not a valid integer" in done.stderr


@pytest.mark.parametrize("command", ["decrypt", "certs", "show"])
def test_a_closed_pipe_ends_quietly(command: str) -> None:
    """`tlslens COMMAND … | head` exits 0 with nothing on stderr: rich's own handling of the
    closed pipe would exit 1 (certs did, before its console was a PipedConsole)."""
    import fcntl
    import os

    capture = CAPTURES / "nginx-h2"
    argv = [sys.executable, "-m", "tlslens", command, f"{capture}.pcapng"]
    read, write = os.pipe()
    # A one-page pipe: the narration (over 10 kB) cannot all fit before the reader goes.
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)
    with subprocess.Popen(
        [*argv, "--keylog", f"{capture}.keys"],
        stdout=write,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        os.close(write)
        assert os.read(read, 1)  # what `head` reads before it leaves
        os.close(read)
        _out, err = child.communicate(timeout=60)
    assert (child.returncode, err) == (0, "")


def test_decrypt_dump_says_each_chunk_s_direction() -> None:
    """In a file or a pipe the dump has no colour: each chunk is headed by its direction
    (before, client and server bytes ran together)."""
    capture = CAPTURES / "nginx-curl"
    result = CliRunner().invoke(
        main,
        [
            *("decrypt", f"{capture}.pcapng", "--keylog", f"{capture}.keys"),
            *("--connection", "2", "--max-dump", "100"),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    request = lines.index("client → server (82 bytes)")
    assert lines[request + 1] == "GET / HTTP/1.1"  # CRLF a line end, not a dot (review)
    answer = lines.index("server → client (165 bytes, first 100 shown)")
    assert lines[answer + 1] == "HTTP/1.1 200 OK" and answer > request
