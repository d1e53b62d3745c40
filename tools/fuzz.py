"""Coverage-guided fuzzing (atheris, libFuzzer) of every entry point that reads outside bytes.

Usage:
    python tools/fuzz.py all [--seconds N] [--runs N]   # each target in turn; stats summed
    python tools/fuzz.py TARGET [libFuzzer options]     # one target, e.g. -runs=100000

Each target takes attacker bytes and may raise only tlslens' own errors (``TLSLensError``)
or return; any other exception is a bug, which libFuzzer saves under
tests/vectors/fuzz/TARGET/ (``crash-*``); tests/test_fuzz.py replays every file kept there.
Seeds come from the project's captures, key logs and lab PKI (and ../shared/corpus when it
is there).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import re
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"
REGRESSIONS = VECTORS / "fuzz"
AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
# Longest input per target: whole captures need room, single messages do not.
MAX_LEN = {"capture": 65536, "capture_reader": 65536, "probe": 32768, "record": 32768}


def _targets() -> dict[str, Callable[[bytes], None]]:
    """Imported lazily: the atheris instrumentation must wrap the imports."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from tlslens._core import RecordProtection, Session, decode_tcp
    from tlslens.capture import CaptureReader
    from tlslens.decrypt.h2wire import read_http2
    from tlslens.decrypt.http import read_http1, summarize
    from tlslens.decrypt.suites import cipher_spec
    from tlslens.errors import TLSLensError
    from tlslens.explain.fields import message_fields
    from tlslens.handshake import extensions as ext
    from tlslens.handshake import messages as hs
    from tlslens.keys.keylog import KeyLog
    from tlslens.pipeline import read_capture
    from tlslens.registry import CIPHER_SUITES
    from tlslens.scan.probe import TLS12, TLS13, Offer, Probe
    from tlslens.x509.certificate import parse_certificate
    from tlslens.x509.ocsp import check_stapled_ocsp
    from tlslens.x509.trust import TrustStore
    from tlslens.x509.validate import validate

    lab_leaf = x509.load_pem_x509_certificate((VECTORS / "pki" / "server.pem").read_bytes())
    lab_issuer = x509.load_pem_x509_certificate((VECTORS / "pki" / "intermediate.pem").read_bytes())
    lab_leaf_der = lab_leaf.public_bytes(Encoding.DER)
    lab_store = TrustStore.from_pem("lab", (VECTORS / "pki" / "root.pem").read_bytes())
    suites = sorted(CIPHER_SUITES)
    handshake_types = [1, 2, 4, 8, 11, 12, 13, 14, 15, 16, 20, 22, 24, 25]

    def capture(data: bytes) -> None:
        """The whole pipeline: pcap/pcapng, link/IP/TCP, reassembly, TLS, the model."""
        try:
            for _conn in read_capture("fuzz.pcapng", stream=io.BytesIO(data), records=True):
                pass
        except TLSLensError:
            pass

    def capture_reader(data: bytes) -> None:
        try:
            for _frame in CaptureReader(io.BytesIO(data), name="fuzz"):
                pass
        except TLSLensError:
            pass

    def packet(data: bytes) -> None:
        """The compiled decoder through its boundary (reassembly is cargo-fuzz's: make fuzz)."""
        for linktype in (0, 1, 101, 108, 113, 228, 229, 276):
            decode_tcp(linktype, data)

    def record(data: bytes) -> None:
        """The record layer through the session that reads every connection: the first
        byte picks the options, the rest is one direction's bytes in 97-byte segments."""
        flags = data[0] if data else 0
        session = Session(
            client_side=flags >> 1 & 1,
            mid_stream=flags & 4 == 4,
            ports=(50000, 443),
            skip_application_data=flags & 1 == 1,
        )
        side = flags >> 3 & 1
        offset = 0
        for start in range(1, len(data), 97):
            chunk = data[start : start + 97]
            session.data(side, offset, chunk)
            offset += len(chunk)
        session.finish()

    def handshake(data: bytes) -> None:
        """Every message parser and extension decoder, and the byte layout the report draws
        (explain/fields.py: it must never raise, whatever the lengths claim)."""
        if len(data) < 2:
            return
        msg_type = handshake_types[data[0] % len(handshake_types)]
        raw = bytes([msg_type]) + (len(data) - 1).to_bytes(3, "big") + data[1:]
        for tls13 in (False, True):
            message_fields(raw, tls13=tls13)
            message_fields(data, tls13=tls13)  # a header whose length lies
        for ctx in (
            hs.HandshakeContext(),
            hs.HandshakeContext(version=0x0303, kx="ECDHE", auth="RSA"),
            hs.HandshakeContext(version=0x0304),
            hs.HandshakeContext(version=0x0303, kx="DHE", auth="RSA"),
        ):
            try:
                message = hs.parse_message(msg_type, data[1:], ctx)
            except TLSLensError:
                continue
            for extension in getattr(message, "extensions", ()):
                for where in (ext.CLIENT_HELLO, ext.SERVER_HELLO, ext.ENCRYPTED_EXTENSIONS):
                    try:
                        ext.decode_extension(extension, where)
                    except TLSLensError:
                        pass

    def keylog(data: bytes) -> None:
        KeyLog().add_text(data.decode("utf-8", "replace"), "fuzz")

    def certificate(data: bytes) -> None:
        parse_certificate(data)
        validate([data], hostname="tlslens.test", at=AT, store=lab_store)
        validate([lab_leaf_der, data], hostname="tlslens.test", at=AT, store=lab_store)

    def ocsp(data: bytes) -> None:
        check_stapled_ocsp(data, lab_leaf, lab_issuer, AT)
        check_stapled_ocsp(data, lab_leaf, None, AT)

    def decrypt(data: bytes) -> None:
        """Random suites, keys, IVs and ciphertexts: DecryptError or plaintext, nothing else."""
        if len(data) < 8:
            return
        info = CIPHER_SUITES[suites[int.from_bytes(data[:2], "big") % len(suites)]]
        version = (0x0300, 0x0301, 0x0302, 0x0303, 0x0304)[data[2] % 5]
        try:
            spec = cipher_spec(info, version)
        except TLSLensError:
            return
        rest = data[3:]
        # The lengths the connection's key derivation hands over (the core's decrypt/ module).
        key_len = spec.export_key_len or spec.key_len
        iv_len = (
            12 if version == 0x0304 else spec.block_size if spec.export_key_len else spec.iv_len
        )
        key, rest = rest[:key_len].ljust(key_len, b"\0"), rest[key_len:]
        iv, rest = rest[:iv_len].ljust(iv_len, b"\0"), rest[iv_len:]
        mac_key, rest = rest[: spec.mac_len].ljust(spec.mac_len, b"\0"), rest[spec.mac_len :]
        try:
            protection = RecordProtection(
                spec,
                version=version,
                key=key,
                iv=iv,
                mac_key=mac_key,
                encrypt_then_mac=bool(data[3] & 1),
                tls13=version == 0x0304,
            )
            protection.open_record(23, 0x0303, rest)
        except TLSLensError:
            pass

    def http(data: bytes) -> None:
        notes: list[str] = []
        read_http1(io.BytesIO(data), "c2s", notes)
        read_http2(io.BytesIO(data), "s2c", notes)
        half = len(data) // 2
        summarize(io.BytesIO(data[:half]), io.BytesIO(data[half:]))

    def probe(data: bytes) -> None:
        """The scanner reading a server's answer (mutated flights)."""
        for version in (TLS12, TLS13):
            candidate = Probe(Offer(version=version, cipher_suites=(0x1301, 0xC02F, 0x002F)))
            for start in range(0, len(data), 211):
                candidate.feed(data[start : start + 211])
                if candidate.done:
                    break
            candidate.feed(b"")
            candidate.result()

    return {
        "capture": capture,
        "capture_reader": capture_reader,
        "packet": packet,
        "record": record,
        "handshake": handshake,
        "keylog": keylog,
        "certificate": certificate,
        "ocsp": ocsp,
        "decrypt": decrypt,
        "http": http,
        "probe": probe,
    }


