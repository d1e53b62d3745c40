"""The generated IANA tables: up to date with shared/iana, and decomposed right."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tlslens import registry

from conftest import CORPUS, IN_CI, ROOT

IANA = CORPUS.parent / "iana"


def test_generated_file_is_up_to_date() -> None:
    if not (IANA / "cipher_suites.csv").exists():
        if IN_CI:
            pytest.fail(f"the IANA CSVs are not at {IANA}")
        pytest.skip(f"the IANA CSVs are not at {IANA}")
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools/gen_registry.py"), "--check", "--iana", str(IANA)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("code", "name", "kx", "auth", "cipher", "mac", "prf", "fs"),
    [
        (
            0xC030,
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "ECDHE",
            "RSA",
            "AES_256_GCM",
            "AEAD",
            "SHA384",
            True,
        ),
        (
            0x002F,
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            "RSA",
            "RSA",
            "AES_128_CBC",
            "SHA",
            "SHA256",
            False,
        ),
        (
            0x0039,
            "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
            "DHE",
            "RSA",
            "AES_256_CBC",
            "SHA",
            "SHA256",
            True,
        ),
        (
            0xC02B,
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "ECDHE",
            "ECDSA",
            "AES_128_GCM",
            "AEAD",
            "SHA256",
            True,
        ),
        (
            0xCCA8,
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "ECDHE",
            "RSA",
            "CHACHA20_POLY1305",
            "AEAD",
            "SHA256",
            True,
        ),
        (
            0xC0AE,
            "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
            "ECDHE",
            "ECDSA",
            "AES_128_CCM_8",
            "AEAD",
            "SHA256",
            True,
        ),
        (
            0x00A8,
            "TLS_PSK_WITH_AES_128_GCM_SHA256",
            "PSK",
            "PSK",
            "AES_128_GCM",
            "AEAD",
            "SHA256",
            False,
        ),
        (
            0x000A,
            "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
            "RSA",
            "RSA",
            "3DES_EDE_CBC",
            "SHA",
            "SHA256",
            False,
        ),
        (
            0xC005,
            "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA",
            "ECDH",
            "ECDSA",
            "AES_256_CBC",
            "SHA",
            "SHA256",
            False,
        ),
        (
            0x0018,
            "TLS_DH_anon_WITH_RC4_128_MD5",
            "DH_anon",
            "anon",
            "RC4_128",
            "MD5",
            "SHA256",
            True,
        ),
        (0x1301, "TLS_AES_128_GCM_SHA256", None, None, "AES_128_GCM", "AEAD", "SHA256", None),
        (0x1302, "TLS_AES_256_GCM_SHA384", None, None, "AES_256_GCM", "AEAD", "SHA384", None),
        (0x0002, "TLS_RSA_WITH_NULL_SHA", "RSA", "RSA", "NULL", "SHA", "SHA256", False),
    ],
)
def test_cipher_suite_attributes(
    code: int,
    name: str,
    kx: str | None,
    auth: str | None,
    cipher: str,
    mac: str,
    prf: str,
    fs: bool | None,
) -> None:
    info = registry.CIPHER_SUITES[code]
    assert (
        info.name,
        info.kx,
        info.auth,
        info.cipher,
        info.mac,
        info.prf_hash,
        info.forward_secrecy,
    ) == (name, kx, auth, cipher, mac, prf, fs)


def test_tables_are_complete() -> None:
    assert len(registry.CIPHER_SUITES) > 400
    assert registry.SUPPORTED_GROUPS[29] == "x25519"
    assert registry.SUPPORTED_GROUPS[0x11EC] == "X25519MLKEM768"
    assert registry.SIGNATURE_SCHEMES[0x0804] == "rsa_pss_rsae_sha256"
    assert registry.EXTENSION_TYPES[0xFE0D] == "encrypted_client_hello"
    assert registry.ALERT_DESCRIPTIONS[121] == "ech_required"
    assert registry.HANDSHAKE_TYPES[254] == "message_hash"
    assert registry.version_name(0x0304) == "TLS 1.3"
    assert registry.version_name(0x7F1C) == "TLS 1.3 (draft 28)"
    assert registry.version_name(0x3A3A) == "GREASE (0x3a3a)"
    assert all(registry.is_grease(v) for v in range(0x0A0A, 0x10000, 0x1010))
    assert not registry.is_grease(0x0A1A)
