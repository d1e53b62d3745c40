"""`tlslens report` (issue 11): the HTML page in a real browser (Playwright driving Debian's
Chromium), checked against `show --json` and `certs`; hostile strings stay text; the
terminal ladder; `show --json --reveal-keys` against the key log.

Screenshots are kept in test-artifacts/ at the top of the repository."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from tlslens.cli import main

from conftest import CAPTURES, require_program

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
PWNED = "window.__tlslens_pwned=1"
PAYLOADS = [
    f"<script>{PWNED}</script>",
    f'"><img src=x onerror="{PWNED}">',
    f"</script><script>{PWNED}</script>",
    f"javascript:{PWNED}",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = require_program("chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as play:
        launched = play.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


class Page:
    """A report opened in the browser, with what it logged, fetched and popped up."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page = self.page
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.url = path.resolve().as_uri()
        page.goto(self.url)
        page.wait_for_selector("body[data-ready='1']")

    def click_every_arrow(self) -> None:
        """Open the first connection of the table and click each arrow of its ladder."""
        p = self.page
        p.click("#rows tbody tr:first-child")
        p.wait_for_selector("#detail:not([hidden])")
        for arrow in range(p.locator("#ladder .arrow").count()):
            p.click(f"#ladder .arrow >> nth={arrow}")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def clean(self) -> None:
        assert self.errors == []
        assert self.requests == [self.url]  # nothing but the file itself
        assert self.dialogs == []
        self.page.close()


