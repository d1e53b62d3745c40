//! The two hello fields QUIC packet protection depends on, read from the start of the
//! Initial CRYPTO streams: the ClientHello's random (the key log's key) and the
//! ServerHello's cipher suite (which AEAD and hash the later levels use). The full
//! messages are the handshake parser's; only these fields are read here.

use crate::codec::{CodecResult, Reader};

/// The 32-byte random of a ClientHello at the start of `stream`.
pub fn client_random(stream: &[u8]) -> CodecResult<[u8; 32]> {
    let mut r = Reader::new(stream);
    if r.u8()? != 1 {
        return Err(r.invalid("the client's first CRYPTO message is not a ClientHello"));
    }
    r.u24()?;
    r.u16()?;
    let mut random = [0u8; 32];
    random.copy_from_slice(r.take(32)?);
    Ok(random)
}

/// The cipher suite of a ServerHello at the start of `stream`.
pub fn server_suite(stream: &[u8]) -> CodecResult<u16> {
    let mut r = Reader::new(stream);
    if r.u8()? != 2 {
        return Err(r.invalid("the server's first CRYPTO message is not a ServerHello"));
    }
    r.u24()?;
    r.u16()?;
    r.take(32)?;
    r.vec_u8()?;
    r.u16()
}
