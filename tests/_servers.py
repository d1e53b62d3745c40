"""Servers the live tests start on loopback: Python `ssl` servers with scripted behaviour
(STARTTLS fronts, misbehaving peers), and real server programs run by PID.

Every server listens on 127.0.0.1 (or ::1) on a free port, serves a bounded number of
connections, and is stopped by the test that started it.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from record_lab import wait_port

from tlslens.x509 import pki

ROOT = Path(__file__).resolve().parent.parent
PKI = ROOT / "tests" / "vectors" / "pki"
NAME = "tlslens.test"

Behaviour = Callable[[socket.socket], None]


class ScriptedServer:
    """Accepts up to ``limit`` connections and runs ``behaviour`` on each in a thread."""

    def __init__(self, behaviour: Behaviour, *, host: str = "127.0.0.1", limit: int = 200) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(8)
        self.port = int(self.listener.getsockname()[1])
        self.behaviour = behaviour
        self.limit = limit
        self.errors: list[BaseException] = []
        self.seen: list[bytes] = []  # what the plaintext preludes received, for assertions
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        for _ in range(self.limit):
            try:
                conn, _addr = self.listener.accept()
            except OSError:
                return
            worker = threading.Thread(target=self._one, args=(conn,), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _one(self, conn: socket.socket) -> None:
        conn.settimeout(15)
        try:
            self.behaviour(conn)
        except (OSError, ssl.SSLError):
            pass  # the client went away: that is what several tests do on purpose
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            conn.close()

    def close(self) -> None:
        self.listener.close()
        for worker in self._threads:
            worker.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def server_context(
    cert: str = "server", *, alpn: list[str] | None = None, chain: bool = True
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certfile = PKI / (f"{cert}-chain.pem" if chain else f"{cert}.pem")
    context.load_cert_chain(certfile, PKI / f"{cert}.key")
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        more = conn.recv(1)
        if not more:
            break
        data += more
    return data


BODY = b"hello from the python ssl server\n"


def http_answer(tls: socket.socket) -> None:
    """Read one request header and answer 200 with a small body, then close."""
    request = b""
    while b"\r\n\r\n" not in request:
        more = tls.recv(4096)
        if not more:
            return
        request += more
    tls.sendall(
        b"HTTP/1.1 200 OK\r\nServer: tlslens-test\r\nContent-Type: text/plain\r\n"
        + f"Content-Length: {len(BODY)}\r\nConnection: close\r\n\r\n".encode()
        + (b"" if request.startswith(b"HEAD") else BODY)
    )
    try:
        tls.unwrap()
    except (OSError, ssl.SSLError):
        pass


def tls_then(context: ssl.SSLContext, after: Callable[[ssl.SSLSocket], None]) -> Behaviour:
    def behaviour(conn: socket.socket) -> None:
        tls = context.wrap_socket(conn, server_side=True)
        after(tls)

    return behaviour


def _quiet(tls: ssl.SSLSocket) -> None:
    """Wait for the client to close (it sends nothing after the handshake)."""
    try:
        while tls.recv(4096):
            pass
    except (OSError, ssl.SSLError):
        pass


# -- STARTTLS fronts: the server side of each plaintext exchange, then TLS ------------


def _front_smtp(conn: socket.socket, seen: list[bytes]) -> None:
    conn.sendall(b"220 mail.tlslens.test ESMTP ready\r\n")
    seen.append(read_line(conn))  # EHLO
    conn.sendall(b"250-mail.tlslens.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
    seen.append(read_line(conn))  # STARTTLS
    conn.sendall(b"220 2.0.0 go ahead\r\n")


def _front_imap(conn: socket.socket, seen: list[bytes]) -> None:
    conn.sendall(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
    line = read_line(conn)
    seen.append(line)
    conn.sendall(line.split(b" ")[0] + b" OK Begin TLS negotiation now\r\n")


def _front_pop3(conn: socket.socket, seen: list[bytes]) -> None:
    conn.sendall(b"+OK POP3 ready\r\n")
    seen.append(read_line(conn))
    conn.sendall(b"+OK Begin TLS\r\n")


def _front_ftp(conn: socket.socket, seen: list[bytes]) -> None:
    conn.sendall(b"220-tlslens test FTP\r\n220 ready\r\n")
    seen.append(read_line(conn))
    conn.sendall(b"234 AUTH TLS successful\r\n")


def _front_xmpp(conn: socket.socket, seen: list[bytes]) -> None:
    head = b""
    while b"version='1.0'>" not in head and b'version="1.0">' not in head:
        more = conn.recv(4096)
        if not more:
            return
        head += more
    seen.append(head)
    conn.sendall(
        b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
        b"xmlns:stream='http://etherx.jabber.org/streams' from='tlslens.test' id='t1' "
        b"version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
        b"<required/></starttls></stream:features>"
    )
    request = b""
    while b"/>" not in request:
        request += conn.recv(4096)
    seen.append(request)
    conn.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")


def _front_ldap(conn: socket.socket, seen: list[bytes]) -> None:
    head = conn.recv(2)
    body = b""
    while len(body) < head[1]:
        body += conn.recv(head[1] - len(body))
    seen.append(head + body)
    # LDAPMessage { messageID 1, ExtendedResponse { resultCode success, "", "" } }
    conn.sendall(bytes.fromhex("300c02010178070a010004000400"))


def _front_postgres(conn: socket.socket, seen: list[bytes]) -> None:
    request = b""
    while len(request) < 8:
        request += conn.recv(8 - len(request))
    seen.append(request)
    conn.sendall(b"S")


def _front_mysql(conn: socket.socket, seen: list[bytes]) -> None:
    salt1, salt2 = b"abcdefgh", b"ijklmnopqrst\0"
    payload = (
        b"\x0a8.0.36-tlslens\0"
        + struct.pack("<I", 7)
        + salt1
        + b"\0"
        + struct.pack("<H", 0xFFFF)  # lower capabilities, CLIENT_SSL among them
        + b"\x2d"
        + struct.pack("<H", 2)
        + struct.pack("<H", 0x00FF)
        + bytes([21])
        + b"\0" * 10
        + salt2
        + b"caching_sha2_password\0"
    )
    conn.sendall(len(payload).to_bytes(3, "little") + b"\0" + payload)
    request = b""
    while len(request) < 36:
        request += conn.recv(36 - len(request))
    seen.append(request)


FRONTS: dict[str, Callable[[socket.socket, list[bytes]], None]] = {
    "smtp": _front_smtp,
    "imap": _front_imap,
    "pop3": _front_pop3,
    "ftp": _front_ftp,
    "xmpp": _front_xmpp,
    "ldap": _front_ldap,
    "postgres": _front_postgres,
    "mysql": _front_mysql,
}


@contextmanager
def starttls_server(protocol: str) -> Iterator[ScriptedServer]:
    context = server_context()
    seen: list[bytes] = []

    def behaviour(conn: socket.socket) -> None:
        FRONTS[protocol](conn, seen)
        _quiet(context.wrap_socket(conn, server_side=True))

    with ScriptedServer(behaviour) as server:
        server.seen = seen
        yield server


# -- real server programs ----------------------------------------------------------


@contextmanager
def program(
    cmd: list[str], port: int, *, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server program in its own process group until the test is done; stop it by PID."""
    # stderr goes to a file: a pipe nobody reads fills up and stalls a chatty server.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    try:
        try:
            wait_port(port)
        except RuntimeError:
            proc.kill()
            proc.wait(timeout=5)
            log.seek(0)
            raise RuntimeError(
                f"{cmd[0]} did not start: {log.read().decode(errors='replace')}"
            ) from None
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        log.close()