def _report(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", "-o", str(out), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def _rows(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["show", "--json", "--records", *args])
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_the_report_of_a_corpus_capture(corpus: Path, tmp_path: Path, browser: Any) -> None:
    capture = corpus / "wireshark-notes/tls/all/dump.pcapng"
    keys = ["--keylog", str(capture.parent / "premaster.txt")]
    out = _report(tmp_path, *keys, str(capture))
    html = out.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    rows = _rows(*keys, str(capture))
    assert len(rows) == 39
    page = Page(browser, out)
    p = page.page
    csp = p.get_attribute("meta[http-equiv='Content-Security-Policy']", "content") or ""
    assert csp.startswith("default-src 'none'; script-src 'sha256-")
    assert p.locator("#rows tbody tr").count() == len(rows)
    assert p.text_content("#shown") == f"{len(rows)} of {len(rows)} shown"
    page.shot("report-overview")

    # Sorting by SNI, both ways.
    snis = sorted(row["sni"] or "" for row in rows)
    p.click("#rows th[data-col='4']")
    assert p.text_content("#rows tbody tr:first-child td:nth-child(5)") == snis[0]
    p.click("#rows th[data-col='4']")
    assert p.text_content("#rows tbody tr:first-child td:nth-child(5)") == snis[-1]
    # Filtering by a client port: one row.
    target = rows[20]
    p.fill("#filter", target["client"])
    assert p.locator("#rows tbody tr").count() == 1
    assert p.text_content("#shown") == f"1 of {len(rows)} shown"

    # One connection: the ladder's arrows against its records and messages.
    p.click("#rows tbody tr:first-child")
    p.wait_for_selector("#detail:not([hidden])")
    assert p.get_attribute("#detail", "data-id") == str(target["id"])
    records = p.eval_on_selector_all(
        "#ladder .arrow.record", "els => els.reduce((n, e) => n + Number(e.dataset.count), 0)"
    )
    assert records == len(target["records"])
    messages = p.locator("#ladder .arrow.message").count()
    assert messages == len(target["handshake"]) + len(target["alerts"])
    assert p.locator("#ladder .arrow.t-alert").count() >= 1  # its close_notify, in red

    # An arrow's fields and bytes: hovering the random lights its 32 bytes, and a byte its field.
    p.click("#ladder .arrow.message >> nth=0")
    assert p.text_content("#inspect h4") == "ClientHello"
    p.hover("#inspect .field:has(> .fname:text-is('random'))")
    assert p.locator("#hex span.on").count() == 32
    p.hover("#hex span[data-byte='0']")
    assert p.locator("#inspect .field.on > .fname").first.text_content() == "msg_type"
    assert p.locator("#steps li.on").count() >= 1  # the narration of that frame, lit
    page.shot("report-connection")

    # The chain's verdict is the one `certs` gives.
    certs = CliRunner().invoke(
        main, ["certs", *keys, "--connection", str(target["id"]), str(capture)]
    )
    trusted = "trusted)" in certs.stdout and "NOT trusted" not in certs.stdout
    verdict = p.text_content("#chain > p")
    assert verdict is not None and verdict.startswith(
        "Verdict: trusted" if trusted else "Verdict: not trusted"
    )
    assert p.locator("#chain-cards .card").count() >= 1
    # The key derivation, with its proof.
    assert "client Finished verified, server Finished verified" in (
        p.text_content("#derivation .proof") or ""
    )
    page.clean()


@pytest.mark.parametrize(
    ("name", "line"), [("dtls13", "hello wolfssl!"), ("dtls", "hello from the DTLS client")]
)
def test_a_dtls_connection_opened_with_a_key_log_has_its_key_card(
    name: str, line: str, tmp_path: Path, browser: Any
) -> None:
    """A DTLS association decrypted with a key log (the project's DTLS 1.3 and DTLS 1.2
    captures) has the keys card a TCP connection has: where the secrets came from, what was
    derived, the Finished checked and the records opened, as `show --json --reveal-keys`
    says. It said "No secrets were given for this connection"."""
    capture, keys = CAPTURES / "udp" / f"{name}.pcapng", CAPTURES / "udp" / f"{name}.keys"
    out = _report(tmp_path, "--keylog", str(keys), str(capture))
    [row, *_] = _rows("--reveal-keys", "--keylog", str(keys), str(capture))
    decryption = row["decryption"]
    page = Page(browser, out)
    p = page.page
    p.click("#rows tbody tr:first-child")
    p.wait_for_selector("#detail:not([hidden])")
    assert p.get_attribute("#detail", "data-id") == str(row["id"])
    card = p.text_content("#keys") or ""
    assert "No secrets were given" not in card
    [derived] = [d for d in decryption["derived"] if d["handshake"] == 0]
    boxes = p.locator("#derivation .box strong").all_text_contents()
    names = [v["name"] for v in derived["values"]]
    assert [b.split(" (")[0] for b in boxes[2:]] == names  # after the two randoms
    schedule = p.text_content("#derivation .step-arrow") or ""
    assert ('"dtls13" labels (RFC 9147 §5.9)' in schedule) == (name == "dtls13")
    opened = decryption["records_decrypted"]
    assert opened["c2s"] and opened["s2c"]
    assert (
        "Proof: client Finished verified, server Finished verified; records decrypted: "
        f"{opened['c2s']} from the client, {opened['s2c']} from the server"
    ) == p.text_content("#derivation .proof")
    # What the keys opened: the client's first line (recorded by tools/record_dtls*.py).
    assert "The first bytes the client sent, decrypted with these keys:" in card
    assert line in (p.text_content("#derivation pre.plain") or "")
    page.clean()


def _hostile_certificate(tmp_path: Path) -> tuple[Path, Path, bytes]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, PAYLOADS[0]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, PAYLOADS[1]),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(p) for p in PAYLOADS[2:]]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "evil.pem", tmp_path / "evil.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, cert.public_bytes(serialization.Encoding.DER)


