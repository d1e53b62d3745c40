//! What the hellos settled, read from the core's hello objects without a Python call: the
//! row's `sni` ... `session_ticket`, and the model's properties of the same names
//! (`model.Connection` asks these functions through `_core`).
//!
//! Strategy: `Hellos` borrows a connection's ClientHello, ServerHello, HelloRetryRequest and
//! EncryptedExtensions once; each conclusion is a method reading their fields and their
//! extension indexes (the core's decoded values), with the registry's names from `names`.

use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use tlslens_core::extensions::{self as ext, Decoded};
use tlslens_core::handshake::is_tls13_version;

use super::names::{self, is_grease, SuiteInfo, Table};
use crate::handshake::{ClientHello, EncryptedExtensions, ServerHello};

/// SSL 2.0's version, for a connection whose server answered in SSL 2.0.
const SSL2: u16 = 0x0002;

/// Hybrid groups (a classic curve with a KEM) by code point, besides the 0x02xx KEMs.
const HYBRID_GROUPS: [u16; 7] = [0x11E9, 0x11EA, 0x11EB, 0x11EC, 0x11ED, 0x6399, 0x639A];

/// A connection's hellos, borrowed from its `model.Connection`.
pub struct Hellos<'py> {
    pub client: Option<Bound<'py, ClientHello>>,
    pub server: Option<Bound<'py, ServerHello>>,
    pub retry: Option<Bound<'py, ServerHello>>,
    pub encrypted_extensions: Option<Bound<'py, EncryptedExtensions>>,
    /// The ServerHello was answered in SSL 2.0 (no ServerHello object).
    pub sslv2_server_hello: bool,
    /// Resumed TLS <= 1.2: the server's CCS came right after its ServerHello.
    pub abbreviated: bool,
}

fn optional<'py, T: pyo3::PyTypeInfo>(value: Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, T>>> {
    if value.is_none() {
        return Ok(None);
    }
    Ok(Some(value.downcast_into::<T>()?))
}

/// A connection's first ClientHello (None: an empty `client_hellos`).
fn first_client<'py>(conn: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, ClientHello>>> {
    let hellos = conn.getattr(intern!(conn.py(), "client_hellos"))?;
    match hellos.get_item(0) {
        Ok(first) => Ok(Some(first.downcast_into::<ClientHello>()?)),
        Err(_) => Ok(None), // an empty list
    }
}

impl<'py> Hellos<'py> {
    pub fn of(conn: &Bound<'py, PyAny>) -> PyResult<Self> {
        let py = conn.py();
        Ok(Self {
            client: first_client(conn)?,
            server: optional(conn.getattr(intern!(py, "server_hello"))?)?,
            retry: optional(conn.getattr(intern!(py, "hello_retry_request"))?)?,
            encrypted_extensions: optional(conn.getattr(intern!(py, "encrypted_extensions"))?)?,
            sslv2_server_hello: conn
                .getattr(intern!(py, "sslv2_server_hello"))?
                .is_truthy()?,
            abbreviated: conn.getattr(intern!(py, "abbreviated"))?.is_truthy()?,
        })
    }

    /// The hellos `resumed` reads, and only those: the ServerHello (None without one,
    /// which `resumed` answers None anyway), the ClientHello and `abbreviated`. The
    /// resumption index asks it of every connection handed out and `show`'s savings again:
    /// the HelloRetryRequest, the EncryptedExtensions and SSL 2.0's flag (which `version`
    /// reads only without a ServerHello) are left unread, as None and false.
    pub fn for_resumed(conn: &Bound<'py, PyAny>) -> PyResult<Option<Self>> {
        let py = conn.py();
        let Some(server) = optional(conn.getattr(intern!(py, "server_hello"))?)? else {
            return Ok(None);
        };
        Ok(Some(Self {
            client: first_client(conn)?,
            server: Some(server),
            retry: None,
            encrypted_extensions: None,
            sslv2_server_hello: false,
            abbreviated: conn.getattr(intern!(py, "abbreviated"))?.is_truthy()?,
        }))
    }

    fn client_value(&self, ext_type: u16) -> Option<Decoded> {
        let hello = self.client.as_ref()?;
        hello.get().index().value_of(hello.py(), ext_type)
    }

