"""Record the project's own test captures from real TLS stacks on loopback.

Usage (as root, with openssl, gnutls-bin, nginx, curl and dumpcap installed):
    python tools/record_captures.py [--out tests/vectors/captures] [--only NAME ...]

Each scenario starts a real server on 127.0.0.1 (or ::1) on a free port,
captures that port with dumpcap (pcapng) or tcpdump (pcap), runs real clients
against it, and stops everything. Key logs are written next to each capture
(OpenSSL -keylogfile, SSLKEYLOGFILE for curl/GnuTLS/Python) for the decryption
work. The lab PKI (a root, an intermediate, a server and a client certificate,
and an unrelated root for the unknown-CA case) is made here with `cryptography`
and kept in tests/vectors/pki so that captures and keys stay consistent.

The expected facts of every scenario are in tests/vectors/captures/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tlslens.capture import open_capture
from tlslens.capture.writer import LINKTYPE_ETHERNET, PcapngWriter
from tlslens.x509 import pki

ROOT = Path(__file__).resolve().parent.parent
PKI = ROOT / "tests" / "vectors" / "pki"
OUT = ROOT / "tests" / "vectors" / "captures"
HOST = "127.0.0.1"
NAME = "tlslens.test"

# A fixed validity window so regenerated certificates mean the same thing.
NOT_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2036, 1, 1, tzinfo=dt.UTC)


# -- lab PKI ---------------------------------------------------------------------


def make_pki(pki_dir: Path) -> None:
    """root -> intermediate -> server (RSA, for RSA key exchange) and client; an ECDSA server;
    an unrelated root for the unknown-CA case. Made once; the committed files are reused."""
    if (pki_dir / "server.pem").exists():
        return
    pki_dir.mkdir(parents=True, exist_ok=True)
    now = NOT_BEFORE + dt.timedelta(minutes=5)
    days = (NOT_AFTER - NOT_BEFORE).days
    root = pki.make_root("tlslens lab root CA", now=now, days=days)
    inter = pki.make_intermediate("tlslens lab intermediate CA", root, now=now, days=days)
    issued: dict[str, pki.Issued] = {"root": root, "intermediate": inter}
    for label, cn, sans, key_type, client in (
        ("server", NAME, [NAME, "localhost"], "rsa", False),
        ("ecdsa", "ecdsa." + NAME, ["ecdsa." + NAME, "localhost"], "ec", False),
        ("client", "tlslens lab client", ["client.tlslens.test"], "ec", True),
    ):
        csr, key, _story = pki.make_csr(cn, sans, pki.new_key(key_type))
        cert = pki.sign_csr(csr, inter, now=now, days=days, client=client).certificate
        issued[label] = pki.Issued(cert, key, "")
    issued["other-root"] = pki.make_root("unrelated root CA", now=now, days=days)
    for label, item in issued.items():
        (pki_dir / f"{label}.pem").write_bytes(pki.pem_cert(item.certificate))
        if item.key is not None and label != "other-root":
            (pki_dir / f"{label}.key").write_bytes(pki.pem_key(item.key))
    chain = pki.pem_cert(inter.certificate)
    for label in ("server", "ecdsa", "client"):
        (pki_dir / f"{label}-chain.pem").write_bytes(
            pki.pem_cert(issued[label].certificate) + chain
        )


def _lab_ca(pki_dir: Path) -> pki.Issued:
    key = serialization.load_pem_private_key((pki_dir / "intermediate.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    cert = x509.load_pem_x509_certificate((pki_dir / "intermediate.pem").read_bytes())
    return pki.Issued(cert, key, "")


def make_ocsp_response(pki_dir: Path, work: Path) -> Path:
    """A 'good' OCSP response for the server certificate, signed by its issuer."""
    server = x509.load_pem_x509_certificate((pki_dir / "server.pem").read_bytes())
    der, _story = pki.make_ocsp_response(server, _lab_ca(pki_dir), now=dt.datetime.now(dt.UTC))
    path = work / "ocsp-good.der"
    path.write_bytes(der)
    return path


# -- processes -------------------------------------------------------------------


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port free for ``kind`` (TCP by default, SOCK_DGRAM for the QUIC and DTLS servers)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, host: str = HOST, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while time.monotonic() < deadline:
        with socket.socket(family) as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port}")


def wait_listening(
    port: int, timeout_s: float = 10.0, kind: socket.SocketKind = socket.SOCK_STREAM
) -> None:
    """Wait until something listens on the port (bound, for SOCK_DGRAM), without
    connecting (nothing to capture)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                return  # taken: the server is up
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port}")