def _hostile_capture(path: Path, der: bytes) -> None:
    """A ClientHello whose SNI and ALPN are the payloads, and a server flight carrying the
    hostile certificate."""
    from tlslens.handshake import compose

    from _frames import write_conversation

    hello = compose.push_client_hello(
        compose.HelloSpec(
            legacy_version=0x0303,
            random=bytes(32),
            cipher_suites=(0xC02B,),
            server_name=PAYLOADS[0],
            groups=(23,),
            signature_algorithms=(0x0403,),
            alpn=PAYLOADS,
        )
    )
    server_hello = compose.push_handshake(2, b"\x03\x03" + bytes(32) + b"\x00\xc0\x2b\x00\x00\x00")
    entries = len(der).to_bytes(3, "big") + der
    flight = (
        server_hello
        + compose.push_handshake(11, len(entries).to_bytes(3, "big") + entries)
        + compose.push_handshake(14, b"")
    )
    write_conversation(
        path,
        [
            (0, compose.push_records(22, 0x0301, hello)),
            (1, compose.push_records(22, 0x0303, flight)),
        ],
        1_780_000_000 * 10**9,
    )


@pytest.fixture
def hostile_server(tmp_path: Path) -> Iterator[int]:
    """A TLS server on loopback with the hostile certificate that answers at once with
    HTTP headers carrying the payloads; stopped when the test ends."""
    cert, key, _der = _hostile_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    headers = "".join(f"X-Evil-{i}: {p}\r\n" for i, p in enumerate(PAYLOADS))
    answer = f"HTTP/1.1 200 OK\r\n{headers}Content-Length: 0\r\n\r\n".encode()

    def serve() -> None:
        try:
            sock, _addr = listener.accept()
            with context.wrap_socket(sock, server_side=True) as tls:
                tls.sendall(answer)
                tls.settimeout(2)
                try:
                    tls.recv(1024)
                except (OSError, ssl.SSLError):
                    pass
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(5)


def _overview(html: str) -> dict[str, Any]:
    """The overview block of a report page, unpacked as the page's script unpacks it."""
    import base64
    import gzip

    block = re.search(r'<script type="application/json" id="tlslens-overview">"(.*?)"', html)
    assert block is not None
    overview: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(block.group(1))))
    return overview


def test_the_report_of_several_captures(tmp_path: Path, browser: Any) -> None:
    """Two captures, each numbering its connections from 1: a file column, connections named
    by file and number (in the table, the detail and the link), and a filter that finds
    problem codes."""
    demo, versions = CAPTURES / "demo-tls12-tls13.pcapng", CAPTURES / "openssl-versions.pcapng"
    out = _report(tmp_path, str(demo), str(versions))
    overview = _overview(out.read_text())
    columns, rows = overview["columns"], overview["rows"]
    assert columns[:2] == ["id", "file"] and columns[-1] == "codes"
    assert [(row[0], row[1]) for row in rows] == [(1, str(demo)), (2, str(demo))] + [
        (n, str(versions)) for n in range(1, 7)
    ]
    codes = [row[-1].split() for row in rows]
    assert "deprecated_version" in codes[2] and "deprecated_version" in codes[3]
    assert all("untrusted_root" in found for found in codes[1:7])  # the last: TLS 1.3, no keys

    page = Page(browser, out)
    p = page.page
    assert p.text_content("#rows tbody tr:first-child td:first-child") == f"{demo}#1"
    p.fill("#filter", "deprecated_version")
    assert p.locator("#rows tbody tr").count() == 2
    p.click("#rows tbody tr:nth-child(2)")
    p.wait_for_selector("#detail:not([hidden])")
    assert p.get_attribute("#detail", "data-id") == f"{versions}#2"
    assert (p.text_content("#detail-title") or "").startswith(f"{versions} · Connection 2 ")
    link = p.evaluate("location.hash")
    assert link == "#connection-" + quote(str(versions), safe="") + "-2"
    # The link opens the same connection, not connection 2 of the first file.
    p.goto(page.url + "#connection-" + quote(str(demo), safe="") + "-2")
    p.wait_for_selector("body[data-ready='1']")
    p.wait_for_function(f"document.getElementById('detail').dataset.id === '{demo}#2'")
    page.clean()


