//! The messages whose layout follows the negotiated key exchange and version:
//! ServerKeyExchange, ClientKeyExchange, CertificateRequest and CertificateVerify.

use crate::codec::{CodecResult, Reader};

use super::extensions_list::Extensions;
use super::{block, text, u16_list, Context, DTLS1_BAD_VER, SSL3};

/// One key exchange parameter, under the RFCs' name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param<'a> {
    Int(u32),
    Bytes(&'a [u8]),
    Text(String),
}

pub type Params<'a> = Vec<(&'static str, Param<'a>)>;

/// TLS 1.2 added the SignatureAndHashAlgorithm in front (RFC 5246 §7.4.1.4.1).
fn signature<'a>(r: &mut Reader<'a>, ctx: &Context) -> CodecResult<(Option<u16>, &'a [u8])> {
    let scheme = if ctx.has_signature_schemes() {
        Some(r.u16()?)
    } else {
        None
    };
    Ok((scheme, r.vec_u16()?.rest()))
}

fn bytes<'a>(r: &mut Reader<'a>, size: u8) -> CodecResult<Param<'a>> {
    let mut field = match size {
        1 => r.vec_u8()?,
        _ => r.vec_u16()?,
    };
    Ok(Param::Bytes(field.rest()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerKeyExchange<'a> {
    /// The key exchange this was read as.
    pub kx: Option<String>,
    pub params: Params<'a>,
    pub signature_scheme: Option<u16>,
    pub signature: Option<&'a [u8]>,
}

impl<'a> ServerKeyExchange<'a> {
    pub fn read(r: &mut Reader<'a>, ctx: &Context) -> CodecResult<Self> {
        let kx = ctx.kx.as_deref().unwrap_or("");
        let auth = ctx.auth.as_deref().unwrap_or("");
        let mut params: Params<'a> = Vec::new();
        if kx.contains("PSK") || auth == "PSK" {
            params.push(("psk_identity_hint", Param::Text(text(r.vec_u16()?.rest()))));
        }
        if kx.starts_with("ECDH") {
            let curve_type = r.u8()?;
            params.push(("curve_type", Param::Int(u32::from(curve_type))));
            match curve_type {
                3 => params.push(("named_curve", Param::Int(u32::from(r.u16()?)))),
                // Explicit prime/char2 curves: long obsolete, not decoded.
                1 | 2 => {
                    return Err(r.invalid(format!(
                        "explicit curve parameters (type {curve_type}) not decoded"
                    )))
                }
                _ => {}
            }
            params.push(("public_key", bytes(r, 1)?));
        } else if kx.starts_with("DH") {
            for name in ["dh_p", "dh_g", "dh_Ys"] {
                params.push((name, bytes(r, 2)?));
            }
        } else if kx == "RSA" {
            // RSA_EXPORT: a temporary 512-bit RSA key.
            params.push(("rsa_modulus", bytes(r, 2)?));
            params.push(("rsa_exponent", bytes(r, 2)?));
        } else if kx == "SRP" {
            for (name, size) in [("srp_N", 2), ("srp_g", 2), ("srp_s", 1), ("srp_B", 2)] {
                params.push((name, bytes(r, size)?));
            }
        } else if kx != "PSK" {
            params.push(("raw", Param::Bytes(r.rest())));
        }
        let (mut signature_scheme, mut signature_bytes) = (None, None);
        if !r.is_empty() && auth != "anon" && auth != "PSK" {
            let (scheme, sig) = signature(r, ctx)?;
            (signature_scheme, signature_bytes) = (scheme, Some(sig));
        }
        Ok(Self {
            kx: ctx.kx.clone(),
            params,
            signature_scheme,
            signature: signature_bytes,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKeyExchange<'a> {
    pub kx: Option<String>,
    pub params: Params<'a>,
    pub exchange_keys: &'a [u8],
}

impl<'a> ClientKeyExchange<'a> {
    pub fn read(r: &mut Reader<'a>, ctx: &Context) -> CodecResult<Self> {
        let kx = ctx.kx.as_deref().unwrap_or("");
        let mut params: Params<'a> = Vec::new();
        if kx.contains("PSK") || ctx.auth.as_deref() == Some("PSK") {
            params.push(("psk_identity", Param::Text(text(r.vec_u16()?.rest()))));
        }
        let length = |keys: &[u8]| Param::Int(u32::try_from(keys.len()).unwrap_or(u32::MAX));
        let exchange_keys = if kx == "RSA" || kx == "RSA_PSK" {
            // SSL 3.0 sends the encrypted premaster without a length prefix, and so does
            // OpenSSL's DTLS1_BAD_VER: its code wrote the prefix only for versions above
            // SSL 3.0's 0x0300, which 0x0100 is not (Wireshark reads it the same way).
            let keys = if matches!(ctx.version, Some(SSL3 | DTLS1_BAD_VER)) {
                r.rest()
            } else {
                r.vec_u16()?.rest()
            };
            params.push(("encrypted_pre_master_secret_length", length(keys)));
            keys
        } else if kx.starts_with("ECDH") {
            let keys = r.vec_u8()?.rest();
            params.push(("ecdh_Yc_length", length(keys)));
            keys
        } else if kx.starts_with("DH") {
            let keys = r.vec_u16()?.rest();
            params.push(("dh_Yc_length", length(keys)));
            keys
        } else if kx == "SRP" {
            r.vec_u16()?.rest()
        } else {
            r.rest()
        };
        Ok(Self {
            kx: ctx.kx.clone(),
            params,
            exchange_keys,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRequest<'a> {
    /// TLS 1.3 only, as are the extensions.
    pub certificate_request_context: Option<&'a [u8]>,
    pub certificate_types: &'a [u8],
    pub signature_schemes: Vec<u16>,
    /// Distinguished names, DER; bounded by the message (2 bytes each at least).
    pub certificate_authorities: Vec<&'a [u8]>,
    pub extensions: Extensions<'a>,
}

/// signature_algorithms (RFC 8446 §4.2.3), read from a TLS 1.3 CertificateRequest.
const SIGNATURE_ALGORITHMS: u16 = 13;

impl<'a> CertificateRequest<'a> {
    pub fn read(r: &mut Reader<'a>, ctx: &Context) -> CodecResult<Self> {
        if ctx.tls13() {
            let context = r.vec_u8()?.rest();
            let extensions = Extensions::read(r);
            let signature_schemes = match extensions.find(SIGNATURE_ALGORITHMS) {
                Some(data) => u16_list(&mut Reader::new(data))?,
                None => Vec::new(),
            };
            return Ok(Self {
                certificate_request_context: Some(context),
                certificate_types: &[],
                signature_schemes,
                certificate_authorities: Vec::new(),
                extensions,
            });
        }
        let certificate_types = r.vec_u8()?.rest();
        let signature_schemes = if ctx.has_signature_schemes() {
            u16_list(r)?
        } else {
            Vec::new()
        };
        let mut names = block(r, 2)?;
        let mut certificate_authorities = Vec::new();
        while !names.is_empty() {
            certificate_authorities.push(names.vec_u16()?.rest());
        }
        Ok(Self {
            certificate_request_context: None,
            certificate_types,
            signature_schemes,
            certificate_authorities,
            extensions: Extensions::default(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateVerify<'a> {
    pub signature_scheme: Option<u16>,
    pub signature: &'a [u8],
}

impl<'a> CertificateVerify<'a> {
    pub fn read(r: &mut Reader<'a>, ctx: &Context) -> CodecResult<Self> {
        let (signature_scheme, signature) = signature(r, ctx)?;
        Ok(Self {
            signature_scheme,
            signature,
        })
    }
}
