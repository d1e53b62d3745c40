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
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import record_aborted
import record_compressed
import record_dtls
import record_dtls13
import record_dtls_cid
import record_quic
from record_lab import (
    HOST,
    NAME,
    OUT,
    PKI,
    ROOT,
    Context,
    capture,
    free_port,
    make_ocsp_response,
    make_pki,
    process,
    run,
    s_client,
    s_server,
    wait_listening,
    wait_port,
)
from record_nginx import nginx_stapling, scenario_nginx_curl, scenario_nginx_h2

from tlslens.x509 import pki

# -- scenarios ---------------------------------------------------------------------


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


def scenario_early_data(ctx: Context) -> None:
    """TLS 1.3 resumed with 0-RTT data, so much of it (200 kB in 8 kB records) that the
    client is still sending it after the server's flight: loopback's receive window fills
    before the server reads, so most of the early records are captured after the
    ServerHello, then the client's EndOfEarlyData and Finished."""
    port = free_port()
    keylog = ctx.out / "early-data.keys"
    keylog.unlink(missing_ok=True)
    sess = ctx.work / "sess.pem"
    early = ctx.work / "early.txt"
    early.write_bytes(b"GET / HTTP/1.0\r\nX-Pad: " + b"a" * 200_000 + b"\r\n\r\n")
    limit = str(210_000)
    # s_server's -early_data excludes -www: it prints what it reads and answers nothing.
    server = [
        *("openssl", "s_server", "-accept", str(port), "-naccept", "2", "-tls1_3"),
        *("-cert", str(ctx.pki / "server.pem"), "-key", str(ctx.pki / "server.key")),
        *("-early_data", "-max_early_data", limit, "-recv_max_early_data", limit),
    ]
    client = [
        *("openssl", "s_client", "-connect", f"{HOST}:{port}", "-servername", NAME),
        *("-keylogfile", str(keylog), "-tls1_3"),
    ]
    with process(server):
        wait_listening(port)
        with capture(ctx.out / "early-data.pcapng", port):
            # Its stdin open until the tickets came: s_client saves the session it has
            # when its input ends.
            with process([*client, "-sess_out", str(sess)]) as first:
                assert first.stdin is not None
                first.stdin.write(b"hello\n")
                first.stdin.flush()
                time.sleep(0.5)
                first.stdin.close()
                first.wait(timeout=10)
            run([*client, "-sess_in", str(sess), "-early_data", str(early)], stdin=b"hello\n")


def scenario_openssl_padding(ctx: Context) -> None:
    """TLS 1.3 record padding (RFC 8446 §5.4, OpenSSL's -record_padding 512): the client's
    records padded to 512 bytes of plaintext (its Finished is 528 bytes, not 69); then the
    server's, from a second server."""
    port, padding = free_port(), free_port()
    keylog = ctx.out / "openssl-padding.keys"
    keylog.unlink(missing_ok=True)
    ports = f"tcp port {port} or tcp port {padding}"
    with (
        s_server(ctx, port, "-tls1_3"),
        s_server(ctx, padding, "-tls1_3", "-record_padding", "512"),
        capture(ctx.out / "openssl-padding.pcapng", port, port_filter=ports),
    ):
        s_client(port, "-tls1_3", "-record_padding", "512", keylog=keylog)
        s_client(padding, "-tls1_3", keylog=keylog)


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
                nginx_stapling(ctx, port, files)
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


SCENARIOS: dict[str, Callable[[Context], None]] = {
    "aborted": record_aborted.scenario_aborted,
    "demo": scenario_demo,
    "openssl-versions": scenario_openssl_versions,
    "openssl-resumption": scenario_openssl_resumption,
    "openssl-ciphers": scenario_openssl_ciphers,
    "openssl-hrr-clientauth": scenario_openssl_hrr_clientauth,
    "openssl-ocsp": scenario_openssl_ocsp,
    "early-data": scenario_early_data,
    "openssl-padding": scenario_openssl_padding,
    "gnutls": scenario_gnutls,
    "nginx-curl": scenario_nginx_curl,
    "nginx-h2": scenario_nginx_h2,
    "python": scenario_python,
    "chains": scenario_chains,
    "compressed": record_compressed.scenario_compressed,
    "quic": record_quic.scenario_quic,
    "dtls": record_dtls.scenario_dtls,
    "dtls13": record_dtls13.scenario_dtls13,
    "dtls-cid": record_dtls_cid.scenario_dtls_cid,
    "dtls-reneg": record_dtls.scenario_dtls_reneg,
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