def test_hostile_strings_render_as_text(tmp_path: Path, browser: Any, hostile_server: int) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _cert, _key, der = _hostile_certificate(tmp_path / "a")
    capture = tmp_path / "hostile.pcapng"
    _hostile_capture(capture, der)
    live = ["--connect", f"127.0.0.1:{hostile_server}", "--sni", "evil.test", "--timeout", "5"]
    reports = [_report(tmp_path / "a", str(capture)), _report(tmp_path / "b", *live)]
    for number, out in enumerate(reports):
        page = Page(browser, out)
        p = page.page
        page.click_every_arrow()
        text = p.text_content("body") or ""
        if number == 0:
            assert PAYLOADS[0] in text  # the SNI and the subject, shown as they are
            assert PAYLOADS[3] in text  # the SAN
            p.click("#ladder .arrow.message >> nth=0")
            assert "application_layer_protocol_negotiation" in (p.text_content("#inspect") or "")
        else:
            assert "X-Evil-2: " + PAYLOADS[2] in text  # the decrypted HTTP headers
            assert PAYLOADS[1] in text
        assert p.evaluate("window.__tlslens_pwned") is None
        assert p.locator("img").count() == 0 and p.locator("script").count() == 4  # our own
        page.shot(f"report-hostile-{number}")
        page.clean()