    fn server_value(&self, ext_type: u16) -> Option<Decoded> {
        let hello = self.server.as_ref()?;
        hello.get().index().value_of(hello.py(), ext_type)
    }

    pub fn sni(&self) -> Option<&Py<PyString>> {
        self.client.as_ref()?.get().server_name()
    }

    pub fn alpn_offered(&self) -> Vec<String> {
        match self.client_value(ext::ALPN) {
            Some(Decoded::Protocols(protocols)) => protocols,
            _ => Vec::new(),
        }
    }

    /// The protocol the server chose: in its EncryptedExtensions (TLS 1.3, once read), else
    /// in its ServerHello.
    pub fn alpn(&self) -> Option<String> {
        let value = match (&self.encrypted_extensions, &self.server) {
            (Some(ee), _) => ee.get().index().value_of(ee.py(), ext::ALPN),
            (None, Some(sh)) => sh.get().index().value_of(sh.py(), ext::ALPN),
            (None, None) => None,
        };
        match value {
            Some(Decoded::Protocols(protocols)) => protocols.into_iter().next(),
            _ => None,
        }
    }

    /// The versions the client offered (supported_versions, GREASE left out), else its
    /// legacy_version.
    pub fn client_versions(&self) -> Vec<u16> {
        let Some(hello) = &self.client else {
            return Vec::new();
        };
        match self.client_value(ext::SUPPORTED_VERSIONS) {
            Some(Decoded::SupportedVersions(versions)) => {
                versions.into_iter().filter(|v| !is_grease(*v)).collect()
            }
            _ => vec![hello.get().legacy_version()],
        }
    }

    /// The groups of the ClientHello's supported_groups, GREASE left out.
    pub fn groups_offered(&self) -> Vec<u16> {
        match self.client_value(ext::SUPPORTED_GROUPS) {
            Some(Decoded::SupportedGroups(groups)) => {
                groups.into_iter().filter(|g| !is_grease(*g)).collect()
            }
            _ => Vec::new(),
        }
    }

    pub fn version(&self) -> Option<u16> {
        version(
            self.server.as_ref().map(|sh| sh.get()),
            self.sslv2_server_hello,
        )
    }

    pub fn tls13(&self) -> bool {
        self.version().is_some_and(is_tls13_version)
    }

    /// The suite the ServerHello chose (the SSL 2.0 cipher kind is the caller's).
    pub fn server_suite(&self) -> Option<u16> {
        self.server.as_ref().map(|sh| sh.get().cipher_suite())
    }

    /// The (EC)DH group a ServerHello's key share names.
    pub fn key_share_group(&self) -> Option<u16> {
        self.server.as_ref()?.get().key_share_group()
    }

    pub fn forward_secrecy(&self, info: Option<&SuiteInfo>) -> Option<bool> {
        let sh = self.server.as_ref()?;
        if self.tls13() {
            return Some(sh.get().key_share_group().is_some());
        }
        info?.forward_secrecy
    }

    /// How the session was resumed: "session_id", "ticket", "psk", or None.
    pub fn resumed(&self) -> Option<&'static str> {
        let (sh, ch) = (self.server.as_ref()?, self.client.as_ref()?);
        if self.tls13() {
            let psk = self.server_value(ext::PRE_SHARED_KEY);
            return matches!(psk, Some(Decoded::SelectedIdentity(_))).then_some("psk");
        }
        if !self.abbreviated {
            return None;
        }
        let py = sh.py();
        let echoed = sh.get().legacy_session_id(py);
        if echoed.is_empty() || echoed != ch.get().legacy_session_id(py) {
            return Some("ticket");
        }
        // RFC 5077 §3.4: with a ticket the server may echo the client's session id.
        match self.client_value(ext::SESSION_TICKET) {
            Some(Decoded::SessionTicket { ticket_length }) if ticket_length > 0 => Some("ticket"),
            _ => Some("session_id"),
        }
    }

    /// Whether the client offered a ticket (or a PSK), and whether the server issued one
    /// (None: TLS 1.3's travel encrypted, and the EncryptedExtensions were not read).
    pub fn session_ticket(&self, issued: bool) -> (bool, Option<bool>) {
        let ticket = matches!(
            self.client_value(ext::SESSION_TICKET),
            Some(Decoded::SessionTicket { .. })
        );
        let psk = matches!(
            self.client_value(ext::PRE_SHARED_KEY),
            Some(Decoded::OfferedPsks { .. })
        );
        let unknown = self.tls13() && !issued && self.encrypted_extensions.is_none();
        (ticket || psk, if unknown { None } else { Some(issued) })
    }
}

