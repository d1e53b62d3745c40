//! Handshake messages, SSL 3.0 to TLS 1.3: one struct per message, read rustls-style.
//!
//! Fields keep raw values (integers, byte slices of the body) under the RFCs' names; the
//! registries name them at display time. [`parse`] dispatches on the message type and
//! requires the body to be consumed exactly; an unknown type is kept opaque.

use crate::codec::{CodecResult, Reader};

use super::extensions_list::{Extension, Extensions};
use super::key_exchange::{
    CertificateRequest, CertificateVerify, ClientKeyExchange, ServerKeyExchange,
};
use super::{
    block, describe, u16_list, Context, CERTIFICATE, CERTIFICATE_REQUEST, CERTIFICATE_STATUS,
    CERTIFICATE_VERIFY, CLIENT_HELLO, CLIENT_KEY_EXCHANGE, COMPRESSED_CERTIFICATE,
    ENCRYPTED_EXTENSIONS, END_OF_EARLY_DATA, FINISHED, HELLO_REQUEST, HRR_RANDOM, KEY_UPDATE,
    NEW_SESSION_TICKET, SERVER_HELLO, SERVER_HELLO_DONE, SERVER_KEY_EXCHANGE,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello<'a> {
    pub legacy_version: u16,
    pub random: [u8; 32],
    pub legacy_session_id: &'a [u8],
    /// 16-bit suites; an SSLv2-format hello's 3-byte cipher kinds keep their 24 bits.
    pub cipher_suites: Vec<u32>,
    pub legacy_compression_methods: &'a [u8],
    pub extensions: Extensions<'a>,
    /// Sent in the SSLv2-compatible format (RFC 5246 Appendix E.2).
    pub sslv2: bool,
}

impl<'a> ClientHello<'a> {
    pub fn read(r: &mut Reader<'a>) -> CodecResult<Self> {
        let legacy_version = r.u16()?;
        let random = random(r)?;
        let legacy_session_id = r.vec_u8()?.rest();
        let cipher_suites = u16_list(r)?.into_iter().map(u32::from).collect();
        let legacy_compression_methods = r.vec_u8()?.rest();
        Ok(Self {
            legacy_version,
            random,
            legacy_session_id,
            cipher_suites,
            legacy_compression_methods,
            extensions: Extensions::read(r),
            sslv2: false,
        })
    }
}

fn random(r: &mut Reader<'_>) -> CodecResult<[u8; 32]> {
    let mut random = [0u8; 32];
    random.copy_from_slice(r.take(32)?);
    Ok(random)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello<'a> {
    pub legacy_version: u16,
    pub random: [u8; 32],
    pub legacy_session_id: &'a [u8],
    pub cipher_suite: u16,
    pub legacy_compression_method: u8,
    pub extensions: Extensions<'a>,
}

impl<'a> ServerHello<'a> {
    pub fn read(r: &mut Reader<'a>) -> CodecResult<Self> {
        let legacy_version = r.u16()?;
        let random = random(r)?;
        // TLS 1.3 drafts before -22 dropped the session id and the compression method.
        let draft = (0x7F00..0x7F16).contains(&legacy_version);
        let legacy_session_id = if draft { &[][..] } else { r.vec_u8()?.rest() };
        let cipher_suite = r.u16()?;
        let legacy_compression_method = if draft { 0 } else { r.u8()? };
        Ok(Self {
            legacy_version,
            random,
            legacy_session_id,
            cipher_suite,
            legacy_compression_method,
            extensions: Extensions::read(r),
        })
    }

    pub fn is_hello_retry_request(&self) -> bool {
        self.random == HRR_RANDOM
    }

