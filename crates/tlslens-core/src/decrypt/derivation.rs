//! The keys each handshake derived, kept for the narration and the report: the first
//! [`MAX_DERIVATIONS`] handshakes', [`MAX_DERIVED_VALUES`] values each.

use super::Decryptor;

/// The keys one handshake derived, in the order derived, and the secret they came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Derivation {
    pub values: Vec<(String, Vec<u8>)>,
    pub source: Option<String>,
}

/// Handshakes whose derivation a connection keeps (the first ones: a renegotiation's is
/// told by its number), and the values kept of each (a TLS 1.3 or DTLS 1.3 handshake makes
/// 16 or so, each key update 2 to 4 more): memory bounded by these, not by how many
/// renegotiations or key updates a hostile capture holds.
pub const MAX_DERIVATIONS: usize = 16;
pub const MAX_DERIVED_VALUES: usize = 64;

impl Decryptor {
    /// The current handshake's (name, value) pairs (none past [`MAX_DERIVATIONS`]).
    pub fn derivation(&self) -> &[(String, Vec<u8>)] {
        let current = self.handshakes.checked_sub(1);
        current
            .and_then(|i| self.derivations.get(i))
            .map_or(&[], |d| d.values.as_slice())
    }

    /// The current handshake's derivation, when it is one kept.
    pub(super) fn current_derivation(&mut self) -> Option<&mut Derivation> {
        let current = self.handshakes.checked_sub(1)?;
        self.derivations.get_mut(current)
    }

    pub(super) fn derive(&mut self, name: impl Into<String>, value: &[u8]) {
        if let Some(current) = self.current_derivation() {
            if current.values.len() < MAX_DERIVED_VALUES {
                current.values.push((name.into(), value.to_vec()));
            }
        }
    }

    pub(super) fn set_source(&mut self, source: &str) {
        self.source = Some(source.to_owned());
        if let Some(current) = self.current_derivation() {
            current.source = Some(source.to_owned());
        }
    }
}