def test_report_usage_and_unreadable_input(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["report", "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "give CAPTURES or --connect" in result.stderr
    capture = CAPTURES / "demo-tls12-tls13.pcapng"
    result = runner.invoke(
        main, ["report", "-o", str(tmp_path / "no/such/dir/r.html"), str(capture)]
    )
    assert result.exit_code == 2 and "Invalid value for --output" in result.stderr
    assert "cannot write in" in result.stderr
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"not a capture at all")
    result = runner.invoke(main, ["report", "-o", str(tmp_path / "r.html"), str(garbage)])
    assert result.exit_code == 1 and "garbage.pcap" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_the_report_goes_through_a_link_or_a_pipe_and_replaces_neither(tmp_path: Path) -> None:
    """--output naming a link, or a pipe (as /dev/stdout may name one): the page is written
    through it, and the link or the pipe stays what it was. (Renaming the page into place
    replaced them: run as root, -o /dev/stdout replaced the link and -o /dev/full the
    device's node with the page.)"""
    capture = CAPTURES / "demo-tls12-tls13.pcapng"
    page, link = tmp_path / "page.html", tmp_path / "link.html"
    link.symlink_to(page)
    result = CliRunner().invoke(main, ["report", "-o", str(link), str(capture)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and page.read_text().startswith("<!doctype html>")
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(pipe.read_bytes()), daemon=True)
    reader.start()
    result = CliRunner().invoke(main, ["report", "-o", str(pipe), str(capture)])
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(pipe.lstat().st_mode)
    assert read and read[0].startswith(b"<!doctype html>") and read[0].endswith(b"</html>")


def test_show_ladder_in_a_pipe_is_plain_and_complete() -> None:
    capture = CAPTURES / "demo-tls12-tls13.pcapng"
    keys = CAPTURES / "demo-tls12-tls13.keys"
    done = subprocess.run(
        [sys.executable, "-m", "tlslens", "show", "--ladder", "--keylog", str(keys), str(capture)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "60"},
    )
    lines = done.stdout.splitlines()
    assert all(line.isascii() for line in lines if not line.startswith("──"))
    assert "\x1b" not in done.stdout
    arrows = [line for line in lines if line.startswith("#")]
    rows = _rows("--keylog", str(keys), str(capture))
    expected = sum(len(r["records"]) + len(r["handshake"]) + len(r["alerts"]) for r in rows)
    assert len(arrows) == expected  # no application data run long enough to merge here
    hello = next(line for line in arrows if "ClientHello" in line)
    assert hello.endswith(">|") and "EncryptedExtensions (decrypted)" in done.stdout
    assert any("<." in line and "ServerHello" in line for line in arrows)


def test_json_reveal_keys_gives_the_derived_secrets() -> None:
    import jsonschema

    capture = CAPTURES / "demo-tls12-tls13.pcapng"
    keys = CAPTURES / "demo-tls12-tls13.keys"
    schema = json.loads((ROOT / "src/tlslens/schema/connection.schema.json").read_text())
    plain = _rows("--keylog", str(keys), str(capture))
    assert all("derived" not in row["decryption"] for row in plain)
    result = CliRunner().invoke(
        main, ["show", "--json", "--reveal-keys", "--keylog", str(keys), str(capture)]
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    logged = {}
    for line in keys.read_text().splitlines():
        if line and not line.startswith("#"):
            label, _random, secret = line.split()
            logged.setdefault(label, set()).add(secret)
    for row in rows:
        jsonschema.validate(row, schema)
        (derived,) = row["decryption"]["derived"]
        values = {v["name"]: v["hex"] for v in derived["values"]}
        if row["version"] == "TLS 1.3":
            assert (
                values["server_handshake_traffic_secret"]
                in logged["SERVER_HANDSHAKE_TRAFFIC_SECRET"]
            )
            assert values["client_application_traffic_secret"] in logged["CLIENT_TRAFFIC_SECRET_0"]
            assert len(values["server_application_write_key"]) == 64  # AES-256
        else:
            assert values["master_secret"] in logged["CLIENT_RANDOM"]
            assert len(values["client_write_key"]) == 64


def test_the_page_script_builds_no_markup_from_strings() -> None:
    """Captured text only ever becomes text: the script has no HTML sinks and no eval, and
    the template marks nothing from a capture safe."""
    script = (ROOT / "src/tlslens/report/assets/report.js").read_text()
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setAttribute("style"',
        "href",
        "src=",
    ):
        assert sink not in script, sink
    template = (ROOT / "src/tlslens/report/assets/report.html.j2").read_text()
    assert "|safe" not in template.replace(" ", "") and "autoescape false" not in template


def test_every_kind_of_corpus_connection_opens_without_error(
    corpus: Path, tmp_path: Path, browser: Any
) -> None:
    """The report of the whole corpus (TLS 1.0 to 1.3, SSL 2.0, STARTTLS, gaps, broken
    handshakes): every tenth connection opened and three of its arrows inspected, with no
    error in the page."""
    captures = sorted(str(p) for p in corpus.rglob("*.pcap*") if p.is_file())
    out = _report(tmp_path, *captures)
    page = Page(browser, out)
    p = page.page
    total = int((p.text_content("#shown") or "0").split()[0])
    assert total > 300
    for number in range(0, total, 10):
        pg, row = divmod(number, 100)
        if pg and p.locator("#pages button[aria-current]").text_content() != str(pg + 1):
            p.click(f"#pages button:text-is('{pg + 1}')")
        p.locator("#rows tbody tr").nth(row).click()
        p.wait_for_selector("#detail:not([hidden])")
        arrows = p.locator("#ladder .arrow")
        count = arrows.count()
        for index in sorted({0, count // 2, count - 1} if count else set()):
            arrows.nth(index).click()
            assert p.text_content("#inspect h4")
        p.click("#back")
    page.clean()


def test_the_outcome_in_the_table_and_on_the_connection_page(tmp_path: Path, browser: Any) -> None:
    # aborted.pcapng: connection 1 is a TLS 1.3 handshake the client aborted in plaintext.
    out = _report(tmp_path, str(CAPTURES / "aborted.pcapng"))
    page = Page(browser, out)
    p = page.page
    headers = p.eval_on_selector_all("#rows th", "els => els.map((e) => e.textContent)")
    column = headers.index("outcome") + 1
    cell = f"#rows tbody tr:first-child td:nth-child({column})"
    assert p.text_content(cell) == "FAILED by client: certificate_expired"
    assert p.get_attribute(cell, "class") == "bad"
    p.click("#rows tbody tr:first-child")
    p.wait_for_selector("#detail:not([hidden])")
    first = p.eval_on_selector_all(
        "#summary tr:first-child td", "els => els.map((e) => e.textContent)"
    )
    assert first[0] == "Outcome"
    assert first[1].startswith(
        "FAILED by client — the client rejected the server's certificate: certificate_expired"
    )
    page.clean()