    /// The message's name in findings.
    pub fn name(&self) -> &'static str {
        if self.is_hello_retry_request() {
            "HelloRetryRequest"
        } else {
            "ServerHello"
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSessionTicket<'a> {
    pub ticket_lifetime: u32,
    /// TLS 1.3 only, as are the nonce and the extensions.
    pub ticket_age_add: Option<u32>,
    pub ticket_nonce: Option<&'a [u8]>,
    pub ticket: &'a [u8],
    pub extensions: Extensions<'a>,
}

impl<'a> NewSessionTicket<'a> {
    pub fn read(r: &mut Reader<'a>, ctx: &Context) -> CodecResult<Self> {
        let ticket_lifetime = r.u32()?;
        if !ctx.tls13() {
            // RFC 5077 §3.3
            return Ok(Self {
                ticket_lifetime,
                ticket_age_add: None,
                ticket_nonce: None,
                ticket: r.vec_u16()?.rest(),
                extensions: Extensions::default(),
            });
        }
        let ticket_age_add = Some(r.u32()?);
        let ticket_nonce = Some(r.vec_u8()?.rest());
        let ticket = r.vec_u16()?.rest();
        Ok(Self {
            ticket_lifetime,
            ticket_age_add,
            ticket_nonce,
            ticket,
            extensions: Extensions::read(r),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateEntry<'a> {
    pub cert_data: &'a [u8],
    /// TLS 1.3 only; a faulty block keeps what could be read, silently.
    pub extensions: Vec<Extension<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate<'a> {
    /// TLS 1.3 only.
    pub certificate_request_context: Option<&'a [u8]>,
    pub certificate_list: Vec<CertificateEntry<'a>>,
}

impl<'a> Certificate<'a> {
    /// Entries are bounded by the message: at least 3 bytes each.
    pub fn read(r: &mut Reader<'a>, ctx: &Context) -> CodecResult<Self> {
        let tls13 = ctx.tls13();
        let certificate_request_context = if tls13 {
            Some(r.vec_u8()?.rest())
        } else {
            None
        };
        let mut list = block(r, 3)?;
        let mut certificate_list = Vec::new();
        while !list.is_empty() {
            let cert_data = list.vec_u24()?.rest();
            let extensions = if tls13 {
                Extensions::walk(&mut list.vec_u16()?).list
            } else {
                Vec::new()
            };
            certificate_list.push(CertificateEntry {
                cert_data,
                extensions,
            });
        }
        Ok(Self {
            certificate_request_context,
            certificate_list,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateStatus<'a> {
    pub status_type: u8,
    pub response: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressedCertificate<'a> {
    pub algorithm: u16,
    pub uncompressed_length: u32,
    pub compressed_certificate_message: &'a [u8],
}

/// One handshake message, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    ClientHello(ClientHello<'a>),
    ServerHello(ServerHello<'a>),
    NewSessionTicket(NewSessionTicket<'a>),
    EncryptedExtensions(Extensions<'a>),
    Certificate(Certificate<'a>),
    ServerKeyExchange(ServerKeyExchange<'a>),
    CertificateRequest(CertificateRequest<'a>),
    CertificateVerify(CertificateVerify<'a>),
    ClientKeyExchange(ClientKeyExchange<'a>),
    Finished(&'a [u8]),
    CertificateStatus(CertificateStatus<'a>),
    KeyUpdate(u8),
    CompressedCertificate(CompressedCertificate<'a>),
    /// Empty messages (HelloRequest, ServerHelloDone, EndOfEarlyData) and unknown ones.
    Opaque {
        msg_type: u8,
        body: &'a [u8],
    },
}

impl Message<'_> {
    /// The extensions block's problems, with the name of the message to tell them by.
    pub fn extensions(&self) -> Option<(&Extensions<'_>, &'static str)> {
        match self {
            Self::ClientHello(m) => Some((&m.extensions, "ClientHello")),
            Self::ServerHello(m) => Some((&m.extensions, m.name())),
            Self::NewSessionTicket(m) => Some((&m.extensions, "NewSessionTicket")),
            Self::EncryptedExtensions(e) => Some((e, "EncryptedExtensions")),
            Self::CertificateRequest(m) => Some((&m.extensions, "CertificateRequest")),
            _ => None,
        }
    }
}

/// Decode one handshake message body (without its 4-byte header). The error is the
/// finding's text: the message type, what broke and at which offset of the body.
pub fn parse<'a>(msg_type: u8, body: &'a [u8], ctx: &Context) -> Result<Message<'a>, String> {
    let mut r = Reader::new(body);
    let read = |r: &mut Reader<'a>| -> CodecResult<Message<'a>> {
        Ok(match msg_type {
            CLIENT_HELLO => Message::ClientHello(ClientHello::read(r)?),
            SERVER_HELLO => Message::ServerHello(ServerHello::read(r)?),
            NEW_SESSION_TICKET => Message::NewSessionTicket(NewSessionTicket::read(r, ctx)?),
            ENCRYPTED_EXTENSIONS => Message::EncryptedExtensions(Extensions::read(r)),
            CERTIFICATE => Message::Certificate(Certificate::read(r, ctx)?),
            SERVER_KEY_EXCHANGE => Message::ServerKeyExchange(ServerKeyExchange::read(r, ctx)?),
            CERTIFICATE_REQUEST => Message::CertificateRequest(CertificateRequest::read(r, ctx)?),
            CERTIFICATE_VERIFY => Message::CertificateVerify(CertificateVerify::read(r, ctx)?),
            CLIENT_KEY_EXCHANGE => Message::ClientKeyExchange(ClientKeyExchange::read(r, ctx)?),
            FINISHED => Message::Finished(r.rest()),
            CERTIFICATE_STATUS => Message::CertificateStatus(CertificateStatus {
                status_type: r.u8()?,
                response: r.vec_u24()?.rest(),
            }),
            KEY_UPDATE => Message::KeyUpdate(r.u8()?),
            COMPRESSED_CERTIFICATE => Message::CompressedCertificate(CompressedCertificate {
                algorithm: r.u16()?,
                uncompressed_length: r.u24()?,
                compressed_certificate_message: r.vec_u24()?.rest(),
            }),
            _ => Message::Opaque {
                msg_type,
                body: r.rest(),
            },
        })
    };
    if matches!(
        msg_type,
        HELLO_REQUEST | SERVER_HELLO_DONE | END_OF_EARLY_DATA
    ) && !body.is_empty()
    {
        return Err(format!(
            "message type {msg_type} should be empty, holds {} bytes",
            body.len()
        ));
    }
    read(&mut r)
        .and_then(|message| r.finish().map(|()| message))
        .map_err(|error| format!("message type {msg_type}: {}", describe(&error)))
}
