//! The few fields of the DTLS hellos the record layer itself needs (RFC 6347 §4.2.1: the
//! cookie after the session ID; the connection ID extension, RFC 9146), the
//! HelloVerifyRequest's cookie, a DTLS 1.3 ACK's record numbers (RFC 9147 §7), and a
//! ClientHello as the TLS transcript reads it (without its cookie).

use super::handshake::{CLIENT_HELLO, SERVER_HELLO};
use crate::codec::{CodecResult, Reader};
use crate::extensions::{decode, Decoded, Message, ENCRYPT_THEN_MAC, SUPPORTED_VERSIONS};
use crate::handshake::messages::{ClientHello, ServerHello};

/// RFC 9146 §3: connection_id.
const EXT_CONNECTION_ID: u16 = 54;
/// The code points connection IDs had before RFC 9146, whose records' additional data
/// differs: 53 (draft-ietf-tls-dtls-connection-id, now "connection_id (deprecated)") and
/// 254, which mbed TLS 2.x sends for it.
const EXT_CONNECTION_ID_DRAFT: [u16; 2] = [53, 254];

/// What the record layer needs of a ClientHello (RFC 6347 §4.2.1: the cookie follows the
/// session ID) or a ServerHello.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hello {
    pub version: u16,
    pub random: [u8; 32],
    pub cookie: Vec<u8>,
    /// Where the cookie vector (its length byte included) starts in the TLS-form message.
    pub cookie_at: usize,
    /// The server's choice (ServerHello only).
    pub suite: u16,
    /// supported_versions: the ServerHello's selected version.
    pub selected_version: Option<u16>,
    /// connection_id: the ID its sender wants records towards it to carry.
    pub cid: Option<Vec<u8>>,
    /// The connection ID came in a pre-RFC 9146 extension (`EXT_CONNECTION_ID_DRAFT`).
    pub draft_cid: bool,
    /// encrypt_then_mac (in a ServerHello: CBC records are MAC'ed after encryption).
    pub encrypt_then_mac: bool,
}

/// The few fields of a ClientHello or ServerHello body the record layer needs (offsets are
/// the DTLS-form message's: the body starts at 4). Only the ClientHello's cookie, which TLS
/// has not, is read here; the rest is the handshake layer's parser, on the TLS form.
pub fn read_hello(msg_type: u8, body: &[u8]) -> CodecResult<Hello> {
    let mut hello = Hello::default();
    let tls_body;
    let extensions = if msg_type == CLIENT_HELLO {
        // version, random, session_id, then DTLS's cookie<0..2^8-1> (RFC 6347 §4.2.1).
        let mut r = Reader::at_offset(body, 4);
        r.take(2 + 32)?;
        r.vec_u8()?;
        hello.cookie_at = r.offset();
        hello.cookie = r.vec_u8()?.rest().to_vec();
        let cut = hello.cookie_at - 4;
        tls_body = [body.get(..cut).unwrap_or(&[]), r.rest()].concat();
        let read = ClientHello::read(&mut Reader::at_offset(&tls_body, 4))?;
        (hello.version, hello.random) = (read.legacy_version, read.random);
        read.extensions
    } else {
        let mut r = Reader::at_offset(body, 4);
        let read = ServerHello::read(&mut r)?;
        r.finish()?;
        (hello.version, hello.random) = (read.legacy_version, read.random);
        hello.suite = read.cipher_suite;
        read.extensions
    };
    for ext in &extensions.list {
        match ext.ext_type {
            // RFC 9146 §3, DTLS only: the ID its sender wants records towards it to carry.
            EXT_CONNECTION_ID => {
                let mut data = Reader::new(ext.data);
                hello.cid = Some(data.vec_u8()?.rest().to_vec());
            }
            // The same body; 254 is private use, so one that is not this shape is another's.
            draft if EXT_CONNECTION_ID_DRAFT.contains(&draft) && hello.cid.is_none() => {
                let mut data = Reader::new(ext.data);
                if let Ok(mut cid) = data.vec_u8() {
                    if data.finish().is_ok() {
                        hello.cid = Some(cid.rest().to_vec());
                        hello.draft_cid = true;
                    }
                }
            }
            ENCRYPT_THEN_MAC => hello.encrypt_then_mac = true,
            SUPPORTED_VERSIONS if msg_type == SERVER_HELLO => {
                let shape = decode(SUPPORTED_VERSIONS, ext.data, Message::ServerHello)?;
                if let Some(Decoded::SelectedVersion(version)) = shape {
                    hello.selected_version = Some(version);
                }
            }
            _ => {}
        }
    }
    Ok(hello)
}

/// RFC 6347 §4.2.1: HelloVerifyRequest (server_version, cookie).
pub fn read_hello_verify_request(body: &[u8]) -> CodecResult<(u16, Vec<u8>)> {
    let mut r = Reader::at_offset(body, 4);
    let version = r.u16()?;
    let cookie = r.vec_u8()?.rest().to_vec();
    r.finish()?;
    Ok((version, cookie))
}

/// The most record numbers one ACK is read for (an ACK record is at most 2^14 bytes: 1024).
pub const MAX_ACKED: usize = 1024;

/// RFC 9147 §7: ACK = RecordNumber record_numbers<0..2^16-1>, each (epoch, sequence) u64s.
pub fn read_ack(body: &[u8], base: usize) -> CodecResult<Vec<(u64, u64)>> {
    let mut r = Reader::at_offset(body, base);
    let mut list = r.vec_u16()?;
    r.finish()?;
    let mut numbers = Vec::new();
    while !list.is_empty() {
        if numbers.len() >= MAX_ACKED {
            return Err(list.invalid(format!("more than {MAX_ACKED} record numbers")));
        }
        numbers.push((list.u64()?, list.u64()?));
    }
    Ok(numbers)
}

/// A DTLS ClientHello in TLS form as TLS would have sent it: the cookie vector cut out and
/// the 24-bit length lowered to match, for a parser that knows no DTLS. (The transcript
/// hash keeps the DTLS form.)
pub fn without_cookie(tls: &[u8], cookie_at: usize, cookie_len: usize) -> Option<Vec<u8>> {
    let end = cookie_at.checked_add(1)?.checked_add(cookie_len)?;
    let body_len = tls.len().checked_sub(4)?.checked_sub(end - cookie_at)?;
    let length = u32::try_from(body_len).ok()?.to_be_bytes();
    let mut out = Vec::with_capacity(tls.len());
    out.push(*tls.first()?);
    out.extend_from_slice(&length[1..]);
    out.extend_from_slice(tls.get(4..cookie_at)?);
    out.extend_from_slice(tls.get(end..)?);
    Some(out)
}
