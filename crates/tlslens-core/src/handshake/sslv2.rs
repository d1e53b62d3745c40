//! SSL 2.0 (draft-hickman-netscape-ssl-00; forbidden by RFC 6176): the CLIENT-HELLO, in the
//! SSLv2-compatible form TLS clients long sent (RFC 5246 Appendix E.2), and the plaintext
//! messages after it: SERVER-HELLO, CLIENT-MASTER-KEY, ERROR. Fields keep the spec's names.

use crate::codec::{CodecResult, Reader};

use super::describe;
use super::extensions_list::Extensions;
use super::messages::ClientHello;

pub const SSL2_ERROR: u8 = 0;
pub const SSL2_CLIENT_HELLO: u8 = 1;
pub const SSL2_CLIENT_MASTER_KEY: u8 = 2;
pub const SSL2_SERVER_HELLO: u8 = 4;

/// 3-byte cipher kinds, out of a length the caller checked is a multiple of 3.
fn cipher_specs(r: &mut Reader<'_>, length: u16) -> CodecResult<Vec<u32>> {
    let mut specs = r.sub(usize::from(length))?;
    let mut out = Vec::with_capacity(usize::from(length / 3));
    while !specs.is_empty() {
        out.push(specs.u24()?);
    }
    Ok(out)
}

/// An SSLv2-format ClientHello, its 2-byte record header included. The 3-byte cipher
/// specs whose first byte is zero are TLS suites; the others keep their 24 bits, so nothing
/// is dropped. The challenge becomes the right-aligned, zero-padded client random.
pub fn client_hello(record: &[u8]) -> Result<ClientHello<'_>, String> {
    let mut r = Reader::new(record);
    let (version, cipher_suites, legacy_session_id, challenge) = read_client_hello(&mut r)
        .map_err(|error| format!("SSLv2 ClientHello: {}", describe(&error)))?;
    let mut random = [0u8; 32];
    let kept = challenge.len().min(32);
    let tail = challenge.get(challenge.len() - kept..).unwrap_or(&[]);
    if let Some(slot) = random.get_mut(32 - kept..) {
        slot.copy_from_slice(tail);
    }
    Ok(ClientHello {
        legacy_version: version,
        random,
        legacy_session_id,
        cipher_suites,
        legacy_compression_methods: &[0],
        extensions: Extensions::default(),
        sslv2: true,
    })
}

type ClientHelloFields<'a> = (u16, Vec<u32>, &'a [u8], &'a [u8]);

fn read_client_hello<'a>(r: &mut Reader<'a>) -> CodecResult<ClientHelloFields<'a>> {
    r.u16()?; // record header: high bit + 15-bit length
    if r.u8()? != SSL2_CLIENT_HELLO {
        return Err(r.invalid("not an SSLv2 CLIENT-HELLO"));
    }
    let version = r.u16()?;
    let (spec_len, sid_len, challenge_len) = (r.u16()?, r.u16()?, r.u16()?);
    if spec_len % 3 != 0 {
        return Err(r.invalid(format!(
            "cipher spec length {spec_len} is not a multiple of 3"
        )));
    }
    let suites = cipher_specs(r, spec_len)?;
    let session_id = r.take(usize::from(sid_len))?;
    let challenge = r.take(usize::from(challenge_len))?;
    Ok((version, suites, session_id, challenge))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello<'a> {
    pub session_id_hit: bool,
    /// 1: X.509
    pub certificate_type: u8,
    pub server_version: u16,
    pub certificate: &'a [u8],
    pub cipher_specs: Vec<u32>,
    pub connection_id: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMasterKey<'a> {
    pub cipher_kind: u32,
    pub clear_key: &'a [u8],
    pub encrypted_key: &'a [u8],
    pub key_arg: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    ServerHello(ServerHello<'a>),
    ClientMasterKey(ClientMasterKey<'a>),
    Error { error_code: u16 },
}

fn read_message<'a>(r: &mut Reader<'a>) -> CodecResult<Option<Message<'a>>> {
    Ok(match r.u8()? {
        SSL2_SERVER_HELLO => {
            let (hit, certificate_type, server_version) = (r.u8()?, r.u8()?, r.u16()?);
            let (cert_len, specs_len, cid_len) = (r.u16()?, r.u16()?, r.u16()?);
            if specs_len % 3 != 0 {
                return Err(r.invalid(format!(
                    "cipher specs of {specs_len} bytes, not a multiple of 3"
                )));
            }
            let certificate = r.take(usize::from(cert_len))?;
            let cipher_specs = cipher_specs(r, specs_len)?;
            Some(Message::ServerHello(ServerHello {
                session_id_hit: hit != 0,
                certificate_type,
                server_version,
                certificate,
                cipher_specs,
                connection_id: r.take(usize::from(cid_len))?,
            }))
        }
        SSL2_CLIENT_MASTER_KEY => {
            let cipher_kind = r.u24()?;
            let (clear_len, enc_len, arg_len) = (r.u16()?, r.u16()?, r.u16()?);
            Some(Message::ClientMasterKey(ClientMasterKey {
                cipher_kind,
                clear_key: r.take(usize::from(clear_len))?,
                encrypted_key: r.take(usize::from(enc_len))?,
                key_arg: r.take(usize::from(arg_len))?,
            }))
        }
        SSL2_ERROR => Some(Message::Error {
            error_code: r.u16()?,
        }),
        _ => None,
    })
}

