//! The extension decoders' boundary: `tlslens._core.decode_extension`, and one frozen
//! class per decoded shape, whose attributes are the shape's fields.
//!
//! Strategy: one call per extension body; the core's `Decoded` value becomes one Python
//! object at once (lists as lists, opaque fields as bytes). A malformed body raises
//! tlslens' `DecodeError` (layer "extension"), as the Python decoders did; a panic in the
//! core is a bug, told as the same error so one hostile hello cannot stop a run.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyDict, PyType};
use tlslens_core::extensions::{self as core, Decoded, Message, TransportValue};

/// Declares frozen, comparable classes with every field readable and a `repr`.
macro_rules! shapes {
    ($($(#[$doc:meta])* $name:ident $(as $py:literal)? { $($field:ident : $ty:ty),* $(,)? })*) => {$(
        $(#[$doc])*
        #[pyclass(frozen, eq, get_all, module = "tlslens._core" $(, name = $py)?)]
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name { $($field: $ty),* }

        #[pymethods]
        impl $name {
            fn __repr__(&self) -> String {
                format!("{self:?}")
            }
        }
    )*};
}

shapes! {
    /// An empty server_name or status_request: the server's acknowledgement.
    Acknowledged {}
    /// A body that must be (and is) empty.
    Empty {}
    /// One ServerNameList entry (RFC 6066 §3); non-ASCII bytes of the name are U+FFFD.
    ServerName { r#type: u8, name: String }
    ServerNameList { names: Vec<ServerName> }
    /// status_request in a hello (RFC 6066 §8).
    StatusRequest { status_type: u8, responder_ids_length: usize, request_extensions_length: usize }
    /// status_request in a TLS 1.3 CertificateEntry: the stapled OCSP response.
    StapledStatus { status_type: u8, ocsp_response: Vec<u8> }
    SupportedGroups { groups: Vec<u16> }
    ECPointFormats { formats: Vec<u16> }
    /// signature_algorithms, signature_algorithms_cert, delegated_credential (ClientHello).
    SignatureSchemes { schemes: Vec<u16> }
    UseSRTP { profiles: Vec<u16>, mki: Vec<u8> }
    Heartbeat { mode: u8 }
    /// ALPN, application_settings (ClientHello), NPN (ServerHello); non-ASCII bytes U+FFFD.
    ProtocolNameList { protocols: Vec<String> }
    /// An empty signed_certificate_timestamp: the client asks for SCTs.
    SCTRequest {}
    SignedCertificateTimestamp { version: u8, log_id: Vec<u8>, timestamp_ms: u64 }
    SignedCertificateTimestampList { scts: Vec<SignedCertificateTimestamp> }
    CertificateTypeList { types: Vec<u16> }
    CertificateType { r#type: u8 }
    Padding { length: usize, all_zero: bool }
    CompressCertificate { algorithms: Vec<u16> }
    RecordSizeLimit { limit: u16 }
    /// `length`: what the code stands for (RFC 6066 §4), None for an unassigned code.
    MaxFragmentLength { code: u8, length: Option<u16> }
    SessionTicket { ticket_length: usize }
    PSKIdentity { identity: Vec<u8>, identity_length: usize, obfuscated_ticket_age: u32 }
    OfferedPSKs { identities: Vec<PSKIdentity>, binder_lengths: Vec<u16> }
    SelectedIdentity { selected_identity: u16 }
    EarlyDataIndication { max_early_data_size: u32 }
    SupportedVersions { versions: Vec<u16> }
    SelectedVersion { selected_version: u16 }
    Cookie { cookie_length: usize }
    PSKKeyExchangeModes { modes: Vec<u16> }
    /// DER DistinguishedNames (RFC 8446 §4.2.4).
    CertificateAuthorities { authorities: Vec<Vec<u8>> }
    KeyShareEntry { group: u16, key_length: usize, key_exchange: Vec<u8> }
    /// A ClientHello's client_shares, or a ServerHello's one server_share.
    KeyShareList { shares: Vec<KeyShareEntry> }
    /// key_share in a HelloRetryRequest: the group the server wants.
    SelectedGroup { selected_group: u16 }
    RenegotiationInfo { renegotiated_connection: Vec<u8> }
    ECHOuter {
        ech_type: &'static str,
        kdf_id: u16,
        aead_id: u16,
        config_id: u8,
        enc_length: usize,
        payload_length: usize,
    }
    ECHInner { ech_type: &'static str }
    ECHConfirmation { confirmation: Vec<u8> }
    ECHRetryConfigs { retry_configs_length: usize }
    ApplicationSettings { settings_length: usize }
    DelegatedCredential { length: usize }
    /// RFC 9000 §18.2's Preferred Address.
    PreferredAddress {
        ipv4_address: Vec<u8>,
        ipv4_port: u16,
        ipv6_address: Vec<u8>,
        ipv6_port: u16,
        connection_id: Vec<u8>,
        stateless_reset_token: Vec<u8>,
    }
    /// RFC 9368 §3's Version Information (transport parameter 0x11).
    VersionInformation { chosen_version: u32, available_versions: Vec<u32> }
    /// One QUIC transport parameter: `name` per the registry (RFC 9000 §18.2, RFC 9221,
    /// RFC 9287, RFC 9368; None for unknown and GREASE ids), `value` its raw bytes,
    /// `integer` for varint-valued ones.
    TransportParameter {
        id: u64,
        name: Option<&'static str>,
        value: Vec<u8>,
        integer: Option<u64>,
        preferred_address: Option<PreferredAddress>,
        version_information: Option<VersionInformation>,
    }
    TransportParameters { parameters: Vec<TransportParameter> }
}

fn widen(codes: Vec<u8>) -> Vec<u16> {
    codes.into_iter().map(u16::from).collect()
}

fn transport_parameter(param: core::TransportParameter) -> TransportParameter {
    let (mut integer, mut preferred_address, mut version_information) = (None, None, None);
    match param.decoded {
        TransportValue::Integer(value) => integer = Some(value),
        TransportValue::PreferredAddress(a) => {
            preferred_address = Some(PreferredAddress {
                ipv4_address: a.ipv4_address.to_vec(),
                ipv4_port: a.ipv4_port,
                ipv6_address: a.ipv6_address.to_vec(),
                ipv6_port: a.ipv6_port,
                connection_id: a.connection_id,
                stateless_reset_token: a.stateless_reset_token.to_vec(),
            });
        }
        TransportValue::VersionInformation(v) => {
            version_information = Some(VersionInformation {
                chosen_version: v.chosen_version,
                available_versions: v.available_versions,
            });
        }
        TransportValue::Flag | TransportValue::Bytes | TransportValue::Unknown => {}
    }
    TransportParameter {
        id: param.id,
        name: core::parameter_name(param.id),
        value: param.value,
        integer,
        preferred_address,
        version_information,
    }
}

fn sct_list(scts: Vec<core::SignedCertificateTimestamp>) -> SignedCertificateTimestampList {
    let scts = scts.into_iter().map(|s| SignedCertificateTimestamp {
        version: s.version,
        log_id: s.log_id.to_vec(),
        timestamp_ms: s.timestamp_ms,
    });
    SignedCertificateTimestampList {
        scts: scts.collect(),
    }
}

fn offered_psks(identities: Vec<core::PskIdentity>, binder_lengths: Vec<u8>) -> OfferedPSKs {
    let identities = identities.into_iter().map(|i| PSKIdentity {
        identity_length: i.identity.len(),
        identity: i.identity,
        obfuscated_ticket_age: i.obfuscated_ticket_age,
    });
    OfferedPSKs {
        identities: identities.collect(),
        binder_lengths: widen(binder_lengths),
    }
}

fn key_share_list(shares: Vec<core::KeyShareEntry>) -> KeyShareList {
    let shares = shares.into_iter().map(|s| KeyShareEntry {
        group: s.group,
        key_length: s.key_exchange.len(),
        key_exchange: s.key_exchange,
    });
    KeyShareList {
        shares: shares.collect(),
    }
}

/// A new Python object of a shape class (`?` on failure).
macro_rules! obj {
    ($py:ident, $value:expr) => {
        Bound::new($py, $value)?.into_any().unbind()
    };
}

/// The Python object of one decoded value.
/// The Python object of a decoded body: its typed class.
pub fn decoded_to_python(py: Python<'_>, value: Decoded) -> PyResult<PyObject> {
    Ok(match value {
        Decoded::Acknowledged => obj!(py, Acknowledged {}),
        Decoded::Empty => obj!(py, Empty {}),
        Decoded::ServerNames(names) => obj!(
            py,
            ServerNameList {
                names: names
                    .into_iter()
                    .map(|n| ServerName {
                        r#type: n.name_type,
                        name: n.name
                    })
                    .collect(),
            }
        ),
        Decoded::StatusRequest {
            status_type,
            responder_ids_length,
            request_extensions_length,
        } => obj!(
            py,
            StatusRequest {
                status_type,
                responder_ids_length,
                request_extensions_length,
            }
        ),
        Decoded::CertificateStatus {
            status_type,
            ocsp_response,
        } => obj!(
            py,
            StapledStatus {
                status_type,
                ocsp_response,
            }
        ),
        Decoded::SupportedGroups(groups) => obj!(py, SupportedGroups { groups }),
        Decoded::EcPointFormats(formats) => obj!(
            py,
            ECPointFormats {
                formats: widen(formats)
            }
        ),
        Decoded::SignatureSchemes(schemes) => obj!(py, SignatureSchemes { schemes }),
        Decoded::UseSrtp { profiles, mki } => obj!(py, UseSRTP { profiles, mki }),
        Decoded::Heartbeat(mode) => obj!(py, Heartbeat { mode }),
        Decoded::Protocols(protocols) => obj!(py, ProtocolNameList { protocols }),
        Decoded::SctRequested => obj!(py, SCTRequest {}),
        Decoded::Scts(scts) => obj!(py, sct_list(scts)),
        Decoded::CertificateTypes(types) => obj!(
            py,
            CertificateTypeList {
                types: widen(types)
            }
        ),
        Decoded::CertificateType(kind) => obj!(py, CertificateType { r#type: kind }),
        Decoded::Padding { length, all_zero } => obj!(py, Padding { length, all_zero }),
        Decoded::CompressCertificate(algorithms) => obj!(py, CompressCertificate { algorithms }),
        Decoded::RecordSizeLimit(limit) => obj!(py, RecordSizeLimit { limit }),
        Decoded::MaxFragmentLength { code, length } => obj!(py, MaxFragmentLength { code, length }),
        Decoded::SessionTicket { ticket_length } => obj!(py, SessionTicket { ticket_length }),
        Decoded::OfferedPsks {
            identities,
            binder_lengths,
        } => obj!(py, offered_psks(identities, binder_lengths)),
        Decoded::SelectedIdentity(selected_identity) => {
            obj!(py, SelectedIdentity { selected_identity })
        }
        Decoded::EarlyDataIndication {
            max_early_data_size,
        } => obj!(
            py,
            EarlyDataIndication {
                max_early_data_size
            }
        ),
        other => more_to_python(py, other)?,
    })
}

/// The second half of [`to_python`]'s variants (kept apart for length).
fn more_to_python(py: Python<'_>, value: Decoded) -> PyResult<PyObject> {
    Ok(match value {
        Decoded::SupportedVersions(versions) => obj!(py, SupportedVersions { versions }),
        Decoded::SelectedVersion(selected_version) => {
            obj!(py, SelectedVersion { selected_version })
        }
        Decoded::Cookie { cookie_length } => obj!(py, Cookie { cookie_length }),
        Decoded::PskKeyExchangeModes(modes) => obj!(
            py,
            PSKKeyExchangeModes {
                modes: widen(modes)
            }
        ),
        Decoded::CertificateAuthorities(authorities) => {
            obj!(py, CertificateAuthorities { authorities })
        }
        Decoded::KeyShares(shares) => obj!(py, key_share_list(shares)),
        Decoded::SelectedGroup(selected_group) => obj!(py, SelectedGroup { selected_group }),
        Decoded::RenegotiationInfo(renegotiated_connection) => obj!(
            py,
            RenegotiationInfo {
                renegotiated_connection
            }
        ),
        Decoded::EchOuter {
            kdf_id,
            aead_id,
            config_id,
            enc_length,
            payload_length,
        } => obj!(
            py,
            ECHOuter {
                ech_type: "outer",
                kdf_id,
                aead_id,
                config_id,
                enc_length,
                payload_length,
            }
        ),
        Decoded::EchInner => obj!(py, ECHInner { ech_type: "inner" }),
        Decoded::EchConfirmation(confirmation) => obj!(
            py,
            ECHConfirmation {
                confirmation: confirmation.to_vec()
            }
        ),
        Decoded::EchRetryConfigs {
            retry_configs_length,
        } => obj!(
            py,
            ECHRetryConfigs {
                retry_configs_length
            }
        ),
        Decoded::ApplicationSettings { settings_length } => {
            obj!(py, ApplicationSettings { settings_length })
        }
        Decoded::DelegatedCredential { length } => obj!(py, DelegatedCredential { length }),
        Decoded::TransportParameters(parameters) => obj!(
            py,
            TransportParameters {
                parameters: parameters.into_iter().map(transport_parameter).collect(),
            }
        ),
        // to_python's own variants, named so that a new variant fails to compile here.
        Decoded::Acknowledged
        | Decoded::Empty
        | Decoded::ServerNames { .. }
        | Decoded::StatusRequest { .. }
        | Decoded::CertificateStatus { .. }
        | Decoded::SupportedGroups { .. }
        | Decoded::EcPointFormats { .. }
        | Decoded::SignatureSchemes { .. }
        | Decoded::UseSrtp { .. }
        | Decoded::Heartbeat { .. }
        | Decoded::Protocols { .. }
        | Decoded::SctRequested
        | Decoded::Scts { .. }
        | Decoded::CertificateTypes { .. }
        | Decoded::CertificateType { .. }
        | Decoded::Padding { .. }
        | Decoded::CompressCertificate { .. }
        | Decoded::RecordSizeLimit { .. }
        | Decoded::MaxFragmentLength { .. }
        | Decoded::SessionTicket { .. }
        | Decoded::OfferedPsks { .. }
        | Decoded::SelectedIdentity { .. }
        | Decoded::EarlyDataIndication { .. } => {
            return Err(PyRuntimeError::new_err("to_python converts this variant"));
        }
    })
}

static DECODE_ERROR: GILOnceCell<Py<PyType>> = GILOnceCell::new();

fn decode_error(py: Python<'_>, msg: String) -> PyErr {
    let raised = || -> PyResult<PyErr> {
        let cls = DECODE_ERROR.import(py, "tlslens.errors", "DecodeError")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("layer", "extension")?;
        Ok(PyErr::from_value(cls.call((msg,), Some(&kwargs))?))
    };
    raised().unwrap_or_else(|err| err)
}

/// Decode a known extension's body as it appears in `message` (a snake_case handshake
/// name: "client_hello", "server_hello", "hello_retry_request", "encrypted_extensions",
/// "certificate", "certificate_request", "new_session_ticket"); None for a code kept raw.
/// Raises DecodeError on a malformed body.
#[pyfunction]
fn decode_extension(
    py: Python<'_>,
    ext_type: u16,
    data: &[u8],
    message: &str,
) -> PyResult<PyObject> {
    let Some(kind) = Message::from_name(message) else {
        return Err(PyValueError::new_err(format!(
            "no extensions in a {message:?} message"
        )));
    };
    match catch_unwind(AssertUnwindSafe(|| core::decode(ext_type, data, kind))) {
        Ok(Ok(Some(value))) => decoded_to_python(py, value),
        Ok(Ok(None)) => Ok(py.None()),
        Ok(Err(error)) => Err(decode_error(
            py,
            format!("extension {ext_type} in {message}: {error}"),
        )),
        Err(_) => Err(decode_error(
            py,
            format!("extension {ext_type} in {message}: internal error in the decoder (a bug)"),
        )),
    }
}

/// The first protocol an ALPN body names, raw (None when it names none): JA4 reads it even
/// where the rest of the body is broken.
#[pyfunction]
fn first_alpn<'py>(py: Python<'py>, data: &[u8]) -> Option<Bound<'py, PyBytes>> {
    core::first_alpn(data).map(|name| PyBytes::new(py, name))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_extension, m)?)?;
    m.add_function(wrap_pyfunction!(first_alpn, m)?)?;
    m.add_class::<Acknowledged>()?;
    m.add_class::<Empty>()?;
    m.add_class::<ServerName>()?;
    m.add_class::<ServerNameList>()?;
    m.add_class::<StatusRequest>()?;
    m.add_class::<StapledStatus>()?;
    m.add_class::<SupportedGroups>()?;
    m.add_class::<ECPointFormats>()?;
    m.add_class::<SignatureSchemes>()?;
    m.add_class::<UseSRTP>()?;
    m.add_class::<Heartbeat>()?;
    m.add_class::<ProtocolNameList>()?;
    m.add_class::<SCTRequest>()?;
    m.add_class::<SignedCertificateTimestamp>()?;
    m.add_class::<SignedCertificateTimestampList>()?;
    m.add_class::<CertificateTypeList>()?;
    m.add_class::<CertificateType>()?;
    m.add_class::<Padding>()?;
    m.add_class::<CompressCertificate>()?;
    m.add_class::<RecordSizeLimit>()?;
    m.add_class::<MaxFragmentLength>()?;
    m.add_class::<SessionTicket>()?;
    m.add_class::<PSKIdentity>()?;
    m.add_class::<OfferedPSKs>()?;
    m.add_class::<SelectedIdentity>()?;
    m.add_class::<EarlyDataIndication>()?;
    m.add_class::<SupportedVersions>()?;
    m.add_class::<SelectedVersion>()?;
    m.add_class::<Cookie>()?;
    m.add_class::<PSKKeyExchangeModes>()?;
    m.add_class::<CertificateAuthorities>()?;
    m.add_class::<KeyShareEntry>()?;
    m.add_class::<KeyShareList>()?;
    m.add_class::<SelectedGroup>()?;
    m.add_class::<RenegotiationInfo>()?;
    m.add_class::<ECHOuter>()?;
    m.add_class::<ECHInner>()?;
    m.add_class::<ECHConfirmation>()?;
    m.add_class::<ECHRetryConfigs>()?;
    m.add_class::<ApplicationSettings>()?;
    m.add_class::<DelegatedCredential>()?;
    m.add_class::<PreferredAddress>()?;
    m.add_class::<VersionInformation>()?;
    m.add_class::<TransportParameter>()?;
    m.add_class::<TransportParameters>()?;
    Ok(())
}
