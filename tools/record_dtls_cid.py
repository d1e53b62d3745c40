"""The DTLS connection-ID scenario of tools/record_captures.py (`--only dtls-cid`): wolfSSL's
example server and client (built by tools/build_wolfssl.py, `--enable-dtlscid`) over UDP on
loopback, each connection with its own server on its own free UDP port, in this order:

1. DTLS 1.2, ECDHE-RSA-AES128-GCM-SHA256, a connection ID each way (`--cid ID` on both);
2. DTLS 1.2, ECDHE-RSA-AES128-SHA256 (CBC) with encrypt-then-MAC (RFC 7366), both IDs;
3. DTLS 1.2, ECDHE-RSA-AES128-GCM-SHA256, one direction only: the client asks for an empty
   ID (`--cid` without a value: it sends with the server's ID, wants none back);
4. DTLS 1.3, TLS_AES_128_GCM_SHA256, both IDs (RFC 9147 §9, the unified header's C bit).

MAC-then-encrypt is recorded apart, in `dtls-cid-mte.pcapng` (+ `.keys`): ECDHE-RSA-AES128-
SHA256 with both IDs, the client disallowing encrypt-then-MAC (`-H disallowETM`). wolfSSL
5.9.4's server does not accept the client's Finished (tshark verifies its RFC 9146 §5 MAC),
and both ends retransmit their flights without pause (near a gigabyte in 20 seconds), so
the capture stops after MTE_PACKETS packets and the client after 3 seconds: the hellos,
then the client's flight with its Finished in a tls12_cid record, sent again and again.

A record carries the ID its receiver asked for: the client's (`client-N`, 8 bytes) on the
server's records, the server's (`srvN`, 4 bytes) on the client's. The client sends
`hello wolfssl!`, the server answers `I hear you fa shizzle!`, both close with
close_notify. The client writes the key log (CLIENT_RANDOM for DTLS 1.2, the TLS 1.3
labels for 1.3); what both ends printed (version, suite, the ID each sends with, the lines)
goes to `dtls-cid.txt`, one section per connection and end.
"""

from __future__ import annotations

import socket
from pathlib import Path

from record_dtls13 import connection, prepare
from record_lab import Context, capture, embed_key_log, free_port

DTLS12_GCM, DTLS12_CBC = "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-SHA256"
# (version flag, suite, the client's extra arguments, the client's ID, the server's ID)
CONNECTIONS: tuple[tuple[str, str, list[str], str, str], ...] = (
    ("3", DTLS12_GCM, [], "client-0", "srv0"),
    ("3", DTLS12_CBC, [], "client-1", "srv1"),
    ("3", DTLS12_GCM, [], "", "srv2"),
    ("4", "TLS13-AES128-GCM-SHA256", [], "client-3", "srv3"),
)


MTE_PACKETS = 40


def _cid(value: str) -> list[str]:
    """The examples' option: `--cid ID`; `--cid` followed by another option (or nothing)
    asks for an empty ID. (`--cid=ID` is no option to them: it ends their parsing.)"""
    return ["--cid", value] if value else ["--cid"]


def scenario_dtls_cid(ctx: Context) -> None:
    """wolfSSL DTLS 1.2 with connection IDs (AES-GCM, CBC with encrypt-then-MAC, one
    direction only) and DTLS 1.3 with connection IDs; then CBC with MAC-then-encrypt."""
    work = prepare(ctx)
    ports = [free_port(socket.SOCK_DGRAM) for _ in CONNECTIONS]
    keylog = ctx.udp_out / "dtls-cid.keys"
    keylog.unlink(missing_ok=True)
    pcapng = ctx.udp_out / "dtls-cid.pcapng"
    printed: list[bytes] = []
    with capture(pcapng, 0, port_filter=" or ".join(f"udp port {p}" for p in ports)):
        for n, (port, spec) in enumerate(zip(ports, CONNECTIONS, strict=True)):
            version, suite, client_extra, client_cid, server_cid = spec
            args = ["-u", "-v", version, "-l", suite]
            server_out, client_out = connection(
                ctx,
                work,
                port,
                keylog,
                [*args, *client_extra, *_cid(client_cid)],
                [*args, *_cid(server_cid)],
            )
            printed += [f"# connection {n}: server\n".encode(), server_out]
            printed += [f"# connection {n}: client\n".encode(), client_out]
    embed_key_log(pcapng, keylog)
    (ctx.udp_out / "dtls-cid.txt").write_bytes(b"".join(printed))
    _mac_then_encrypt(ctx, work)


def _mac_then_encrypt(ctx: Context, work: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    keylog = ctx.udp_out / "dtls-cid-mte.keys"
    keylog.unlink(missing_ok=True)
    pcapng = ctx.udp_out / "dtls-cid-mte.pcapng"
    args = ["-u", "-v", "3", "-l", DTLS12_CBC]
    client = [*args, "-H", "disallowETM", *_cid("client-m")]
    with capture(pcapng, 0, port_filter=f"udp port {port}", count=MTE_PACKETS):
        connection(ctx, work, port, keylog, client, [*args, *_cid("srvm")], give_up_s=3)
    embed_key_log(pcapng, keylog)
