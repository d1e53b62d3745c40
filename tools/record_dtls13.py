"""The DTLS 1.3 scenario of tools/record_captures.py (`--only dtls13`): wolfSSL's example
server and client (built by tools/build_wolfssl.py) over UDP on loopback.

Each connection has its own server on its own free UDP port, in this order:

1. TLS_AES_128_GCM_SHA256, the default MTU;
2. TLS_CHACHA20_POLY1305_SHA256, the client sending no key share (`-J`), so that the
   server answers with a HelloRetryRequest naming the group;
3. TLS_AES_256_GCM_SHA384 with both sides at an MTU of 300 (`-u300`), so that the
   server's certificate flight is fragmented across records and datagrams.

In each, the client sends `hello wolfssl!`, the server answers `I hear you fa shizzle!`
(the examples' own lines) and both close with close_notify (`-w`). The server trusts no
client certificate and asks for none (`-d`, the client `-x`); the client checks the lab
chain against the lab root and sends SNI. The client writes the key log (SSLKEYLOGFILE,
the TLS 1.3 labels); the server's secrets go nowhere.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
from pathlib import Path

from build_wolfssl import build
from record_lab import (
    HOST,
    NAME,
    Context,
    capture,
    embed_key_log,
    free_port,
    process,
    run,
    wait_listening,
)

# The examples look for the wolfSSL source tree (certs/dh2048.pem) from their working folder
# up; a folder holding that one file is enough, the certificates are the lab's.
DH_PARAMS = Path("certs") / "dh2048.pem"
SUITES: tuple[tuple[str, list[str]], ...] = (
    ("TLS13-AES128-GCM-SHA256", []),
    ("TLS13-CHACHA20-POLY1305-SHA256", ["-J"]),
    ("TLS13-AES256-GCM-SHA384", ["-u300"]),
)


def prepare(ctx: Context) -> Path:
    work = ctx.work / "wolfssl"
    (work / DH_PARAMS).parent.mkdir(parents=True, exist_ok=True)
    run(
        ["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048",
         "-out", str(work / DH_PARAMS)]
    )  # fmt: skip
    return work


def connection(
    ctx: Context,
    work: Path,
    port: int,
    keylog: Path,
    client_args: list[str],
    server_args: list[str],
    give_up_s: float | None = None,
) -> tuple[bytes, bytes]:
    """One connection: a server on ``port`` (the lab chain, no client certificate asked,
    `-w`: close_notify), the client (SNI, the lab root, the key log); what the server and
    the client printed. With ``give_up_s``, a handshake that is not to complete: the
    client is stopped after that long."""
    src = build()
    server = [
        str(src / "examples/server/server"), "-p", str(port), "-w", "-d",
        "-c", str(ctx.pki / "server-chain.pem"), "-k", str(ctx.pki / "server.key"), *server_args,
    ]  # fmt: skip
    client = [
        str(src / "examples/client/client"), "-p", str(port), "-h", HOST, "-w", "-x",
        "-S", NAME, "-A", str(ctx.pki / "root.pem"), *client_args,
    ]  # fmt: skip
    with tempfile.TemporaryFile() as server_out:
        with process(server, cwd=work, stdout=server_out) as proc:
            wait_listening(port, kind=socket.SOCK_DGRAM)
            try:
                printed = subprocess.run(
                    client,
                    cwd=work,
                    env={"SSLKEYLOGFILE": str(keylog)},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    timeout=give_up_s or 20,
                    check=True,
                ).stdout
            except subprocess.TimeoutExpired as stopped:
                if give_up_s is None:
                    raise
                printed = stopped.stdout or b""
            if give_up_s is None:
                proc.wait(timeout=10)
        server_out.seek(0)
        return server_out.read(), printed


def scenario_dtls13(ctx: Context) -> None:
    """wolfSSL DTLS 1.3: AES-128-GCM; ChaCha20-Poly1305 after a HelloRetryRequest; AES-256-GCM
    with a fragmented flight."""
    work = prepare(ctx)
    ports = [free_port(socket.SOCK_DGRAM) for _ in SUITES]
    keylog = ctx.udp_out / "dtls13.keys"
    keylog.unlink(missing_ok=True)
    pcapng = ctx.udp_out / "dtls13.pcapng"
    with capture(pcapng, 0, port_filter=" or ".join(f"udp port {p}" for p in ports)):
        for port, (suite, extra) in zip(ports, SUITES, strict=True):
            mtu = [a for a in extra if a.startswith("-u")] or ["-u"]
            args = [*mtu, "-v", "4", "-l", suite]
            client_extra = [a for a in extra if not a.startswith("-u")]
            connection(ctx, work, port, keylog, [*args, *client_extra], args)
    embed_key_log(pcapng, keylog)