def seeds(target: str, into: Path) -> None:
    """A few real inputs per target, written as files of ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    found: list[bytes] = []
    captures = sorted((VECTORS / "captures").glob("*.pcap*"))
    corpus = ROOT.parent / "shared" / "corpus"
    small = [p for p in captures if p.stat().st_size < 300_000][:6]
    if corpus.exists():
        small += [p for p in sorted(corpus.rglob("*.pcap*")) if p.stat().st_size < 60_000][:10]
    if target in ("capture", "capture_reader"):
        found = [p.read_bytes() for p in small]
    elif target in ("packet", "record", "handshake", "probe", "http"):
        from tlslens._core import TcpSegment, decode_tcp
        from tlslens.capture import open_capture

        for path in small[:4]:
            raw, reader = open_capture(path)
            with raw:
                payloads: dict[tuple[int, int], bytes] = {}
                for _ts, linktype, frame in reader:
                    if target == "packet" and len(found) < 40:
                        found.append(frame)
                    seg = decode_tcp(linktype, frame)
                    if isinstance(seg, TcpSegment) and seg.payload:
                        key = (seg.sport, seg.dport)
                        if len(payloads.get(key, b"")) < 20_000:
                            payloads[key] = payloads.get(key, b"") + seg.payload
            for stream in list(payloads.values())[:6]:
                if target == "record" or target == "probe":
                    found.append(stream)
                elif target == "handshake" and stream[:1] == b"\x16":
                    length = int.from_bytes(stream[3:5], "big")
                    body = stream[5 : 5 + length]
                    if len(body) >= 4:
                        found.append(
                            bytes(
                                [
                                    [1, 2, 4, 8, 11, 12, 13, 14, 15, 16, 20, 22, 24, 25].index(
                                        body[0]
                                    )
                                    if body[0]
                                    in (1, 2, 4, 8, 11, 12, 13, 14, 15, 16, 20, 22, 24, 25)
                                    else 0
                                ]
                            )
                            + body[4:]
                        )
        if target == "http":
            found += [
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000"),
            ]
    elif target == "keylog":
        found = [p.read_bytes()[:20_000] for p in sorted((VECTORS / "captures").glob("*.keys"))[:4]]
    elif target == "certificate":
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        for pem in sorted((VECTORS / "pki").glob("*.pem")):
            for cert in x509.load_pem_x509_certificates(pem.read_bytes()):
                found.append(cert.public_bytes(Encoding.DER))
    elif target == "ocsp":
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        from tlslens.x509 import pki

        leaf = x509.load_pem_x509_certificate((VECTORS / "pki" / "server.pem").read_bytes())
        ca_key = serialization.load_pem_private_key(
            (VECTORS / "pki" / "intermediate.key").read_bytes(), None
        )
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
        ca = x509.load_pem_x509_certificate((VECTORS / "pki" / "intermediate.pem").read_bytes())
        found.append(pki.make_ocsp_response(leaf, pki.Issued(ca, ca_key, ""), now=AT)[0])
    elif target == "decrypt":
        found = [bytes(range(256)) * 2, b"\x13\x01\x04" + bytes(100)]
    for index, data in enumerate(found):
        (into / f"seed-{index}").write_bytes(data)


def _run_one(target: str, argv: list[str]) -> None:
    import atheris  # type: ignore[import-untyped]

    with atheris.instrument_imports():
        import tlslens
        import tlslens.pipeline  # noqa: F401

        functions = _targets()
    function = functions[target]

    def one(data: bytes) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library deprecation notes are not crashes
            function(data)

    atheris.Setup([sys.argv[0], *argv], one)
    atheris.Fuzz()


def run_all(
    seconds: int | None, runs: int | None, only: list[str] | None = None
) -> tuple[int, float, list[str]]:
    """Each target in a child process; (inputs, seconds, targets that crashed)."""
    total_runs, total_time, crashed = 0, 0.0, []
    for target in sorted(only or _target_names()):
        artifacts = REGRESSIONS / target
        artifacts.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            seed_dir = Path(tmp) / "seeds"
            seeds(target, seed_dir)
            work = Path(tmp) / "work"
            work.mkdir()
            options = [f"-artifact_prefix={artifacts}/", "-rss_limit_mb=2048", "-timeout=20"]
            options.append(f"-max_len={MAX_LEN.get(target, 8192)}")
            options += [f"-max_total_time={seconds}"] if seconds else []
            options += [f"-runs={runs}"] if runs else []
            done = subprocess.run(
                [sys.executable, __file__, target, *options, str(work), str(seed_dir)],
                capture_output=True,
                text=True,
                check=False,
            )
        match = re.search(r"Done (\d+) runs in (\d+) second", done.stderr)
        count = int(match.group(1)) if match else 0
        elapsed = float(match.group(2)) if match else 0.0
        total_runs += count
        total_time += elapsed
        status = "ok" if done.returncode == 0 else f"CRASH (exit {done.returncode})"
        if done.returncode != 0:
            crashed.append(target)
            print(done.stderr[-3000:], file=sys.stderr)
        print(f"{target:15} {count:9d} inputs {elapsed:6.0f} s  {status}", flush=True)
    return total_runs, total_time, crashed


def _target_names() -> list[str]:
    return [
        "capture", "capture_reader", "packet", "record", "handshake",
        "keylog", "certificate", "ocsp", "decrypt", "http", "probe",
    ]  # fmt: skip


def replay(target: str, data: bytes) -> None:
    """Run one saved input through its target (tests/test_fuzz.py)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _targets()[target](data)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in _target_names():
        _run_one(sys.argv[1], sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["all"])
    parser.add_argument(
        "--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "0")) or None
    )
    parser.add_argument("--runs", type=int)
    parser.add_argument("--only", nargs="+", choices=_target_names(), help="these targets alone")
    args = parser.parse_args()
    runs, elapsed, crashed = run_all(args.seconds, args.runs, args.only)
    print(f"all            {runs:9d} inputs {elapsed:6.0f} s  {len(crashed)} target(s) crashed")
    sys.exit(1 if crashed else 0)


if __name__ == "__main__":
    main()
