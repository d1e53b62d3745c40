"""The aborted-handshake scenario of tools/record_captures.py: handshakes that fail.

OpenSSL's s_client, GnuTLS's gnutls-cli and Python's ssl client each abort TLS 1.3 and
TLS 1.2 handshakes against OpenSSL's s_server for an expired leaf, a missing intermediate,
an unknown CA and a wrong name; the server refuses them for no shared cipher and for a
client certificate it requires and does not get; then a server resets the connection
after the ClientHello. Each client writes what it derived to aborted.keys: for an aborted
TLS 1.3 handshake that is the handshake secrets alone.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading

from record_lab import (
    HOST,
    NAME,
    Context,
    _lab_ca,
    capture,
    free_port,
    process,
    run,
    wait_listening,
)

from tlslens.x509 import pki

# (case, what the server is given, what the client trusts/asks): each client aborts or is
# refused for one reason, in TLS 1.3 and TLS 1.2, with its key log.
ABORT_CASES = (
    "expired",
    "missing_intermediate",
    "unknown_ca",
    "wrong_name",
    "no_shared_cipher",
    "client_cert_required",
)
ABORT_CLIENTS = ("openssl", "gnutls", "python")
WRONG_NAME = "wrong." + NAME


def _abort_server_args(ctx: Context, case: str, version: str) -> list[str]:
    """The s_server options that make the case happen (certificate files written to work)."""
    if case == "expired":
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        csr, key, _story = pki.make_csr(NAME, [NAME, "localhost"])
        leaf = pki.sign_csr(
            csr, _lab_ca(ctx.pki), now=now, days=30, not_before=now - dt.timedelta(days=400)
        ).certificate
        (ctx.work / "expired.pem").write_bytes(pki.pem_cert(leaf))
        (ctx.work / "expired.key").write_bytes(pki.pem_key(key))
        cert = ["-cert", str(ctx.work / "expired.pem"), "-key", str(ctx.work / "expired.key")]
        return [*cert, "-cert_chain", str(ctx.pki / "intermediate.pem")]
    cert = ["-cert", str(ctx.pki / "server.pem"), "-key", str(ctx.pki / "server.key")]
    if case == "missing_intermediate":
        return cert
    cert += ["-cert_chain", str(ctx.pki / "intermediate.pem")]
    if case == "no_shared_cipher" and version == "1.3":
        return [*cert, "-ciphersuites", "TLS_AES_128_CCM_8_SHA256"]
    if case == "no_shared_cipher":
        return [*cert, "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]  # an RSA certificate
    if case == "client_cert_required":
        return [*cert, "-Verify", "1", "-CAfile", str(ctx.pki / "root.pem")]
    return cert


def _abort_client(ctx: Context, client: str, case: str, version: str, port: int) -> None:
    keylog = ctx.out / "aborted.keys"
    root = ctx.pki / ("other-root.pem" if case == "unknown_ca" else "root.pem")
    name = WRONG_NAME if case == "wrong_name" else NAME
    if client == "openssl":
        run(
            [
                "openssl", "s_client", "-connect", f"{HOST}:{port}", "-servername", name,
                "-verify_hostname", name, "-verify_return_error", "-CAfile", str(root),
                "-keylogfile", str(keylog), "-ign_eof", f"-tls{version.replace('.', '_')}",
            ],
            stdin=b"GET / HTTP/1.0\r\n\r\n",
        )  # fmt: skip
    elif client == "gnutls":
        prio = f"NORMAL:-VERS-ALL:+VERS-TLS{version}"
        run(
            [
                "gnutls-cli", f"--priority={prio}", "-p", str(port), "--sni-hostname", name,
                "--verify-hostname", name, "--x509cafile", str(root), HOST,
            ],
            stdin=b"GET / HTTP/1.0\r\n\r\n",
            env={"SSLKEYLOGFILE": str(keylog)},
        )  # fmt: skip
    else:
        client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client_ctx.load_verify_locations(root)
        tls_version = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
        client_ctx.minimum_version = client_ctx.maximum_version = tls_version
        client_ctx.keylog_filename = str(keylog)
        try:
            with (
                socket.create_connection((HOST, port), timeout=10) as raw,
                client_ctx.wrap_socket(raw, server_hostname=name) as tls,
            ):
                tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
                tls.recv(4096)
        except (OSError, ssl.SSLError):
            pass  # the abort is the point


def _resetting_server(port: int) -> threading.Thread:
    """Reads the ClientHello, then resets the connection (SO_LINGER 0): a load balancer's
    reset mid-handshake."""
    listener = socket.create_server((HOST, port))

    def serve() -> None:
        with listener:
            for _ in range(2):
                conn, _addr = listener.accept()
                conn.recv(4096)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def scenario_aborted(ctx: Context) -> None:
    """Handshakes that fail: OpenSSL, GnuTLS and Python clients aborting TLS 1.3 and TLS 1.2
    for an expired leaf, a missing intermediate, an unknown CA and a wrong name; servers
    refusing for no shared cipher and for a client certificate not sent; a server that
    resets after the ClientHello. Each connection's key log (what the client logged) in
    aborted.keys; the order is ABORT_CASES x ABORT_CLIENTS x (1.3, 1.2), then two resets."""
    keylog = ctx.out / "aborted.keys"
    keylog.unlink(missing_ok=True)
    ports = [free_port() for _ in range(len(ABORT_CASES) * 2 + 1)]
    port_filter = " or ".join(f"tcp port {p}" for p in ports)
    with capture(ctx.out / "aborted.pcapng", 0, port_filter=port_filter):
        cases = [(c, v) for c in ABORT_CASES for v in ("1.3", "1.2")]
        for (case, version), port in zip(cases, ports, strict=False):
            server = ["openssl", "s_server", "-accept", str(port), "-naccept", "3", "-www"]
            with process(
                [
                    *server,
                    f"-tls{version.replace('.', '_')}",
                    *_abort_server_args(ctx, case, version),
                ]
            ):
                wait_listening(port)
                for client in ABORT_CLIENTS:
                    _abort_client(ctx, client, case, version, port)
        thread = _resetting_server(ports[-1])
        for version in ("1.3", "1.2"):
            _abort_client(ctx, "openssl", "reset", version, ports[-1])
        thread.join(timeout=5)
