//! One reader per extension body, in IANA code order; [`decode_body`] picks it.

use super::*;
use crate::codec::CodecResult;

type Body = CodecResult<Decoded>;

/// The decoded body of `ext_type` in `message`, or None for a code kept raw. The caller
/// checks that nothing is left over.
pub(super) fn decode_body(
    ext_type: u16,
    r: &mut Reader<'_>,
    message: Message,
) -> CodecResult<Option<Decoded>> {
    use Message::*;
    let value = match ext_type {
        SERVER_NAME => server_name(r)?,
        MAX_FRAGMENT_LENGTH => max_fragment_length(r.u8()?),
        STATUS_REQUEST => status_request(r, message)?,
        SUPPORTED_GROUPS => Decoded::SupportedGroups(u16_list(r.vec_u16()?)?),
        EC_POINT_FORMATS => Decoded::EcPointFormats(r.vec_u8()?.rest().to_vec()),
        SIGNATURE_ALGORITHMS | SIGNATURE_ALGORITHMS_CERT => {
            Decoded::SignatureSchemes(u16_list(r.vec_u16()?)?)
        }
        USE_SRTP => Decoded::UseSrtp {
            profiles: u16_list(r.vec_u16()?)?,
            mki: r.vec_u8()?.rest().to_vec(),
        },
        HEARTBEAT => Decoded::Heartbeat(r.u8()?),
        ALPN => Decoded::Protocols(protocol_list(r)?),
        SIGNED_CERTIFICATE_TIMESTAMP => scts(r)?,
        CLIENT_CERTIFICATE_TYPE | SERVER_CERTIFICATE_TYPE => match message {
            ClientHello => Decoded::CertificateTypes(r.vec_u8()?.rest().to_vec()),
            _ => Decoded::CertificateType(r.u8()?),
        },
        PADDING => {
            let data = r.rest();
            Decoded::Padding {
                length: data.len(),
                all_zero: data.iter().all(|b| *b == 0),
            }
        }
        ENCRYPT_THEN_MAC | EXTENDED_MASTER_SECRET | POST_HANDSHAKE_AUTH => Decoded::Empty,
        COMPRESS_CERTIFICATE => Decoded::CompressCertificate(u16_list(r.vec_u8()?)?),
        RECORD_SIZE_LIMIT => Decoded::RecordSizeLimit(r.u16()?),
        DELEGATED_CREDENTIAL => match message {
            ClientHello => Decoded::SignatureSchemes(u16_list(r.vec_u16()?)?),
            _ => Decoded::DelegatedCredential {
                length: r.rest().len(),
            },
        },
        SESSION_TICKET => Decoded::SessionTicket {
            ticket_length: r.rest().len(),
        },
        PRE_SHARED_KEY => match message {
            ServerHello => Decoded::SelectedIdentity(r.u16()?),
            _ => offered_psks(r)?,
        },
        EARLY_DATA => match message {
            NewSessionTicket => Decoded::EarlyDataIndication {
                max_early_data_size: r.u32()?,
            },
            _ => Decoded::Empty,
        },
        SUPPORTED_VERSIONS => match message {
            ClientHello => Decoded::SupportedVersions(u16_list(r.vec_u8()?)?),
            _ => Decoded::SelectedVersion(r.u16()?),
        },
        COOKIE => Decoded::Cookie {
            cookie_length: r.vec_u16()?.left(),
        },
        PSK_KEY_EXCHANGE_MODES => Decoded::PskKeyExchangeModes(r.vec_u8()?.rest().to_vec()),
        CERTIFICATE_AUTHORITIES => {
            let mut block = r.vec_u16()?;
            let mut names = Vec::new();
            while !block.is_empty() {
                names.push(block.vec_u16()?.rest().to_vec());
            }
            Decoded::CertificateAuthorities(names)
        }
        KEY_SHARE | DRAFT_KEY_SHARE => key_share(r, message)?,
        QUIC_TRANSPORT_PARAMETERS => Decoded::TransportParameters(transport::parameters(r)?),
        NEXT_PROTOCOL_NEGOTIATION => match message {
            ClientHello => Decoded::Empty,
            // The server's list has no outer length (draft-agl-tls-nextprotoneg §3).
            _ => Decoded::Protocols(names_until_end(r)?),
        },
        APPLICATION_SETTINGS_OLD | APPLICATION_SETTINGS => match message {
            ClientHello => Decoded::Protocols(protocol_list(r)?),
            _ => Decoded::ApplicationSettings {
                settings_length: r.rest().len(),
            },
        },
        ENCRYPTED_CLIENT_HELLO => ech(r, message)?,
        RENEGOTIATION_INFO => Decoded::RenegotiationInfo(r.vec_u8()?.rest().to_vec()),
        _ => return Ok(None),
    };
    Ok(Some(value))
}

/// RFC 6066 §4: codes 1 to 4 stand for 2^9 to 2^12 bytes.
fn max_fragment_length(code: u8) -> Decoded {
    let length = match code {
        1 => Some(512),
        2 => Some(1024),
        3 => Some(2048),
        4 => Some(4096),
        _ => None,
    };
    Decoded::MaxFragmentLength { code, length }
}

/// A list of 16-bit codes filling `block`; an odd byte count is an error.
fn u16_list(mut block: Reader<'_>) -> CodecResult<Vec<u16>> {
    if block.left() % 2 != 0 {
        return Err(block.invalid(format!(
            "list of {} bytes is not a multiple of 2",
            block.left()
        )));
    }
    let mut out = Vec::with_capacity(block.left() / 2);
    while !block.is_empty() {
        out.push(block.u16()?);
    }
    Ok(out)
}

