"""One live TLS connection, driven over memory BIOs so that every byte is recorded.

EDGE: sockets and the clock. tlslens owns the TCP socket; the TLS library only ever
sees memory buffers, so whatever crosses the wire in either direction — the STARTTLS
prelude, every record, the alerts, the close — is kept with the time it was sent or
received, beside the secrets the library's key log callback hands out. The recording is
then framed as a capture (``to_pcapng``) and goes through the capture pipeline unchanged.

Why pyOpenSSL and not Python's ``ssl``: ``ssl.SSLObject`` cannot ask for OCSP stapling
(``status_request``), and the system OpenSSL 3.0 behind it has no ML-KEM groups.
pyOpenSSL runs on the OpenSSL that ``cryptography`` ships (memory BIOs, a key log
callback, ``request_ocsp``, X25519MLKEM768), so the ClientHello is a modern client's.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable

from OpenSSL import SSL
from OpenSSL._util import lib as _ssl_lib

from tlslens._text import plural
from tlslens.errors import OptionError
from tlslens.explain.verdict import LiveOutcome
from tlslens.flows.synth import Close
from tlslens.model import Endpoint
from tlslens.net.request import HTTP1Head, HTTP2Head, RawRequest, Request
from tlslens.net.wire import (
    READ_CHUNK,
    REPLY_KEPT,
    Channel,
    Deadline,
    DeadlineError,
    Plan,
    Recording,
    RecordingLimitError,
    ServerClosedError,
    bind_client,
    resolve,
    socket_failure,
)

QUIET_AFTER_HANDSHAKE_S = 0.3  # what a silent client waits for tickets before it closes
CLOSE_WAIT_S = 1.0  # how long the server's close_notify and FIN are awaited
VERSIONS = {
    "1.0": SSL.TLS1_VERSION,
    "1.1": SSL.TLS1_1_VERSION,
    "1.2": SSL.TLS1_2_VERSION,
    "1.3": SSL.TLS1_3_VERSION,
}


def connect(plan: Plan, starttls: Callable[[Channel, Plan], None] | None = None) -> Recording:
    """Resolve, connect, run the prelude and the handshake, send and read; never raises for
    what the network or the server does: the outcome says it. OptionError for options the
    TLS library refuses (before anything is sent)."""
    context = _context(plan)
    rec = Recording(plan, LiveOutcome(timeout_s=plan.timeout_s, starttls=plan.starttls))
    outcome = rec.outcome
    deadline = Deadline(plan.timeout_s)
    try:
        address = resolve(plan, deadline)
    except OSError as exc:
        outcome.transport = "dns"
        outcome.detail = f"{plan.host}: {exc.strerror or exc}"
        return rec
    except DeadlineError:
        outcome.transport = "dns"
        outcome.detail = f"{plan.host}: no answer within {plan.timeout_s:g} s"
        return rec
    family, sockaddr = address
    rec.ip = str(sockaddr[0])
    rec.server = Endpoint(ipaddress.ip_address(sockaddr[0]).packed, plan.port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        _run(sock, sockaddr, plan, rec, deadline, context, starttls)
    finally:
        sock.close()
    return rec


def _run(
    sock: socket.socket,
    sockaddr: tuple[str, int],
    plan: Plan,
    rec: Recording,
    deadline: Deadline,
    context: SSL.Context,
    starttls: Callable[[Channel, Plan], None] | None,
) -> None:
    outcome = rec.outcome
    outcome.phase = "connecting"
    rec.syn_ts_ns = time.time_ns()
    sock.settimeout(max(deadline.left(), 0.001))
    try:
        sock.connect(sockaddr)
    except OSError as exc:
        outcome.transport, outcome.detail = socket_failure(exc, f"{rec.ip} port {plan.port}")
        if outcome.transport == "refused":
            rec.closes.append(Close(time.time_ns(), 1, "rst"))
        bind_client(sock, rec)
        return
    rec.synack_ts_ns = time.time_ns()
    bind_client(sock, rec)
    channel = Channel(sock, rec, deadline)
    try:
        if starttls is not None:
            outcome.phase = "starttls"
            starttls(channel, plan)
            if outcome.starttls_refusal is not None:
                _close(channel, None)
                return
        outcome.phase = "handshake"
        start = len(rec.chunks)
        tls = _handshake(channel, context, plan)
        outcome.server_head = _server_head(rec, start)
        if tls is None:
            return
        outcome.handshake_done = True
        outcome.phase = "data"
        _exchange(channel, tls, plan)
        outcome.phase = "closing"
        _close(channel, tls)
    except DeadlineError:
        outcome.transport = "timeout"
        outcome.server_head = outcome.server_head or _server_head(rec, 0)
    except ServerClosedError:
        outcome.transport = "closed"
    except RecordingLimitError:
        outcome.transport = "limit"
        outcome.detail = f"{plural(outcome.server_bytes, 'byte')} kept"
    except OSError as exc:
        outcome.transport, outcome.detail = socket_failure(exc, "the connection")
        if outcome.transport == "reset":
            rec.closes.append(Close(time.time_ns(), 1, "rst"))
    if not outcome.server_head:
        outcome.server_head = _server_head(rec, 0)


def _server_head(rec: Recording, start: int) -> bytes:
    head = b""
    for chunk in rec.chunks[start:]:
        if chunk.side == 1:
            head += chunk.data
            if len(head) >= 64:
                break
    return head[:64]


def _context(plan: Plan) -> SSL.Context:
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    # tlslens checks the chain itself, after the handshake, against the chosen trust
    # store: the handshake must complete whatever the certificate, so that the
    # validation can say what is wrong with it.
    context.set_verify(SSL.VERIFY_NONE, None)
    for option, value in (("--min-version", plan.min_version), ("--max-version", plan.max_version)):
        if value is None:
            continue
        if value not in VERSIONS:
            raise OptionError(option, f"{value!r} is not one of {', '.join(VERSIONS)}")
        setter = (
            context.set_min_proto_version
            if option == "--min-version"
            else context.set_max_proto_version
        )
        setter(VERSIONS[value])
    # Security level 0: a diagnosing client must finish a handshake with a weak server
    # (a 1024-bit key, TLS 1.0, SHA-1 signatures) to show what is weak; the offer itself
    # stays the library's default list unless --cipher says otherwise.
    try:
        context.set_cipher_list(((plan.cipher or "DEFAULT") + ":@SECLEVEL=0").encode())
    except SSL.Error as exc:
        raise OptionError("--cipher", f"{plan.cipher!r}: OpenSSL knows no such cipher") from exc
    if plan.ciphersuites is not None:
        try:
            context.set_tls13_ciphersuites(plan.ciphersuites.encode())
        except SSL.Error as exc:
            raise OptionError(
                "--ciphersuites", f"{plan.ciphersuites!r}: OpenSSL knows no such TLS 1.3 suite"
            ) from exc
    if plan.groups is not None:
        # pyOpenSSL has no setter for the group list; this is OpenSSL's own call on the
        # same context (SSL_CTX_set1_groups_list under its older name).
        if _ssl_lib.SSL_CTX_set1_curves_list(context._context, plan.groups.encode()) != 1:
            raise OptionError("--groups", f"{plan.groups!r}: OpenSSL knows no such group")
    if plan.alpn:
        context.set_alpn_protos([name.encode() for name in plan.alpn])
    if plan.client_cert is not None or plan.client_key is not None:
        if plan.client_cert is None or plan.client_key is None:
            raise OptionError("--client-cert", "--client-cert and --client-key go together")
        try:
            context.use_certificate_chain_file(plan.client_cert.encode())
        except SSL.Error as exc:
            raise OptionError(
                "--client-cert", f"{plan.client_cert}: not a usable PEM certificate"
            ) from exc
        try:
            context.use_privatekey_file(plan.client_key.encode())
            context.check_privatekey()
        except SSL.Error as exc:
            raise OptionError(
                "--client-key", f"{plan.client_key}: not a usable key for --client-cert"
            ) from exc
    # Ask for a stapled OCSP response (status_request): accept whatever comes; tlslens
    # checks it with the chain.
    context.set_ocsp_client_callback(lambda _conn, _data, _extra: True)
    return context


def _handshake(channel: Channel, context: SSL.Context, plan: Plan) -> SSL.Connection | None:
    """The handshake over memory BIOs; None when it failed (the outcome says how)."""
    rec = channel.rec
    context.set_keylog_callback(lambda _conn, line: rec.keylog.append(bytes(line)))
    tls = SSL.Connection(context, None)
    tls.set_connect_state()
    if plan.sni:
        tls.set_tlsext_host_name(
            plan.sni.encode("idna") if not plan.sni.isascii() else plan.sni.encode()
        )
    tls.request_ocsp()
    while True:
        try:
            tls.do_handshake()
        except SSL.WantReadError:
            _flush(channel, tls)
            data = channel.recv()
            if not data:
                rec.outcome.transport = "closed"
                return None
            tls.bio_write(data)
            continue
        except SSL.Error as exc:
            _flush(channel, tls)  # the alert the library sends as it gives up
            rec.outcome.tls_error = _ssl_error_text(exc)
            return None
        _flush(channel, tls)
        return tls


def _flush(channel: Channel, tls: SSL.Connection) -> None:
    """Send whatever the TLS library has written to its outgoing buffer."""
    while True:
        try:
            data = tls.bio_read(READ_CHUNK)
        except SSL.WantReadError:
            return
        if not data:
            return
        channel.send(data)


def _ssl_error_text(exc: SSL.Error) -> str:
    reasons = []
    for item in exc.args[0] if exc.args and isinstance(exc.args[0], list) else []:
        if isinstance(item, tuple) and item:
            reasons.append(str(item[-1]))
    return "; ".join(dict.fromkeys(reasons)) or str(exc) or type(exc).__name__


def _exchange(channel: Channel, tls: SSL.Connection, plan: Plan) -> None:
    """Send the request (if any) and read the answer until close, the read limit or time."""
    rec = channel.rec
    request = _request(plan, tls.get_alpn_proto_negotiated().decode("ascii", "replace"))
    for data in request.first():
        tls.sendall(data)
    _flush(channel, tls)
    quiet = None if request.expects_answer else QUIET_AFTER_HANDSHAKE_S
    while rec.plaintext_in < plan.read_limit and not request.done:
        try:
            data = channel.recv(quiet)
        except TimeoutError:
            return  # quiet long enough: the server has nothing more to say unasked
        except DeadlineError:
            rec.outcome.notes.append(
                f"the answer was read until the timeout ({plan.timeout_s:g} s, --timeout)"
            )
            return
        except RecordingLimitError:
            rec.outcome.notes.append(
                f"reading stopped after {plural(rec.outcome.server_bytes, 'byte')} from the server "
                "(--read-limit)"
            )
            return
        if not data:
            return
        tls.bio_write(data)
        while True:
            try:
                plain = tls.recv(READ_CHUNK)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                request.done = True
                break
            except SSL.Error as exc:
                rec.outcome.tls_error = _ssl_error_text(exc)
                _flush(channel, tls)
                request.done = True
                break
            rec.plaintext_in += len(plain)
            if len(rec.reply_head) < REPLY_KEPT:
                rec.reply_head += plain[: REPLY_KEPT - len(rec.reply_head)]
            for reply in request.received(plain):
                tls.sendall(reply)
        _flush(channel, tls)


def _request(plan: Plan, alpn: str) -> Request:
    name = plan.sni or plan.host
    if plan.send is not None:
        return RawRequest(plan.send)
    if plan.http:
        return HTTP2Head(name, plan.port) if alpn == "h2" else HTTP1Head(name, plan.port)
    return Request()


def _close(channel: Channel, tls: SSL.Connection | None) -> None:
    """close_notify, then our FIN, then what the server still sends until its FIN."""
    rec = channel.rec
    if tls is not None:
        try:
            tls.shutdown()
        except SSL.Error:
            pass
        _flush(channel, tls)
    try:
        channel.sock.shutdown(socket.SHUT_WR)
    except OSError:
        return
    rec.closes.append(Close(time.time_ns(), 0, "fin"))
    # The server's close is awaited briefly, and never past the whole operation's time.
    end = time.monotonic() + min(CLOSE_WAIT_S, max(channel.deadline.left(), 0.05))
    while not channel.eof and time.monotonic() < end:
        try:
            data = channel.recv(end - time.monotonic())
        except (TimeoutError, DeadlineError, RecordingLimitError):
            return
        if not data:
            return
        if tls is not None:
            tls.bio_write(data)


__all__ = ["VERSIONS", "connect"]