def openssl_server(port: int, *args: str, cert: str = "server", chain: bool = True) -> list[str]:
    cmd = [
        "openssl",
        "s_server",
        "-accept",
        str(port),
        "-naccept",
        "4",
        "-cert",
        str(PKI / f"{cert}.pem"),
        "-key",
        str(PKI / f"{cert}.key"),
        "-www",
        *args,
    ]
    if chain:
        cmd[cmd.index("-www") : cmd.index("-www")] = ["-cert_chain", str(PKI / "intermediate.pem")]
    return cmd


def expired_leaf(work: Path) -> tuple[Path, Path]:
    """A leaf for tlslens.test, issued by the lab intermediate, that expired in 2021."""
    issuer = lab_intermediate()
    csr, leaf_key, _story = pki.make_csr(NAME, [NAME], pki.new_key("ec"))
    leaf = pki.sign_csr(csr, issuer, now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), days=365)
    cert, keyfile = work / "expired.pem", work / "expired.key"
    cert.write_bytes(pki.pem_cert(leaf.certificate) + (PKI / "intermediate.pem").read_bytes())
    keyfile.write_bytes(pki.pem_key(leaf_key))
    return cert, keyfile


def pyopenssl_behaviour(
    groups: str, *, cert: str = "server", server_order: bool = True
) -> Behaviour:
    """A TLS server on the OpenSSL that `cryptography` ships (pyOpenSSL), which speaks
    X25519MLKEM768: the truth for the post-quantum questions of the scanner."""
    from OpenSSL import SSL
    from OpenSSL._util import lib

    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.use_certificate_chain_file(str(PKI / f"{cert}-chain.pem"))
    context.use_privatekey_file(str(PKI / f"{cert}.key"))
    assert lib.SSL_CTX_set1_curves_list(context._context, groups.encode()) == 1
    if server_order:
        context.set_options(SSL.OP_CIPHER_SERVER_PREFERENCE)

    def behaviour(conn: socket.socket) -> None:
        # pyOpenSSL wants a blocking socket (a timeout makes reads raise WantReadError);
        # SO_RCVTIMEO still bounds a client that never sends.
        conn.setblocking(True)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
        tls = SSL.Connection(context, conn)
        tls.set_accept_state()
        try:
            tls.do_handshake()
            tls.shutdown()
        except SSL.Error:
            pass

    return behaviour


