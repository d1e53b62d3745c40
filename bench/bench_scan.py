"""Benchmark: `tlslens scan` against nmap ssl-enum-ciphers, sslscan, sslyze and testssl.sh.

All five scan the same local nginx (TLS 1.2 + 1.3, the HIGH cipher list), one after the
other in one run, inside a network namespace this script creates. The server sits behind
a TCP relay that holds every chunk 25 ms in each direction, so each exchange costs 50 ms of
round-trip time (these kernels have no netem); the relay also counts the TCP connections
each tool opens. Prints wall time and connections per tool, and each peer's ratio to
tlslens. Run as root: `python bench/bench_scan.py` (installs nmap, sslscan and testssl.sh
with apt-get and sslyze into .venv-peers/sslyze when missing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _bytecode  # noqa: F401  (tlslens' bytecode, compiled before anything is timed)

ROOT = Path(__file__).resolve().parent.parent
PKI = ROOT / "tests" / "vectors" / "pki"
NAMESPACE = "tlslens-bench"
SERVER_PORT = 8443
RELAY_PORT = 9443
DELAY_S = 0.025


class Relay:
    """127.0.0.1:RELAY_PORT -> 127.0.0.1:SERVER_PORT, each chunk held DELAY_S each way."""

    def __init__(self) -> None:
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", RELAY_PORT, backlog=512)
        )
        self.ready.set()
        self.loop.run_forever()
        server.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pending: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await pending.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(65536)
                await pending.put((time.monotonic() + DELAY_S, data))
                if not data:
                    break
            await sender
        except (ConnectionError, OSError, asyncio.CancelledError):
            sender.cancel()
        finally:
            writer.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", SERVER_PORT)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(self._pipe(client_r, server_w), self._pipe(server_r, client_w))
        except asyncio.CancelledError:
            pass  # the benchmark is over

    def start(self) -> None:
        self.thread.start()
        self.ready.wait(10)

    def stop(self) -> None:
        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        self.thread.join(5)


def _enter_namespace() -> None:
    """A fresh network namespace with only the loopback up: nothing leaves it."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
        sys.exit(f"unshare(CLONE_NEWNET) failed: errno {ctypes.get_errno()} (run as root)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


# Mozilla's "intermediate" configuration (ssl-config.mozilla.org, version 5.7), the one most
# servers copy; the default is nginx's own (HIGH:!aNULL:!MD5 on this OpenSSL).
MOZILLA_INTERMEDIATE = (
    "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
    "DHE-RSA-CHACHA20-POLY1305; ssl_prefer_server_ciphers off; ssl_session_tickets off;"
)


def _nginx(work: Path, directives: str = "") -> subprocess.Popen[bytes]:
    conf = work / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
master_process off;
pid {work}/nginx.pid;
error_log {work}/error.log;
worker_rlimit_nofile 4096;
events {{ worker_connections 2048; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{SERVER_PORT} ssl http2;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {PKI}/server-chain.pem;
        ssl_certificate_key {PKI}/server.key;
        {directives}
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""
    )
    return subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(work)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _install() -> dict[str, list[str]]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for program, package in (
        ("nmap", "nmap"),
        ("sslscan", "sslscan"),
        ("testssl", "testssl.sh"),
        ("nginx", "nginx"),
    ):
        if shutil.which(program) is None:
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", package],
                env=env,
                capture_output=True,
                check=False,
            )
    sslyze = ROOT / ".venv-peers" / "sslyze" / "bin" / "python"
    if not sslyze.exists():
        subprocess.run([sys.executable, "-m", "venv", str(sslyze.parent.parent)], check=True)
        subprocess.run(
            [str(sslyze), "-m", "pip", "install", "--quiet", "sslyze==6.3.1"], check=True
        )
    target = f"127.0.0.1:{RELAY_PORT}"
    tlslens = ROOT / ".venv" / "bin" / "tlslens"
    return {
        "tlslens": [str(tlslens), "scan", target, "--json"],
        "nmap": [
            "nmap",
            "-Pn",
            "-n",
            "-p",
            str(RELAY_PORT),
            "--script",
            "ssl-enum-ciphers",
            "127.0.0.1",
        ],
        "sslscan": ["sslscan", "--no-colour", target],
        "sslyze": [str(sslyze), "-m", "sslyze", target, "--quiet"],
        "testssl.sh": ["testssl", "--fast", "--quiet", "--color", "0", "--warnings", "off", target],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", help="tools to run (default: all)")
    parser.add_argument(
        "--config",
        choices=["default", "intermediate"],
        default="default",
        help="nginx's default ciphers, or Mozilla's intermediate configuration",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_scan.py needs root: it creates a network namespace")
    tools = _install()
    _enter_namespace()
    relay = Relay()
    with tempfile.TemporaryDirectory() as tmp:
        server = _nginx(Path(tmp), MOZILLA_INTERMEDIATE if args.config == "intermediate" else "")
        try:
            time.sleep(0.5)
            relay.start()
            results: dict[str, tuple[float, int, int]] = {}
            for name, cmd in tools.items():
                if args.only and name not in args.only:
                    continue
                before = relay.connections
                started = time.monotonic()
                done = subprocess.run(cmd, capture_output=True, timeout=900, check=False)
                elapsed = time.monotonic() - started
                results[name] = (elapsed, relay.connections - before, done.returncode)
                print(
                    f"{name:11} {elapsed:7.2f} s  {relay.connections - before:4d} connections  (exit {done.returncode})",
                    flush=True,
                )
            base = results.get("tlslens")
            if base:
                print(
                    f"\n50 ms RTT, one nginx (TLS 1.2 + 1.3, {args.config} ciphers); ratios to tlslens ({base[0]:.2f} s, {base[1]} connections):"
                )
                for name, (elapsed, connections, _code) in results.items():
                    if name != "tlslens":
                        print(
                            f"  {name:11} {elapsed / base[0]:6.1f}x the time, {connections / max(base[1], 1):5.2f}x the connections"
                        )
        finally:
            relay.stop()
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