@contextmanager
def process(cmd: list[str], **kw: object) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        **kw,
    )  # type: ignore[call-overload]
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def capture(path: Path, port: int, port_filter: str | None = None) -> Iterator[None]:
    """dumpcap writes pcapng or classic pcap by the file's suffix (both formats get tested)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fmt = "-n" if path.suffix == ".pcapng" else "-P"
    cmd = [
        "dumpcap",
        "-q",
        "-i",
        "lo",
        "-f",
        port_filter or f"tcp port {port}",
        fmt,
        "-w",
        str(tmp),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # capture must be running before the first SYN
    try:
        yield
    finally:
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        tmp.replace(path)


def embed_key_log(pcapng: Path, keylog: Path) -> None:
    """Write the capture again with the key log in a Decryption Secrets Block after the
    interface, as `tlslens connect` does, so that Wireshark opens it decrypted; the .keys
    file stays beside it. (editcap --inject-secrets puts the DSB before the interface, and
    editcap 4.0 then cannot rewrite the file: --discard-all-secrets fails on it.)"""
    raw, reader = open_capture(pcapng)
    with raw:
        frames = list(reader)
    out = io.BytesIO()
    writer = PcapngWriter(out)
    writer.add_interface(frames[0][1] if frames else LINKTYPE_ETHERNET, tsresol=9)
    writer.add_secrets(keylog.read_bytes())
    for ts_ns, _linktype, data in frames:
        writer.add_packet(ts_ns, data)
    pcapng.write_bytes(out.getvalue())


def run(
    cmd: list[str], stdin: bytes = b"", env: dict[str, str] | None = None, timeout_s: float = 20
) -> None:
    subprocess.run(
        cmd,
        input=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=timeout_s,
        env={**os.environ, **(env or {})},
        check=False,
    )


# -- scenarios ---------------------------------------------------------------------


@dataclass
class Context:
    pki: Path
    out: Path
    work: Path

    @property
    def udp_out(self) -> Path:
        """Where the QUIC and DTLS captures go: a folder of their own, so that the tests
        that read every TCP capture of ``out`` do not take them for TCP ones."""
        path = self.out / "udp"
        path.mkdir(parents=True, exist_ok=True)
        return path


def s_client(port: int, *args: str, keylog: Path, data: bytes = b"GET / HTTP/1.0\r\n\r\n") -> None:
    run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"{HOST}:{port}",
            "-servername",
            NAME,
            "-keylogfile",
            str(keylog),
            "-ign_eof",
            *args,
        ],
        stdin=data,
    )


@contextmanager
def s_server(ctx: Context, port: int, *args: str, cert: str = "server") -> Iterator[None]:
    cmd = [
        "openssl",
        "s_server",
        "-accept",
        str(port),
        "-naccept",
        "16",
        "-cert",
        str(ctx.pki / f"{cert}.pem"),
        "-key",
        str(ctx.pki / f"{cert}.key"),
        "-cert_chain",
        str(ctx.pki / "intermediate.pem"),
        "-www",
        *args,
    ]
    with process(cmd):
        wait_port(port)
        yield


def scenario_openssl_versions(ctx: Context) -> None:
    """OpenSSL s_server/s_client: TLS 1.0, 1.1 (RSA key exchange, CBC), 1.2 (ECDHE GCM, DHE CBC), 1.3."""
    port = free_port()
    keylog = ctx.out / "openssl-versions.keys"
    keylog.unlink(missing_ok=True)
    with (
        s_server(ctx, port, "-cipher", "ALL:@SECLEVEL=0"),
        capture(ctx.out / "openssl-versions.pcapng", port),
    ):
        s_client(port, "-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0", keylog=keylog)
        s_client(port, "-tls1_1", "-cipher", "AES256-SHA:@SECLEVEL=0", keylog=keylog)
        s_client(port, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", keylog=keylog)
        s_client(port, "-tls1_2", "-cipher", "DHE-RSA-AES256-SHA256", keylog=keylog)
        s_client(port, "-tls1_2", "-cipher", "AES128-GCM-SHA256", keylog=keylog)
        s_client(port, "-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256", keylog=keylog)


PSK_HEX = "1a2b3c4d5e6f70819293a4b5c6d7e8f9"


def scenario_openssl_ciphers(ctx: Context) -> None:
    """Cipher families: AES-CCM and CCM_8 (TLS 1.2 and 1.3), Camellia-CBC with MAC-then-encrypt,
    AES-CBC with encrypt-then-MAC, ChaCha20-Poly1305, and a plain PSK suite."""
    port = free_port()
    keylog = ctx.out / "openssl-ciphers.keys"
    keylog.unlink(missing_ok=True)
    suites13 = "TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256"
    with (
        s_server(
            ctx, port, "-cipher", "ALL:@SECLEVEL=0", "-ciphersuites", suites13, "-psk", PSK_HEX
        ),
        capture(ctx.out / "openssl-ciphers.pcapng", port),
    ):
        s_client(port, "-tls1_2", "-cipher", "AES128-CCM", keylog=keylog)
        s_client(port, "-tls1_2", "-cipher", "AES128-CCM8", keylog=keylog)
        s_client(
            port, "-tls1_2", "-cipher", "CAMELLIA128-SHA:@SECLEVEL=0", "-no_etm", keylog=keylog
        )
        s_client(port, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA256", keylog=keylog)
        s_client(port, "-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305", keylog=keylog)
        s_client(port, "-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256", keylog=keylog)
        s_client(port, "-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_8_SHA256", keylog=keylog)
        s_client(
            port, "-tls1_2", "-cipher", "PSK-AES128-GCM-SHA256", "-psk", PSK_HEX, keylog=keylog
        )


def scenario_openssl_resumption(ctx: Context) -> None:
    """Resumption: by session ID (TLS 1.2, no tickets), by ticket (TLS 1.2), by PSK (TLS 1.3)."""
    port = free_port()
    keylog = ctx.out / "openssl-resumption.keys"
    keylog.unlink(missing_ok=True)
    sess = ctx.work / "sess.pem"
    with s_server(ctx, port), capture(ctx.out / "openssl-resumption.pcap", port):
        for args in (["-tls1_2", "-no_ticket"], ["-tls1_2"], ["-tls1_3"]):
            sess.unlink(missing_ok=True)
            s_client(port, *args, "-sess_out", str(sess), keylog=keylog)
            s_client(port, *args, "-sess_in", str(sess), keylog=keylog)


def scenario_openssl_hrr_clientauth(ctx: Context) -> None:
    """HelloRetryRequest (client's first key share is not acceptable), client certificates
    (TLS 1.2 and 1.3), and a fatal unknown_ca alert from a client that does not trust the root."""
    port = free_port()
    keylog = ctx.out / "openssl-hrr-clientauth.keys"
    keylog.unlink(missing_ok=True)
    with s_server(
        ctx, port, "-groups", "P-256:P-384", "-Verify", "1", "-CAfile", str(ctx.pki / "root.pem")
    ):
        client_cert = [
            "-cert",
            str(ctx.pki / "client.pem"),
            "-key",
            str(ctx.pki / "client.key"),
            "-cert_chain",
            str(ctx.pki / "intermediate.pem"),
        ]
        with capture(ctx.out / "openssl-hrr-clientauth.pcapng", port):
            s_client(
                port,
                "-tls1_3",
                "-groups",
                "X25519:P-256",
                *client_cert,
                keylog=keylog,
            )
            s_client(
                port,
                "-tls1_2",
                *client_cert,
                keylog=keylog,
            )
            s_client(
                port,
                "-tls1_2",
                "-verify_return_error",
                "-CAfile",
                str(ctx.pki / "other-root.pem"),
                keylog=keylog,
            )


def scenario_openssl_ocsp(ctx: Context) -> None:
    """OCSP stapling: s_server -status_file, clients asking with -status (TLS 1.2 and 1.3)."""
    port = free_port()
    keylog = ctx.out / "openssl-ocsp.keys"
    keylog.unlink(missing_ok=True)
    resp = make_ocsp_response(ctx.pki, ctx.work)
    with (
        s_server(ctx, port, "-status_file", str(resp)),
        capture(ctx.out / "openssl-ocsp.pcapng", port),
    ):
        s_client(port, "-tls1_2", "-status", keylog=keylog)
        s_client(port, "-tls1_3", "-status", keylog=keylog)


def scenario_gnutls(ctx: Context) -> None:
    """GnuTLS gnutls-serv/gnutls-cli: TLS 1.2 ECDHE-ECDSA and TLS 1.3, ECDSA certificate."""
    port = free_port()
    keylog = ctx.out / "gnutls.keys"
    keylog.unlink(missing_ok=True)
    cmd = [
        "gnutls-serv",
        "--http",
        "-p",
        str(port),
        "--x509certfile",
        str(ctx.pki / "ecdsa-chain.pem"),
        "--x509keyfile",
        str(ctx.pki / "ecdsa.key"),
    ]
    with process(cmd):
        wait_port(port)
        with capture(ctx.out / "gnutls.pcapng", port):
            for prio in ("NORMAL:-VERS-ALL:+VERS-TLS1.2", "NORMAL:-VERS-ALL:+VERS-TLS1.3"):
                run(
                    [
                        "gnutls-cli",
                        "--insecure",
                        f"--priority={prio}",
                        "-p",
                        str(port),
                        "--sni-hostname",
                        NAME,
                        HOST,
                    ],
                    stdin=b"GET / HTTP/1.0\r\n\r\n",
                    env={"SSLKEYLOGFILE": str(keylog)},
                )


def _nginx_conf(work: Path, name: str, http: str) -> Path:
    """An nginx configuration in the foreground with every path under ``work``; ``http``:
    the rest of its http block (directives and servers)."""
    conf = work / f"{name}.conf"
    conf.write_text(f"""
worker_processes 1;
pid {work}/{name}.pid;
error_log {work}/{name}-error.log;
daemon off;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {work}/body; proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fcgi; uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
{http}
}}
""")
    return conf


def scenario_nginx_curl(ctx: Context) -> None:
    """nginx serving HTTP/2 and HTTP/1.1 to curl, with ALPN, over IPv6 loopback."""
    port = free_port()
    keylog = ctx.out / "nginx-curl.keys"
    keylog.unlink(missing_ok=True)
    conf = _nginx_conf(
        ctx.work,
        "nginx",
        f"""  server {{
    listen [::1]:{port} ssl http2;
    ssl_certificate {ctx.pki}/server-chain.pem;
    ssl_certificate_key {ctx.pki}/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {{ return 200 "hello from nginx\\n"; }}
  }}""",
    )
    with process(["nginx", "-c", str(conf)]):
        wait_port(port, "::1")
        _nginx_clients(ctx, port, keylog)


def _nginx_clients(ctx: Context, port: int, keylog: Path) -> None:
    with capture(ctx.out / "nginx-curl.pcapng", port):
        url = f"https://{NAME}:{port}/"
        resolve = f"{NAME}:{port}:[::1]"
        env = {"SSLKEYLOGFILE": str(keylog)}
        run(["curl", "-sk", "--resolve", resolve, "--http2", url], env=env)
        run(
            [
                "curl",
                "-sk",
                "--resolve",
                resolve,
                "--http1.1",
                "--tlsv1.2",
                "--tls-max",
                "1.2",
                url,
            ],
            env=env,
        )


def scenario_nginx_h2(ctx: Context) -> None:
    """nginx serving HTTP/2 to a Python `h2` client that resets a stream (RST_STREAM CANCEL)
    while nginx ends the connection after three requests with GOAWAY (keepalive_requests 3)."""
    port = free_port()
    keylog = ctx.out / "nginx-h2.keys"
    keylog.unlink(missing_ok=True)
    site = ctx.work / "h2-site"
    site.mkdir(exist_ok=True)
    # nginx's workers run as nobody: the files and the (private) work folder must be readable.
    ctx.work.chmod(0o711)
    site.chmod(0o755)
    (site / "index.txt").write_text("hello over h2\n")
    (site / "big.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB: still sending at the RST
    conf = _nginx_conf(
        ctx.work,
        "nginx-h2",
        f"""  keepalive_requests 3;
  server {{
    listen {HOST}:{port} ssl http2;
    ssl_certificate {ctx.pki}/server-chain.pem;
    ssl_certificate_key {ctx.pki}/server.key;
    ssl_protocols TLSv1.3;
    root {site};
  }}""",
    )
    with process(["nginx", "-c", str(conf)]):
        wait_listening(port)
        with capture(ctx.out / "nginx-h2.pcapng", port):
            _h2_client(ctx, port, keylog)


def _h2_client(ctx: Context, port: int, keylog: Path) -> None:
    """GET /index.txt (stream 1), GET /big.bin reset at once (stream 3), GET /index.txt
    (stream 5); reads until nginx closes."""
    import h2.config
    import h2.connection
    import h2.errors
    import h2.events
    import h2.exceptions

    tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls_ctx.load_verify_locations(ctx.pki / "root.pem")
    tls_ctx.set_alpn_protocols(["h2"])
    tls_ctx.keylog_filename = str(keylog)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    with (
        socket.create_connection((HOST, port)) as raw,
        tls_ctx.wrap_socket(raw, server_hostname=NAME) as tls,
    ):
        tls.settimeout(5)
        conn.initiate_connection()

        def request(stream: int, path: str) -> None:
            headers = [(":method", "GET"), (":path", path), (":scheme", "https")]
            conn.send_headers(stream, [*headers, (":authority", NAME)], end_stream=True)

        request(1, "/index.txt")
        request(3, "/big.bin")
        tls.sendall(conn.data_to_send())
        conn.reset_stream(3, h2.errors.ErrorCodes.CANCEL)
        request(5, "/index.txt")
        tls.sendall(conn.data_to_send())
        # nginx says GOAWAY (last stream 5) on the third request, then answers streams 1
        # and 5 and closes: h2 takes no frame after a GOAWAY, so the rest is read as bytes.
        done = False
        try:
            while data := tls.recv(65536):
                if done:
                    continue
                try:
                    events = conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    done = True  # frames after the GOAWAY, in the same read
                    continue
                for event in events:
                    done = done or isinstance(event, h2.events.ConnectionTerminated)
                    if isinstance(event, h2.events.DataReceived) and not done:
                        conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                tls.sendall(conn.data_to_send())
        except (OSError, ssl.SSLError):
            pass  # nginx may reset what is still in flight of /big.bin


def scenario_python(ctx: Context) -> None:
    """Python ssl on both ends, TLS 1.3 with an application payload in each direction."""
    port = free_port()
    keylog = ctx.out / "python-ssl.keys"
    keylog.unlink(missing_ok=True)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(ctx.pki / "server-chain.pem", ctx.pki / "server.key")
    server_ctx.keylog_filename = str(keylog)
    listener = socket.create_server((HOST, port))

    def serve() -> None:
        for _ in range(2):
            conn, _addr = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(tls.recv(1024).upper())

    with capture(ctx.out / "python-ssl.pcap", port):
        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            client_ctx.load_verify_locations(ctx.pki / "root.pem")
            client_ctx.maximum_version = version
            client_ctx.set_alpn_protocols(["tlslens/1"])
            with (
                socket.create_connection((HOST, port)) as raw,
                client_ctx.wrap_socket(raw, server_hostname=NAME) as tls,
            ):
                tls.sendall(b"hello from python " * 100)
                tls.recv(4096)
        thread.join(timeout=5)
    listener.close()


def scenario_demo(ctx: Context) -> None:
    """The `make demo` sample: curl against OpenSSL, one TLS 1.3 and one TLS 1.2 connection."""
    port = free_port()
    keylog = ctx.out / "demo-tls12-tls13.keys"
    keylog.unlink(missing_ok=True)
    with s_server(ctx, port), capture(ctx.out / "demo-tls12-tls13.pcapng", port):
        url = f"https://{NAME}:{port}/"
        resolve = f"{NAME}:{port}:{HOST}"
        env = {"SSLKEYLOGFILE": str(keylog)}
        run(
            ["curl", "-s", "--cacert", str(ctx.pki / "root.pem"), "--resolve", resolve, url],
            env=env,
        )
        run(
            [
                "curl",
                "-s",
                "--cacert",
                str(ctx.pki / "root.pem"),
                "--resolve",
                resolve,
                "--tls-max",
                "1.2",
                url,
            ],
            env=env,
        )


CHAINS = ROOT / "tests" / "vectors" / "chains"

# Each chain case: (name, leaf host, SNI sent, chain sent, leaf validity, OCSP staple)
CHAIN_CASES = (
    "valid",
    "valid_then",
    "expired",
    "not_yet_valid",
    "name_mismatch",
    "intermediate_elsewhere",
    "missing_intermediate",
    "wrong_order",
    "ocsp_good",
    "ocsp_revoked",
    "ocsp_stale",
)


def scenario_chains(ctx: Context) -> None:
    """Certificate chain cases, each served by its own OpenSSL server, in one capture:
    valid, expired, not yet valid, name mismatch, missing intermediate (also sent in an
    earlier connection, and not), wrong order, and stapled OCSP good / revoked / stale.
    The chains come from `tlslens.x509.pki`; the roots are kept in tests/vectors/chains."""
    CHAINS.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    root = pki.make_root("chains lab root CA", now=now)
    inter_a = pki.make_intermediate("chains lab intermediate A", root, now=now)
    inter_b = pki.make_intermediate("chains lab intermediate B", root, now=now)
    (CHAINS / "root.pem").write_bytes(pki.pem_cert(root.certificate))
    (CHAINS / "intermediate-a.pem").write_bytes(pki.pem_cert(inter_a.certificate))
    (CHAINS / "intermediate-b.pem").write_bytes(pki.pem_cert(inter_b.certificate))
    keylog = ctx.out / "chains.keys"
    keylog.unlink(missing_ok=True)
    ports = [free_port() for _ in CHAIN_CASES]
    low, high = min(ports), max(ports)
    with capture(ctx.out / "chains.pcapng", 0, port_filter=f"tcp portrange {low}-{high}"):
        for case, port in zip(CHAIN_CASES, ports, strict=True):
            host = f"{case.replace('_', '-')}.chains.lab"
            issuer = inter_b if case == "missing_intermediate" else inter_a
            not_before, days = now - dt.timedelta(minutes=5), 365.0
            if case == "expired":
                not_before, days = now - dt.timedelta(days=400), 30
            elif case == "valid_then":  # valid for the capture, expired an hour later
                days = 1 / 24
            elif case == "not_yet_valid":
                not_before = now + dt.timedelta(hours=3)
            names = ["other.lab"] if case == "name_mismatch" else [host]
            csr, key, _story = pki.make_csr(names[0], names)
            leaf = pki.sign_csr(csr, issuer, now=now, days=days, not_before=not_before).certificate
            files = ctx.work / case
            files.mkdir(exist_ok=True)
            (files / "leaf.pem").write_bytes(pki.pem_cert(leaf))
            (files / "leaf.key").write_bytes(pki.pem_key(key))
            chain = {
                "intermediate_elsewhere": b"",
                "missing_intermediate": b"",
                "wrong_order": pki.pem_cert(root.certificate) + pki.pem_cert(inter_a.certificate),
            }.get(case, pki.pem_cert(inter_a.certificate))
            args = ["-cert", str(files / "leaf.pem"), "-key", str(files / "leaf.key")]
            if chain:
                (files / "chain.pem").write_bytes(chain)
                args += ["-cert_chain", str(files / "chain.pem")]
            if case.startswith("ocsp"):
                this_update = now - dt.timedelta(days=30) if case == "ocsp_stale" else now
                der, _story = pki.make_ocsp_response(
                    leaf, issuer, now=now, revoked=case == "ocsp_revoked", this_update=this_update
                )
                (files / "ocsp.der").write_bytes(der)
                args += ["-status_file", str(files / "ocsp.der")]
            if case == "ocsp_good":
                _nginx_stapling(ctx, port, files)
                continue
            cmd = ["openssl", "s_server", "-accept", str(port), "-naccept", "3", "-www", *args]
            with process(cmd):
                wait_listening(port)
                run(
                    [
                        "openssl",
                        "s_client",
                        "-connect",
                        f"{HOST}:{port}",
                        "-servername",
                        host,
                        "-status",
                        "-keylogfile",
                        str(keylog),
                        "-tls1_2",
                        "-ign_eof",
                    ],
                    stdin=b"GET / HTTP/1.0\r\n\r\n",
                )


def _nginx_stapling(ctx: Context, port: int, files: Path) -> None:
    """nginx serving a chain with a stapled OCSP response from ssl_stapling_file."""
    chain = files / "fullchain.pem"
    chain.write_bytes((files / "leaf.pem").read_bytes() + (files / "chain.pem").read_bytes())
    conf = files / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
pid {files}/nginx.pid;
error_log {files}/nginx-error.log;
daemon off;
events {{ worker_connections 16; }}
http {{
  access_log off;
  client_body_temp_path {files}/body; proxy_temp_path {files}/proxy;
  fastcgi_temp_path {files}/fcgi; uwsgi_temp_path {files}/uwsgi; scgi_temp_path {files}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {chain};
    ssl_certificate_key {files}/leaf.key;
    ssl_stapling on;
    ssl_stapling_file {files}/ocsp.der;
    location / {{ return 200 "stapled\\n"; }}
  }}
}}
""")
    with process(["nginx", "-c", str(conf)]):
        wait_listening(port)
        host = "ocsp-good.chains.lab"
        run(
            [
                "openssl",
                "s_client",
                "-connect",
                f"{HOST}:{port}",
                "-servername",
                host,
                "-status",
                "-keylogfile",
                str(ctx.out / "chains.keys"),
                "-tls1_2",
                "-ign_eof",
            ],
            stdin=b"GET / HTTP/1.0\r\n\r\n",
        )