def nginx_command(
    nginx: str, work: Path, port: int, directives: str, *, tls: bool = True
) -> list[str]:
    """nginx in the foreground, one process, every path under ``work``, serving the lab
    certificate on 127.0.0.1:PORT over HTTP/2 and HTTP/1.1 with ``directives`` added
    (plain HTTP/1.1 without ``tls``: a TLS client on the wrong port)."""
    listen = "ssl http2" if tls else ""
    (work / "nginx.conf").write_text(
        f"""
daemon off;
master_process off;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port} {listen};
        server_name {NAME};
        ssl_certificate {PKI}/server-chain.pem;
        ssl_certificate_key {PKI}/server.key;
        {directives}
        location / {{ return 200 "hello from nginx\\n"; }}
    }}
}}
"""
    )
    return [nginx, "-c", str(work / "nginx.conf"), "-p", str(work)]


def tlslite_behaviour(
    cipher_names: list[str],
    key_exchange: list[str],
    versions: tuple[tuple[int, int], ...],
    compress: list[str] | None = None,
) -> Behaviour:
    """A server from tlslite-ng (pure Python): an implementation independent of OpenSSL and
    GnuTLS, which picks cipher suites in its own, explicit order; ``compress`` the RFC 8879
    algorithms it compresses its certificate with (its default: all it has)."""
    from tlslite import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey

    chain = X509CertChain()
    chain.parsePemList((PKI / "server-chain.pem").read_text())
    key = parsePEMKey((PKI / "server.key").read_text(), private=True)
    settings = HandshakeSettings()
    settings.cipherNames = list(cipher_names)
    settings.keyExchangeNames = list(key_exchange)
    settings.minVersion, settings.maxVersion = min(versions), max(versions)
    settings.versions = sorted(versions, reverse=True)
    if compress is not None:
        settings.certificate_compression_send = list(compress)

    def behaviour(conn: socket.socket) -> None:
        tls = TLSConnection(conn)
        try:
            tls.handshakeServer(certChain=chain, privateKey=key, settings=settings)
            tls.close()
        except Exception:
            pass

    return behaviour


def gnutls_command(gnutls: str, port: int, *extra: str) -> list[str]:
    """gnutls-serv with the lab ECDSA certificate and its chain."""
    return [
        gnutls,
        "-p",
        str(port),
        "--x509certfile",
        str(PKI / "ecdsa-chain.pem"),
        "--x509keyfile",
        str(PKI / "ecdsa.key"),
        *extra,
    ]


def lab_intermediate() -> pki.Issued:
    """The lab PKI's intermediate CA, with its key, to issue certificates and OCSP answers."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key((PKI / "intermediate.key").read_bytes(), None)
    inter = x509.load_pem_x509_certificate((PKI / "intermediate.pem").read_bytes())
    return pki.Issued(inter, key, "")  # type: ignore[arg-type]


def lab_staple(path: Path, cert: str = "server") -> Path:
    """A good OCSP response from the lab intermediate for ``cert`` (PKI/cert.pem), written to
    ``path`` for a server to staple: for another certificate than the server's, a bad staple."""
    subject = x509.load_pem_x509_certificate((PKI / f"{cert}.pem").read_bytes())
    der, _story = pki.make_ocsp_response(subject, lab_intermediate(), now=dt.datetime.now(dt.UTC))
    path.write_bytes(der)
    return path


# -- QUIC -----------------------------------------------------------------------------


class QuicServer:
    """tools/record_quic.py's aioquic HTTP/3 server on ``host``:``port`` (UDP), in its own
    event loop on a daemon thread; ``options`` are its QuicConfiguration fields. Stopped
    (the endpoint closed, the loop ended, the thread joined) by the test that started it."""

    def __init__(
        self,
        port: int,
        *,
        cert: str = "server",
        retry: bool = False,
        host: str = "127.0.0.1",
        **options: object,
    ):
        import asyncio

        from aioquic.asyncio.server import serve
        from record_quic import H3Server, server_config

        self.port = port
        self.loop = asyncio.new_event_loop()
        config = server_config(PKI, cert, **options)
        started = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            try:
                self.endpoint = self.loop.run_until_complete(
                    serve(
                        host,
                        port,
                        configuration=config,
                        create_protocol=H3Server,
                        retry=retry,
                    )
                )
            except BaseException as exc:
                failed.append(exc)
                started.set()
                return
            started.set()
            self.loop.run_forever()
            self.endpoint.close()
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not started.wait(10) or failed:
            raise RuntimeError(f"the QUIC server did not start: {failed}")

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    def __enter__(self) -> QuicServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
