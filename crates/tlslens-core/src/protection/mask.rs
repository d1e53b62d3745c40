//! The header-protection mask of QUIC (RFC 9001 §5.4) and DTLS 1.3's record-number
//! encryption (RFC 9147 §4.2.3): one AES-ECB block, or a ChaCha20 keystream whose counter
//! and nonce are the sample, over 16 bytes of ciphertext. RustCrypto's `aes` and `chacha20`.

use aes::{Aes128, Aes256};
use chacha20::ChaChaCore;
use cipher::consts::U10;
use cipher::{Block, BlockEncrypt, KeyInit, KeyIvInit, StreamCipherCore, StreamCipherSeekCore};

/// The mask for `sample` (16 bytes of ciphertext) under `key`, for the suite's `cipher`
/// token (AES-GCM and AES-CCM suites use AES, ChaCha20-Poly1305 ChaCha20). Err names why.
pub fn header_mask(cipher: &str, key: &[u8], sample: &[u8]) -> Result<[u8; 16], String> {
    let sample: &[u8; 16] = sample
        .get(..16)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| format!("a sample of {} bytes, 16 needed", sample.len()))?;
    let wrong_key = |_| format!("a {}-byte key for {cipher}", key.len());
    let mut block = aes::Block::from(*sample);
    match cipher {
        "AES_128_GCM" | "AES_128_CCM" | "AES_128_CCM_8" => {
            Aes128::new_from_slice(key)
                .map_err(wrong_key)?
                .encrypt_block(&mut block);
        }
        "AES_256_GCM" | "AES_256_CCM" | "AES_256_CCM_8" => {
            Aes256::new_from_slice(key)
                .map_err(wrong_key)?
                .encrypt_block(&mut block);
        }
        "CHACHA20_POLY1305" => {
            let (counter, nonce) = sample.split_at(4);
            // The block of that counter straight from the core: the stream wrapper refuses
            // (panics on) the last block, counter 2^32-1, which a sample may well name.
            let mut core = ChaChaCore::<U10>::new_from_slices(key, nonce).map_err(wrong_key)?;
            // The counter is little-endian (RFC 9001 §5.4.4).
            core.set_block_pos(u32::from_le_bytes([
                counter[0], counter[1], counter[2], counter[3],
            ]));
            let mut keystream = Block::<ChaChaCore<U10>>::default();
            core.write_keystream_block(&mut keystream);
            let mut mask = [0u8; 16];
            mask.copy_from_slice(&keystream[..16]);
            return Ok(mask);
        }
        other => return Err(format!("no header protection for {other}")),
    }
    Ok(block.into())
}

#[cfg(test)]
mod tests {
    use super::header_mask;

    /// RFC 9001 §A.2 (AES) and §A.5 (ChaCha20): the header protection masks.
    #[test]
    fn rfc9001_appendix_a_masks() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let aes = header_mask(
            "AES_128_GCM",
            &hex("9f50449e04a0e810283a1e9933adedd2"),
            &hex("d1b1c98dd7689fb8ec11d242b123dc9b"),
        )
        .unwrap();
        assert_eq!(aes[..5], hex("437b9aec36"));
        let chacha = header_mask(
            "CHACHA20_POLY1305",
            &hex("25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4"),
            &hex("5e5cd55c41f69080575d7999c25a5bfb"),
        )
        .unwrap();
        assert_eq!(chacha[..5], hex("aefefe7d03"));
        // A sample naming ChaCha20's last block (counter 2^32-1, found by `cargo fuzz run
        // dtls`): the mask as pyca/cryptography (OpenSSL) computes it with the same key and
        // 16-byte counter-and-nonce, not a panic.
        let last = header_mask(
            "CHACHA20_POLY1305",
            &hex("25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4"),
            &hex("ffffffff5e5cd55c41f69080575d7999"),
        )
        .unwrap();
        assert_eq!(last.to_vec(), hex("26688b38040464567ed1b1cb3184ec0b"));
        assert!(header_mask("AES_128_GCM", &[0; 16], &[0; 15]).is_err());
        assert!(header_mask("AES_128_CBC", &[0; 16], &[0; 16]).is_err());
    }
}
