"""The nginx scenarios of tools/record_captures.py: curl and OpenSSL clients over HTTP/1.1,
HTTP/2 with h2, and the stapled OCSP response of the chains scenario."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from record_lab import (
    HOST,
    NAME,
    Context,
    capture,
    free_port,
    process,
    run,
    wait_listening,
    wait_port,
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


def nginx_stapling(ctx: Context, port: int, files: Path) -> None:
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
