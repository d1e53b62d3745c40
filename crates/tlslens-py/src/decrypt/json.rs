//! The `decryption` object of a connection's row (connection.schema.json): what the
//! decryptor says, read at once under its lock, and written in the schema's key order.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use tlslens_core::decrypt::{Dir, Part};

use super::{DecryptionResult, Decryptor};
use crate::keylog::read_here;

impl Decryptor {
    /// What the `decryption` object of `show --json` says, read now: `failed_in_handshake`
    /// is the outcome's (a handshake that failed needs fewer secrets); `reveal_keys` adds
    /// every derived secret, key and IV (`derived`).
    pub(crate) fn json(
        &self,
        py: Python<'_>,
        failed_in_handshake: bool,
        reveal_keys: bool,
        stopped: Option<&str>,
    ) -> PyResult<DecryptionJson> {
        let state = self.0.here(py);
        let keylog = read_here(py, &self.0.keys.keylog);
        let dec = &state.inner;
        let missing = dec.missing_secrets(&keylog, failed_in_handshake);
        let reason = (state.broken.clone()).or_else(|| dec.reason_text(&keylog, &missing, stopped));
        let derived = reveal_keys.then(|| {
            dec.derivations
                .iter()
                .enumerate()
                .filter(|(_, d)| !d.values.is_empty())
                .map(|(number, d)| DerivedJson {
                    handshake: number,
                    source: d.source.clone(),
                    values: d
                        .values
                        .iter()
                        .map(|(name, value)| (name.clone(), crate::row::hex(value)))
                        .collect(),
                })
                .collect()
        });
        Ok(DecryptionJson {
            status: dec.status.name(),
            source: dec.source.clone(),
            reason,
            results: Dir::BOTH.map(|dir| DecryptionResult::of(&dec.results[dir as usize])),
            opened: [Part::Handshake, Part::ApplicationData]
                .map(|part| Dir::BOTH.map(|dir| dec.opened(part, dir))),
            early_data: dec.opened(Part::EarlyData, Dir::C2S),
            missing,
            derived,
        })
    }
}

/// The `decryption` object of a connection's row (connection.schema.json), in its key order.
#[derive(Default)]
pub(crate) struct DecryptionJson {
    status: &'static str,
    source: Option<String>,
    reason: Option<String>,
    results: [DecryptionResult; 2],
    opened: [[bool; 2]; 2],
    early_data: bool,
    missing: Vec<&'static str>,
    derived: Option<Vec<DerivedJson>>,
}

/// One handshake's derived values (`--reveal-keys`): its number, source and (name, hex).
struct DerivedJson {
    handshake: usize,
    source: Option<String>,
    values: Vec<(String, String)>,
}

/// {"c2s": value, "s2c": value}.
struct PerDirection<T>([T; 2]);

impl<T: Serialize> Serialize for PerDirection<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        for (dir, value) in Dir::BOTH.into_iter().zip(&self.0) {
            map.serialize_entry(dir.name(), value)?;
        }
        map.end()
    }
}

/// The two directions' results, one field of each.
fn each<T>(
    results: &[DecryptionResult; 2],
    field: impl Fn(&DecryptionResult) -> T,
) -> PerDirection<T> {
    PerDirection([field(&results[0]), field(&results[1])])
}

impl DecryptionJson {
    /// A connection read without secrets: nothing was tried.
    pub(crate) fn not_attempted() -> Self {
        Self {
            status: "not_attempted",
            ..Self::default()
        }
    }
}

/// The `decryption` object of a connection read without secrets (`serialize.decryption_json`
/// asks; the row writes the same).
#[pyfunction]
pub(super) fn decryption_not_attempted(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let json = DecryptionJson::not_attempted();
    Ok(crate::row::objects_of(py, &json)?.downcast_into::<PyDict>()?)
}

impl Serialize for DecryptionJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = &self.results;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("status", self.status)?;
        map.serialize_entry("source", &self.source)?;
        map.serialize_entry("reason", &self.reason)?;
        map.serialize_entry("finished_verified", &each(r, |r| r.finished_verified))?;
        map.serialize_entry("records_decrypted", &each(r, |r| r.records_decrypted))?;
        map.serialize_entry(
            "records_failed_integrity",
            &each(r, |r| r.records_failed_integrity),
        )?;
        map.serialize_entry("plaintext_bytes", &each(r, |r| r.plaintext_bytes))?;
        map.serialize_entry("plaintext_sha256", &each(r, |r| r.plaintext_sha256.clone()))?;
        map.serialize_entry("opened", &OpenedParts(self))?;
        map.serialize_entry("missing_secrets", &self.missing)?;
        if let Some(derived) = &self.derived {
            map.serialize_entry("derived", derived)?;
        }
        map.end()
    }
}

/// `opened`: which parts of each direction opened, and 0-RTT.
struct OpenedParts<'a>(&'a DecryptionJson);

impl Serialize for OpenedParts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        let [handshake, application_data] = self.0.opened;
        map.serialize_entry(Part::Handshake.name(), &PerDirection(handshake))?;
        map.serialize_entry(
            Part::ApplicationData.name(),
            &PerDirection(application_data),
        )?;
        map.serialize_entry("early_data", &self.0.early_data)?;
        map.end()
    }
}

impl Serialize for DerivedJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("handshake", &self.handshake)?;
        map.serialize_entry("source", &self.source)?;
        map.serialize_entry("values", &Values(&self.values))?;
        map.end()
    }
}

/// A handshake's values as [{"name": ..., "hex": ...}].
struct Values<'a>(&'a [(String, String)]);

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(name, hex)| NameHex(name, hex)))
    }
}

struct NameHex<'a>(&'a str, &'a str);

impl Serialize for NameHex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("name", self.0)?;
        map.serialize_entry("hex", self.1)?;
        map.end()
    }
}