fn server_name(r: &mut Reader<'_>) -> Body {
    if r.is_empty() {
        // ServerHello / EncryptedExtensions: an empty acknowledgement (RFC 6066 §3).
        return Ok(Decoded::Acknowledged);
    }
    let mut block = r.vec_u16()?;
    let mut names = Vec::new();
    while !block.is_empty() {
        let name_type = block.u8()?;
        let name = ascii_lossy(block.vec_u16()?.rest());
        names.push(ServerName { name_type, name });
    }
    Ok(Decoded::ServerNames(names))
}

fn status_request(r: &mut Reader<'_>, message: Message) -> Body {
    if r.is_empty() {
        return Ok(Decoded::Acknowledged);
    }
    let status_type = r.u8()?;
    if message == Message::Certificate {
        // RFC 8446 §4.4.2.1: a CertificateStatus in the leaf's CertificateEntry.
        let ocsp_response = r.vec_u24()?.rest().to_vec();
        return Ok(Decoded::CertificateStatus {
            status_type,
            ocsp_response,
        });
    }
    let responder_ids_length = r.vec_u16()?.left();
    let request_extensions_length = r.vec_u16()?.left();
    Ok(Decoded::StatusRequest {
        status_type,
        responder_ids_length,
        request_extensions_length,
    })
}

/// RFC 7301 §3.1's ProtocolNameList: a 2-byte block of 1-byte-prefixed names.
fn protocol_list(r: &mut Reader<'_>) -> CodecResult<Vec<String>> {
    let mut block = r.vec_u16()?;
    let names = names_until_end(&mut block)?;
    Ok(names)
}

fn names_until_end(r: &mut Reader<'_>) -> CodecResult<Vec<String>> {
    let mut names = Vec::new();
    while !r.is_empty() {
        names.push(ascii_lossy(r.vec_u8()?.rest()));
    }
    Ok(names)
}

fn scts(r: &mut Reader<'_>) -> Body {
    if r.is_empty() {
        return Ok(Decoded::SctRequested);
    }
    let mut block = r.vec_u16()?;
    let mut out = Vec::new();
    while !block.is_empty() {
        // Only the header is read; the SCT's extensions and signature follow, unread.
        let mut sct = block.vec_u16()?;
        let version = sct.u8()?;
        let mut log_id = [0u8; 32];
        log_id.copy_from_slice(sct.take(32)?);
        let timestamp_ms = sct.u64()?;
        out.push(SignedCertificateTimestamp {
            version,
            log_id,
            timestamp_ms,
        });
    }
    Ok(Decoded::Scts(out))
}

fn offered_psks(r: &mut Reader<'_>) -> Body {
    let mut block = r.vec_u16()?;
    let mut identities = Vec::new();
    while !block.is_empty() {
        let identity = block.vec_u16()?.rest().to_vec();
        let obfuscated_ticket_age = block.u32()?;
        identities.push(PskIdentity {
            identity,
            obfuscated_ticket_age,
        });
    }
    let mut binders = r.vec_u16()?;
    let mut binder_lengths = Vec::new();
    while !binders.is_empty() {
        let binder = binders.vec_u8()?;
        // A 1-byte length prefix: the length always fits a u8.
        binder_lengths.push(u8::try_from(binder.left()).unwrap_or(u8::MAX));
    }
    Ok(Decoded::OfferedPsks {
        identities,
        binder_lengths,
    })
}

fn key_share(r: &mut Reader<'_>, message: Message) -> Body {
    let entry = |r: &mut Reader<'_>| -> CodecResult<KeyShareEntry> {
        let group = r.u16()?;
        let key_exchange = r.vec_u16()?.rest().to_vec();
        Ok(KeyShareEntry {
            group,
            key_exchange,
        })
    };
    match message {
        Message::HelloRetryRequest => Ok(Decoded::SelectedGroup(r.u16()?)),
        Message::ServerHello => Ok(Decoded::KeyShares(vec![entry(r)?])),
        _ => {
            let mut block = r.vec_u16()?;
            let mut shares = Vec::new();
            while !block.is_empty() {
                shares.push(entry(&mut block)?);
            }
            Ok(Decoded::KeyShares(shares))
        }
    }
}

/// draft-ietf-tls-esni: ECHClientHello (outer or inner), the HelloRetryRequest's
/// confirmation, or EncryptedExtensions' retry_configs.
fn ech(r: &mut Reader<'_>, message: Message) -> Body {
    match message {
        Message::ClientHello => {
            if r.u8()? == 1 {
                return Ok(Decoded::EchInner); // inner: nothing follows
            }
            Ok(Decoded::EchOuter {
                kdf_id: r.u16()?,
                aead_id: r.u16()?,
                config_id: r.u8()?,
                enc_length: r.vec_u16()?.left(),
                payload_length: r.vec_u16()?.left(),
            })
        }
        Message::HelloRetryRequest => {
            let mut confirmation = [0u8; 8];
            confirmation.copy_from_slice(r.take(8)?);
            Ok(Decoded::EchConfirmation(confirmation))
        }
        _ => Ok(Decoded::EchRetryConfigs {
            retry_configs_length: r.rest().len(),
        }),
    }
}
