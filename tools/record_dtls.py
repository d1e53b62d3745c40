"""The DTLS scenario of tools/record_captures.py: OpenSSL and GnuTLS over UDP on loopback.

Each connection has its own server on its own free UDP port, in this order:

1. OpenSSL s_server -listen (stateless cookie exchange, DTLSv1_listen) and s_client,
   DTLS 1.2 ECDHE-RSA-AES128-GCM-SHA256, both with -mtu 500 so that the certificate
   flight is fragmented across datagrams;
2. OpenSSL, DTLS 1.2 ECDHE-RSA-CHACHA20-POLY1305, -mtu 1400: a few large datagrams (without
   -mtu, s_server's unconnected socket falls back to a 270-byte minimum and fragments more;
   above the loopback's 1500 the kernel fragments the IP datagram, which a "udp port"
   capture filter does not keep);
3. OpenSSL, DTLS 1.0 (-dtls1) ECDHE-RSA-AES256-SHA (CBC), -mtu 500;
4. GnuTLS gnutls-serv --udp --echo and gnutls-cli --udp, DTLS 1.2 (ECDSA certificate,
   CertificateRequest), the client's line echoed;
5. OpenSSL s_client DTLS 1.2 trusting an unrelated root: the handshake fails with its
   fatal unknown_ca alert.

OpenSSL's s_server asks for a cookie (HelloVerifyRequest) in every connection, -listen or
not, and so does gnutls-serv. In 1 to 4 the client sends a line and the server a line (the
echo, for GnuTLS), then the client closes (close_notify). The clients write the key log
(-keylogfile, SSLKEYLOGFILE). DTLS 1.3 is record_dtls13.py's: no Debian package speaks it
(OpenSSL 3.0, GnuTLS 3.7, Debian's wolfSSL 5.5 and mbed TLS 2.28 do not), so it builds
wolfSSL from source.

The renegotiation scenario (``dtls-reneg``, its own capture so that ``dtls``'s stays as it
is) has two OpenSSL DTLS 1.2 connections that renegotiate once: in the first the client
does (s_client's ``R`` command: a new ClientHello, sent in epoch 1) after a first
handshake with the lab client certificate, in the second the server (s_server's ``R``
command: a HelloRequest, and the client certificate asked for in the new handshake only).
Both -mtu 500, so the flights are fragmented, the renegotiation's too.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from record_lab import (
    HOST,
    NAME,
    Context,
    capture,
    embed_key_log,
    free_port,
    process,
    wait_listening,
)

MTU = "500"
CLIENT_LINE = b"hello from the DTLS client\n"
SERVER_LINE = b"hello from the DTLS server\n"
EXCHANGE_S = 1.0  # long enough on loopback for the handshake and a line each way


def _openssl_server(ctx: Context, port: int, *args: str) -> list[str]:
    return [
        "openssl", "s_server", "-accept", str(port), "-naccept", "1",
        "-cert", str(ctx.pki / "server.pem"), "-key", str(ctx.pki / "server.key"),
        "-cert_chain", str(ctx.pki / "intermediate.pem"), *args,
    ]  # fmt: skip


def _openssl_client(ctx: Context, port: int, keylog: Path, *args: str) -> list[str]:
    return [
        "openssl", "s_client", "-connect", f"{HOST}:{port}", "-servername", NAME,
        "-keylogfile", str(keylog), *args,
    ]  # fmt: skip


def _exchange(
    server: subprocess.Popen[bytes],
    client_cmd: list[str],
    env: dict[str, str] | None = None,
    server_line: bool = True,
) -> None:
    """The client sends its line, the server its own (``server_line``: written to the
    server's standard input, which s_server sends to its peer), then the client's input
    ends and it closes the connection."""
    with process(client_cmd, env=env) as client:
        assert client.stdin is not None and server.stdin is not None
        client.stdin.write(CLIENT_LINE)
        client.stdin.flush()
        time.sleep(EXCHANGE_S)
        if server_line:
            server.stdin.write(SERVER_LINE)
            server.stdin.flush()
            time.sleep(EXCHANGE_S / 2)
        client.stdin.close()
        try:
            client.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass  # process() ends it


def _openssl(
    ctx: Context, port: int, keylog: Path, server: list[str], client: list[str], reply: bool = True
) -> None:
    with process(_openssl_server(ctx, port, *server)) as proc:
        wait_listening(port, kind=socket.SOCK_DGRAM)
        _exchange(proc, _openssl_client(ctx, port, keylog, *client), server_line=reply)


def _gnutls(ctx: Context, port: int, keylog: Path) -> None:
    server = [
        "gnutls-serv", "--udp", "--echo", "-p", str(port),
        "--x509certfile", str(ctx.pki / "ecdsa-chain.pem"),
        "--x509keyfile", str(ctx.pki / "ecdsa.key"),
    ]  # fmt: skip
    client = [
        "gnutls-cli", "--udp", "--priority", "NORMAL:-VERS-ALL:+VERS-DTLS1.2",
        "-p", str(port), "--sni-hostname", NAME, "--x509cafile", str(ctx.pki / "root.pem"),
        "--verify-hostname", "ecdsa." + NAME, HOST,
    ]  # fmt: skip
    with process(server) as proc:
        wait_listening(port, kind=socket.SOCK_DGRAM)
        _exchange(proc, client, env={"SSLKEYLOGFILE": str(keylog)}, server_line=False)


def scenario_dtls(ctx: Context) -> None:
    """OpenSSL DTLS 1.2 (fragmented flight, cookie), 1.2 ChaCha20, 1.0 CBC; GnuTLS DTLS 1.2;
    a DTLS 1.2 handshake the client ends with unknown_ca."""
    ports = [free_port(socket.SOCK_DGRAM) for _ in range(5)]
    keylog = ctx.udp_out / "dtls.keys"
    keylog.unlink(missing_ok=True)
    pcapng = ctx.udp_out / "dtls.pcapng"
    root = ["-CAfile", str(ctx.pki / "root.pem")]
    with capture(pcapng, 0, port_filter=" or ".join(f"udp port {p}" for p in ports)):
        gcm = ["-dtls1_2", "-mtu", MTU, "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]
        _openssl(ctx, ports[0], keylog, [*gcm, "-listen"], [*gcm, *root])
        chacha = ["-dtls1_2", "-mtu", "1400", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"]
        _openssl(ctx, ports[1], keylog, chacha, [*chacha, *root])
        cbc = ["-dtls1", "-mtu", MTU, "-cipher", "ECDHE-RSA-AES256-SHA:@SECLEVEL=0"]
        _openssl(ctx, ports[2], keylog, cbc, [*cbc, *root])
        _gnutls(ctx, ports[3], keylog)
        other = ["-CAfile", str(ctx.pki / "other-root.pem"), "-verify_return_error"]
        _openssl(ctx, ports[4], keylog, ["-dtls1_2"], ["-dtls1_2", *other], reply=False)
    embed_key_log(pcapng, keylog)


def _renegotiating(ctx: Context, port: int, keylog: Path, by_server: bool) -> None:
    """One OpenSSL DTLS 1.2 connection that renegotiates once, on the client's ``R`` (the
    client certificate asked for in the first handshake: s_server's ``-verify`` asks once)
    or, ``by_server``, on the server's (which asks for it in the renegotiation)."""
    root = ["-CAfile", str(ctx.pki / "root.pem")]
    gcm = ["-dtls1_2", "-mtu", MTU, "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]
    # OpenSSL 3 refuses a client's renegotiation unless told (-client_renegotiation); no
    # session tickets, to keep the capture small.
    asks = [] if by_server else ["-verify", "1", "-client_renegotiation"]
    server = [*gcm, *root, "-no_ticket", *asks]
    client = [
        *gcm, *root, "-cert", str(ctx.pki / "client.pem"), "-key", str(ctx.pki / "client.key"),
    ]  # fmt: skip
    with process(_openssl_server(ctx, port, *server)) as proc:
        wait_listening(port, kind=socket.SOCK_DGRAM)
        with process(_openssl_client(ctx, port, keylog, *client)) as peer:
            _renegotiation(proc, peer, by_server)


def _renegotiation(
    server: subprocess.Popen[bytes], client: subprocess.Popen[bytes], by_server: bool
) -> None:
    """The client's line, ``R`` from the renegotiating end, the server's line, then the
    client's input ends (close_notify)."""
    assert client.stdin is not None and server.stdin is not None
    for end, line in (
        (client, CLIENT_LINE),
        (server if by_server else client, b"R\n"),
        (server, SERVER_LINE),
    ):
        assert end.stdin is not None
        end.stdin.write(line)
        end.stdin.flush()
        time.sleep(EXCHANGE_S)
    client.stdin.close()
    try:
        client.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass  # process() ends it


def scenario_dtls_reneg(ctx: Context) -> None:
    """OpenSSL DTLS 1.2 renegotiations: the client's (a ClientHello in epoch 1), then the
    server's (a HelloRequest)."""
    ports = [free_port(socket.SOCK_DGRAM) for _ in range(2)]
    keylog = ctx.udp_out / "dtls-reneg.keys"
    keylog.unlink(missing_ok=True)
    pcapng = ctx.udp_out / "dtls-reneg.pcapng"
    with capture(pcapng, 0, port_filter=" or ".join(f"udp port {p}" for p in ports)):
        _renegotiating(ctx, ports[0], keylog, by_server=False)
        _renegotiating(ctx, ports[1], keylog, by_server=True)
    embed_key_log(pcapng, keylog)