/// The plaintext message in a record body, or `None` for a type kept undecoded. The error
/// says what broke; the caller names the message (its table of names is the narration's).
pub fn message(body: &[u8]) -> Result<Option<Message<'_>>, String> {
    read_message(&mut Reader::new(body)).map_err(|error| describe(&error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sslv2_client_hello_keeps_its_three_byte_kinds() {
        // IDEA-128-CBC-MD5 (0x050080) and TLS_RSA_WITH_RC4_128_MD5 (0x000004), a 16-byte
        // challenge.
        let mut record = vec![0x80, 0x2b, 1, 0x00, 0x02, 0, 6, 0, 0, 0, 16];
        record.extend([0x05, 0x00, 0x80, 0x00, 0x00, 0x04]);
        record.extend(1..=16u8);
        let hello = client_hello(&record).unwrap();
        assert_eq!(hello.legacy_version, 0x0002);
        assert_eq!(hello.cipher_suites, vec![0x050080, 0x000004]);
        assert!(hello.sslv2 && hello.legacy_session_id.is_empty());
        assert_eq!(hello.random[..16], [0; 16]);
        assert_eq!(hello.random[16..], (1..=16u8).collect::<Vec<_>>()[..]);
    }

    #[test]
    fn a_long_challenge_keeps_its_last_32_bytes() {
        let mut record = vec![0x80, 0, 1, 0, 2, 0, 0, 0, 0, 0, 40];
        record.extend(0..40u8);
        let hello = client_hello(&record).unwrap();
        assert_eq!(hello.random[..], (8..40u8).collect::<Vec<_>>()[..]);
    }

    #[test]
    fn malformed_client_hellos_say_why() {
        let not = client_hello(&[0x80, 3, 4, 0, 2]).unwrap_err();
        assert_eq!(not, "SSLv2 ClientHello: not an SSLv2 CLIENT-HELLO");
        let odd = client_hello(&[0x80, 3, 1, 0, 2, 0, 4, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(
            odd,
            "SSLv2 ClientHello: cipher spec length 4 is not a multiple of 3"
        );
        let short = client_hello(&[0x80, 3, 1, 0, 2, 0, 3, 0, 0, 0, 0, 1]).unwrap_err();
        assert_eq!(
            short,
            "SSLv2 ClientHello: needs 3 bytes at offset 11, 1 remain"
        );
        assert!(client_hello(&[]).is_err());
    }

    #[test]
    fn server_hello_master_key_and_error() {
        let mut hello = vec![4, 0, 1, 0, 2, 0, 2, 0, 3, 0, 1, 0xaa, 0xbb, 1, 0, 0x80, 9];
        let Ok(Some(Message::ServerHello(sh))) = message(&hello) else {
            panic!("a SERVER-HELLO");
        };
        assert_eq!(sh.certificate, &[0xaa, 0xbb]);
        assert_eq!(sh.cipher_specs, vec![0x010080]);
        assert_eq!(sh.connection_id, &[9]);
        assert!(!sh.session_id_hit);
        hello[8] = 4;
        assert_eq!(
            message(&hello).unwrap_err(),
            "cipher specs of 4 bytes, not a multiple of 3"
        );
        let cmk = [2, 1, 0, 0x80, 0, 1, 0, 2, 0, 0, 7, 8, 9];
        let Ok(Some(Message::ClientMasterKey(key))) = message(&cmk) else {
            panic!("a CLIENT-MASTER-KEY");
        };
        assert_eq!(
            (key.cipher_kind, key.clear_key, key.encrypted_key),
            (0x010080, &[7u8][..], &[8u8, 9][..])
        );
        assert_eq!(
            message(&cmk[..12]).unwrap_err(),
            "needs 2 bytes at offset 11, 1 remain"
        );
        assert_eq!(
            message(&[0, 0, 1]),
            Ok(Some(Message::Error { error_code: 1 }))
        );
        assert_eq!(message(&[7, 1]), Ok(None));
        assert_eq!(
            message(&[]).unwrap_err(),
            "needs 1 byte at offset 0, 0 remain"
        );
    }
}
