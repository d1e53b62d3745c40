"""Build wolfSSL's example DTLS client and server for tools/record_dtls13.py (DTLS 1.3 and
DTLS connection IDs).

Usage:
    python tools/build_wolfssl.py [--cache tools/.cache/wolfssl]

No Debian package speaks DTLS 1.3 (OpenSSL 3.0, GnuTLS 3.7, mbed TLS 2.28; Debian's wolfSSL
5.5.4 is built without it), so the recorder builds wolfSSL itself. Its source comes from
crates.io: the `wolfssl-sys` crate ships wolfSSL's whole autotools tree (less its test
certificates, which the recorder does not need: it brings the lab PKI) in `wolfssl-src/`.
A throwaway cargo project depending on the pinned crate is fetched with `cargo fetch`, the
source copied into the cache, and built with autotools (Debian's autoconf, automake and
libtool, installed here when missing and run as root) into `examples/server/server` and
`examples/client/client`.

The build enables DTLS 1.3 (with the HelloRetryRequest cookie it implies), DTLS connection
IDs (RFC 9146 for DTLS 1.2, RFC 9147's for 1.3: `--cid[=ID]` on both examples), the MTU
option (`-u<MTU>` on both examples) and the key log export: with
WOLFSSL_SSLKEYLOGFILE_USE_ENV the secrets go to the file named by SSLKEYLOGFILE, else to
/dev/null (the TLS 1.3 ones never to stdout, where the examples print their own lines; the
DTLS 1.2 CLIENT_RANDOM line is printed there too). A second run reuses the built programs
when they were built with the same CONFIGURE (a stamp file beside them says which).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "tools" / ".cache" / "wolfssl"
# wolfssl-sys 5.3.0 vendors wolfSSL 5.9.4 (configure.ac's AC_INIT): pinned so that a fresh
# machine records the same stack as the committed capture's README names.
CRATE = "wolfssl-sys"
CRATE_VERSION = "5.3.0"
WOLFSSL_VERSION = "5.9.4"
CONFIGURE = [
    "--disable-shared",
    "--enable-static",
    "--enable-dtls",
    "--enable-dtls13",
    "--enable-dtlscid",
    "--enable-dtls-mtu",
    "--enable-keylog-export",
    "--enable-sni",
    "--enable-chacha",
    "--enable-aesgcm",
    "--disable-crypttests",
    "--disable-benchmark",
    'CFLAGS=-O2 -DWOLFSSL_SSLKEYLOGFILE_OUTPUT=\\"/dev/null\\" -DWOLFSSL_SSLKEYLOGFILE_USE_ENV',
]
PROGRAMS = ("examples/server/server", "examples/client/client")
# Written after a build: the CONFIGURE it was built with, one argument a line.
STAMP = ".tlslens-configure"
TOOLS = {"autoreconf": "autoconf", "automake": "automake", "libtoolize": "libtool"}


def _run(cmd: list[str], cwd: Path, log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:2])} failed ({done.returncode}); see {log}")


def _install_autotools(log: Path) -> None:
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        _run(["apt-get", "install", "-y", "-q", *missing], ROOT, log)


def fetch_source(cache: Path, log: Path) -> Path:
    """The crate's wolfssl-src/ copied to cache/src (once), through cargo's own registry
    cache: a throwaway package depending on the exact crate version, `cargo fetch`ed."""
    src = cache / "src"
    if (src / "configure.ac").exists():
        return src
    probe = cache / "fetch"
    (probe / "src").mkdir(parents=True, exist_ok=True)
    (probe / "src" / "lib.rs").write_text("")
    (probe / "Cargo.toml").write_text(
        '[package]\nname = "wolfssl-source-fetch"\nversion = "0.0.0"\nedition = "2021"\n'
        f'[dependencies]\n{CRATE} = "={CRATE_VERSION}"\n[workspace]\n'
    )
    _run(["cargo", "fetch", "--manifest-path", str(probe / "Cargo.toml")], probe, log)
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    found = sorted(home.glob(f"registry/src/*/{CRATE}-{CRATE_VERSION}/wolfssl-src"))
    if not found:
        raise SystemExit(f"{CRATE} {CRATE_VERSION} fetched but its wolfssl-src/ is not found")
    shutil.copytree(found[0], src)
    if f"[{WOLFSSL_VERSION}]" not in (src / "configure.ac").read_text():
        raise SystemExit(f"{CRATE} {CRATE_VERSION} does not hold wolfSSL {WOLFSSL_VERSION}")
    return src


def build(cache: Path = CACHE) -> Path:
    """The source folder holding the built examples (their paths: PROGRAMS)."""
    cache.mkdir(parents=True, exist_ok=True)
    log = cache / "build.log"
    src = fetch_source(cache, log)
    stamp = src / STAMP
    wanted = "\n".join(CONFIGURE)
    built = stamp.read_text() if stamp.exists() else None
    if built == wanted and all((src / p).exists() for p in PROGRAMS):
        return src
    _install_autotools(log)
    _run(["./autogen.sh"], src, log)
    _run(["./configure", *CONFIGURE], src, log)
    # The options live in the Makefile's CFLAGS, which make does not track: objects built
    # under another CONFIGURE would be linked as they are.
    _run(["make", "clean"], src, log)
    _run(["make", f"-j{os.cpu_count() or 1}", *PROGRAMS], src, log)
    stamp.write_text(wanted)
    return src


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args(argv)
    src = build(args.cache)
    for program in PROGRAMS:
        print(src / program)
    return 0


if __name__ == "__main__":
    sys.exit(main())