/// The version a ServerHello selected; SSL 2.0's for a server that answered in SSL 2.0.
pub fn version(server_hello: Option<&ServerHello>, sslv2_server_hello: bool) -> Option<u16> {
    match server_hello {
        Some(sh) => Some(sh.selected_version()),
        None => sslv2_server_hello.then_some(SSL2),
    }
}

/// The key exchange a ServerHello chose: ECDHE, DHE, RSA, PSK+ECDHE, ECDHE+KEM...
pub fn key_exchange(py: Python<'_>, hello: &ServerHello) -> PyResult<Option<String>> {
    if is_tls13_version(hello.selected_version()) {
        let psk = hello.index().has(ext::PRE_SHARED_KEY);
        return Ok(tls13_key_exchange(psk, hello.key_share_group()));
    }
    Ok(names::suite_info(py, hello.cipher_suite())?.and_then(|info| info.kx.clone()))
}

/// TLS 1.3's key exchange from whether a PSK was chosen and the key share's group.
pub fn tls13_key_exchange(psk: bool, group: Option<u16>) -> Option<String> {
    let Some(group) = group else {
        return psk.then(|| "PSK".to_owned());
    };
    let kind = match group {
        0x0100..=0x01FF => "DHE",
        0x0200..=0x02FF => "KEM",
        _ if HYBRID_GROUPS.contains(&group) => "ECDHE+KEM",
        _ => "ECDHE",
    };
    Some(if psk {
        format!("PSK+{kind}")
    } else {
        kind.to_owned()
    })
}

/// The group of the key exchange by name: the key share's, a ServerKeyExchange's named
/// curve, or a finite-field group by the size of its prime.
pub fn group_name(
    py: Python<'_>,
    key_share_group: Option<u16>,
    server_key_exchange: &Bound<'_, PyAny>,
) -> PyResult<Option<Arc<str>>> {
    if let Some(group) = key_share_group {
        return names::name(py, Table::Group, u32::from(group)).map(Some);
    }
    if server_key_exchange.is_none() {
        return Ok(None);
    }
    let params = server_key_exchange.getattr(intern!(py, "params"))?;
    if params.contains(intern!(py, "named_curve"))? {
        let curve = params.get_item(intern!(py, "named_curve"))?;
        return names::name_of(py, Table::Group, &curve).map(Some);
    }
    if params.contains(intern!(py, "dh_p"))? {
        let prime = params.get_item(intern!(py, "dh_p"))?;
        let prime = prime.downcast::<PyBytes>()?.as_bytes();
        let significant = prime.iter().skip_while(|b| **b == 0).count();
        return Ok(Some(
            format!("DH {}-bit", significant.saturating_mul(8)).into(),
        ));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::tls13_key_exchange;

    #[test]
    fn tls13_key_exchange_names_the_share_and_the_psk() {
        assert_eq!(tls13_key_exchange(false, None), None);
        assert_eq!(tls13_key_exchange(true, None).as_deref(), Some("PSK"));
        assert_eq!(
            tls13_key_exchange(false, Some(0x001d)).as_deref(),
            Some("ECDHE")
        );
        assert_eq!(
            tls13_key_exchange(false, Some(0x0100)).as_deref(),
            Some("DHE")
        );
        assert_eq!(
            tls13_key_exchange(false, Some(0x0201)).as_deref(),
            Some("KEM")
        );
        assert_eq!(
            tls13_key_exchange(true, Some(0x11ec)).as_deref(),
            Some("PSK+ECDHE+KEM")
        );
        assert_eq!(
            tls13_key_exchange(false, Some(4588)).as_deref(),
            Some("ECDHE+KEM")
        );
    }
}
