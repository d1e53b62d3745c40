"""What a connection's cipher suite asks of the core: its records' layout and its key block.

Both are computed by ``tlslens._core`` (crates/tlslens-core: protection/spec.rs, keys/prf.rs);
this module only hands over the registry's names and names the key block's six values.
"""

from __future__ import annotations

from tlslens import _core, registry
from tlslens._core import CipherSpec

# The key block's values in the order RFC 5246 §6.3 cuts them (and _core.key_block returns).
KEY_BLOCK = (
    "client_write_mac_key",
    "server_write_mac_key",
    "client_write_key",
    "server_write_key",
    "client_write_iv",
    "server_write_iv",
)


def cipher_spec(info: registry.CipherSuiteInfo, version: int) -> CipherSpec:
    """What records of this suite need. Raises UnsupportedCipherError, saying why."""
    return _core.cipher_spec(info.name, info.cipher or "", info.mac or "", info.tls13, version)


def key_block(
    spec: CipherSpec,
    version: int,
    prf_hash: str,
    master: bytes,
    randoms: tuple[bytes, bytes],
) -> dict[str, bytes]:
    """The key block of ``master`` (client random, server random), by name; export suites
    stretch their 5-byte keys and make IVs of a block from the randoms."""
    mac_len = spec.mac_len if spec.kind != "aead" else 0
    export = (spec.export_key_len, spec.block_size) if spec.export_key_len else None
    values = _core.key_block(
        version, prf_hash, master, *randoms, mac_len, spec.key_len, spec.iv_len, export
    )
    return dict(zip(KEY_BLOCK, values, strict=True))