def scenario_aborted(ctx: Context) -> None:
    """Failing handshakes (certificate rejections, refusals, a reset), in their own module."""
    import record_aborted  # here, not at the top: it imports this module

    record_aborted.scenario_aborted(ctx)


def scenario_compressed(ctx: Context) -> None:
    """A tlslite-ng server compressing its certificate (RFC 8879), in its own module."""
    import record_compressed  # here, not at the top: it imports this module

    record_compressed.scenario_compressed(ctx)


def scenario_quic(ctx: Context) -> None:
    """aioquic HTTP/3 clients and Chromium against aioquic servers, in its own module."""
    import record_quic  # here, not at the top: it imports this module

    record_quic.scenario_quic(ctx)


def scenario_dtls(ctx: Context) -> None:
    """OpenSSL and GnuTLS DTLS 1.0 and 1.2, in its own module."""
    import record_dtls  # here, not at the top: it imports this module

    record_dtls.scenario_dtls(ctx)


SCENARIOS: dict[str, Callable[[Context], None]] = {
    "aborted": scenario_aborted,
    "demo": scenario_demo,
    "openssl-versions": scenario_openssl_versions,
    "openssl-resumption": scenario_openssl_resumption,
    "openssl-ciphers": scenario_openssl_ciphers,
    "openssl-hrr-clientauth": scenario_openssl_hrr_clientauth,
    "openssl-ocsp": scenario_openssl_ocsp,
    "gnutls": scenario_gnutls,
    "nginx-curl": scenario_nginx_curl,
    "nginx-h2": scenario_nginx_h2,
    "python": scenario_python,
    "chains": scenario_chains,
    "compressed": scenario_compressed,
    "quic": scenario_quic,
    "dtls": scenario_dtls,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS))
    args = parser.parse_args(argv)
    missing = [
        t for t in ("openssl", "gnutls-serv", "nginx", "curl", "dumpcap") if shutil.which(t) is None
    ]
    if missing:
        print(f"missing programs: {', '.join(missing)}", file=sys.stderr)
        return 1
    make_pki(PKI)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(PKI, args.out, Path(tmp))
        for name in args.only or SCENARIOS:
            print(f"recording {name}")
            SCENARIOS[name](ctx)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
