"""Decryption, differentially: every corpus capture that tshark decrypts with its key
material, tlslens decrypts too, with the same application bytes per connection and
direction (tshark's `follow,tls,raw`), and both Finished messages verify."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

import tlslens
from tlslens.events import HandshakeEvent
from tlslens.keys.files import add_keylog_file, load_rsa_key
from tlslens.keys.store import KeyStore

from _tshark import follow_tls, run_tshark, strip_secrets
from conftest import CORPUS


def _decryptable_cases() -> list[str]:
    truth = CORPUS / "ground_truth.json"
    if not truth.exists():
        return ["<corpus missing>"]
    captures = json.loads(truth.read_text())["captures"]
    return sorted(
        name
        for name, info in captures.items()
        if info.get("proto") == "tls" and info["with_keys"]["decrypted_records"] > 0
    )


def key_store(info: dict, base: Path) -> KeyStore:  # type: ignore[type-arg]
    """The KeyStore equivalent of the tshark options the corpus gives for a capture."""
    store = KeyStore()
    opts = info.get("tshark_opts", [])
    for i, opt in enumerate(opts):
        if opt != "-o" or i + 1 >= len(opts):
            continue
        value = opts[i + 1]
        if value.startswith(("tls.keylog_file:", "ssl.keylog_file:")):
            add_keylog_file(store, base / value.split(":", 1)[1])
        elif value.startswith("uat:rsa_keys:"):
            path, password = re.findall(r'"([^"]*)"', value)
            store.rsa_keys.append(load_rsa_key(base / path, password or None))
        elif value.startswith("tls.psk:"):
            store.psk = bytes.fromhex(value.split(":", 1)[1])
    return store


@pytest.mark.parametrize("name", _decryptable_cases())
def test_plaintext_matches_tshark(name: str, corpus: Path, tshark: str, tmp_path: Path) -> None:
    info = json.loads((corpus / "ground_truth.json").read_text())["captures"][name]
    base = corpus / info["run_from"]
    path = (corpus / name).resolve()
    keyless = run_tshark(
        strip_secrets(path, tmp_path), info.get("tshark_opts_without_keys", []), cwd=base
    )
    store = key_store(info, base)
    connections = list(tlslens.read_capture(path, keys=store))
    # tshark stream -> our connection, by the frames of the plaintext handshake
    pairs = []
    for stream in keyless.values():
        for conn in connections:
            frames = {e.frame for e in conn.handshake_events if isinstance(e, HandshakeEvent)}
            if frames & set(stream.frames):
                pairs.append((stream.stream, conn))
                break
    followed = follow_tls(path, info.get("tshark_opts", []), [s for s, _c in pairs], cwd=base)
    checked = 0
    problems: list[str] = []
    for stream, conn in pairs:
        data = followed.get(stream, {})
        if not data.get("node0") and not data.get("node1"):
            continue  # tshark decrypted nothing here
        ours = conn.decryption.to_json() if conn.decryption else {}
        where = f"{name}: tshark stream {stream} = tlslens connection {conn.id}"
        # Node 0 is whichever end sent data first.
        client_is_node0 = data.get("addr0", b"").decode() != str(conn.server)
        sent = {
            "c2s": data["node0" if client_is_node0 else "node1"],
            "s2c": data["node1" if client_is_node0 else "node0"],
        }
        # A side that sent no plaintext has no digest (not the SHA-256 of nothing).
        expected = {d: hashlib.sha256(b).hexdigest() if b else None for d, b in sent.items()}
        if ours.get("plaintext_sha256") != expected:
            problems.append(
                f"{where}: plaintext differs: tlslens {ours.get('plaintext_bytes')} bytes "
                f"({ours.get('status')}: {ours.get('reason')}), tshark "
                f"{len(data['node0'])}/{len(data['node1'])} bytes"
            )
        fin = ours.get("finished_verified", {})
        if conn.server_hello is not None and fin not in ({"c2s": True, "s2c": True},):
            problems.append(f"{where}: Finished verified {fin}")
        checked += 1
    assert not problems, "\n".join(problems)
    assert checked, f"{name}: no connection with decrypted data to compare"
