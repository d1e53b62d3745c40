//! Writing a read `Row` in the row's key order (serialize.py's contract): the core's values
//! as serde values, Python's through json.rs's walk (`Node`).

use pyo3::prelude::*;
use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};

use super::certificates::Certificates;
use super::objects::HANDOFF;
use super::records::Record;
use super::steps::{millis_text, Alert, Compressed, Step};
use super::{Decryption, Row, Time};
use crate::json::{Node, Shared};

/// Writes a row's values: a Python value through json.rs's walk, one container down.
pub struct Writer<'a, 'py> {
    pub row: &'a Row<'py>,
    pub shared: &'a Shared,
}

/// Names as a list of strings.
struct Strs<'a, T: AsRef<str>>(&'a [T]);

impl<T: AsRef<str>> Serialize for Strs<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(AsRef::as_ref))
    }
}

/// Text written as it is: a float as Python's repr writes it (json.rs's raw text path).
struct Raw<'a>(&'a [u8]);

impl Serialize for Raw<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// A Python value of the row: written by json.rs's walk as text, handed over as it is to a
/// serializer that makes objects (`objects.rs`).
pub struct PyValue<'a, 'py> {
    obj: &'a Bound<'py, PyAny>,
    shared: &'a Shared,
}

impl<'a, 'py> PyValue<'a, 'py> {
    pub fn new(obj: &'a Bound<'py, PyAny>, shared: &'a Shared) -> Self {
        Self { obj, shared }
    }
}

impl Serialize for PyValue<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.shared.hand(self.obj);
        s.serialize_newtype_struct(HANDOFF, &Node::new(self.obj, self.shared, 1))
    }
}

/// A value of the core's that holds Python values, with what its walk shares.
pub struct With<'a, T>(pub &'a T, pub &'a Shared);

impl<'a, 'py, T> With<'a, T> {
    pub fn node(&self, obj: &'a Bound<'py, PyAny>) -> PyValue<'a, 'py> {
        PyValue::new(obj, self.1)
    }
}

/// A list of such values.
struct Each<'a, T>(&'a [T], &'a Shared);

impl<'a, T> Serialize for Each<'a, T>
where
    With<'a, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|item| With(item, self.1)))
    }
}

impl Serialize for With<'_, Step<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let step = self.0;
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("frame", &self.node(&step.frame))?;
        map.serialize_entry("direction", &self.node(&step.direction))?;
        map.serialize_entry("type", &*step.kind)?;
        map.end()
    }
}

impl Serialize for With<'_, Compressed<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let packed = self.0;
        let mut map = s.serialize_map(Some(7))?;
        map.serialize_entry("frame", &self.node(&packed.frame))?;
        map.serialize_entry("direction", &self.node(&packed.direction))?;
        map.serialize_entry("algorithm", &*packed.algorithm)?;
        map.serialize_entry("algorithm_id", &self.node(&packed.algorithm_id))?;
        map.serialize_entry("compressed_length", &packed.compressed_length)?;
        map.serialize_entry(
            "uncompressed_length",
            &self.node(&packed.uncompressed_length),
        )?;
        map.serialize_entry("decompressed", &packed.decompressed)?;
        map.end()
    }
}

impl Serialize for With<'_, Alert<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let alert = self.0;
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("frame", &self.node(&alert.frame))?;
        map.serialize_entry("direction", &self.node(&alert.direction))?;
        match &alert.read {
            Some((level, description)) => {
                map.serialize_entry("level", &**level)?;
                map.serialize_entry("description", &**description)?;
            }
            None => {
                map.serialize_entry("level", &())?;
                map.serialize_entry("description", "encrypted")?;
            }
        }
        map.end()
    }
}

/// The keys of a direction's counts in the row's `bytes`, in the order
/// `DirectionStats::row_values` gives them.
const STATS: [&str; 6] = [
    "total",
    "records",
    "application_data_records",
    "application_data_bytes",
    "gaps",
    "gap_bytes",
];

/// The row's `bytes`: per direction, its `DirectionStats` values in `STATS` order.
struct Stats<'a, 'py>(&'a [(Bound<'py, PyAny>, [u64; 6])], &'a Shared);

impl Serialize for Stats<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (direction, values) in self.0 {
            map.serialize_key(&PyValue::new(direction, self.1))?;
            map.serialize_value(&OneStats(values))?;
        }
        map.end()
    }
}

struct OneStats<'a>(&'a [u64; 6]);

impl Serialize for OneStats<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(STATS.len()))?;
        for (key, value) in STATS.iter().zip(self.0) {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The keys of the row's `timing`, in the order `timing` reads them.
pub const TIMING: [&str; 3] = [
    "tcp_handshake_ms",
    "client_hello_to_server_hello_ms",
    "handshake_ms",
];

/// The times in thousandths of a ms, None for a time unknown; written as Python's float
/// reprs.
struct Timing<'a>(&'a [Option<u64>; 3]);

impl Serialize for Timing<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(TIMING.len()))?;
        for (key, value) in TIMING.iter().zip(self.0) {
            let text = value.map(millis_text);
            map.serialize_entry(key, &text.as_deref().map(|text| Raw(text.as_bytes())))?;
        }
        map.end()
    }
}

impl Writer<'_, '_> {
    fn node<'b, 'py>(&'b self, obj: &'b Bound<'py, PyAny>) -> PyValue<'b, 'py> {
        PyValue::new(obj, self.shared)
    }

    fn plain<M: SerializeMap>(&self, map: &mut M, key: &'static str) -> Result<(), M::Error> {
        let value = self.row.plain(key).ok_or_else(|| M::Error::custom(key))?;
        map.serialize_entry(key, &self.node(value))
    }

    fn part<M: SerializeMap>(&self, map: &mut M, key: &'static str) -> Result<(), M::Error> {
        let value = self
            .row
            .parts
            .get(key)
            .ok_or_else(|| M::Error::custom(key))?;
        map.serialize_entry(key, &self.node(value))
    }

    fn time<M: SerializeMap>(
        &self,
        map: &mut M,
        key: &str,
        time: &Time<'_>,
    ) -> Result<(), M::Error> {
        match time {
            Time::Text(text) => map.serialize_entry(key, text),
            Time::Python(value) => map.serialize_entry(key, &self.node(value)),
            Time::Null => map.serialize_entry(key, &()),
        }
    }

    /// From `schema_version` to `starttls`: where and when.
    fn head<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        let row = self.row;
        self.part(map, "schema_version")?;
        self.plain(map, "id")?;
        self.plain(map, "transport")?;
        let stream = row
            .plain("tcp_stream")
            .ok_or_else(|| M::Error::custom("tcp_stream"))?;
        let (tcp, udp) = if row.tcp {
            (Some(stream), None)
        } else {
            (None, Some(stream))
        };
        map.serialize_entry("tcp_stream", &tcp.map(|v| self.node(v)))?;
        map.serialize_entry("udp_stream", &udp.map(|v| self.node(v)))?;
        self.plain(map, "file")?;
        map.serialize_entry("client", &self.node(&row.client))?;
        map.serialize_entry("server", &self.node(&row.server))?;
        self.plain(map, "first_frame")?;
        self.plain(map, "last_frame")?;
        self.time(map, "start_time", &row.start_time)?;
        self.time(map, "end_time", &row.end_time)?;
        map.serialize_entry("starttls", &row.starttls.as_ref().map(|v| self.node(v)))
    }

    /// From `sni` to `hello_retry_request`: what the hellos settled.
    fn settled<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        let hello = &self.row.settled;
        let sni = hello.sni.as_ref().map(|name| name.as_any());
        map.serialize_entry("sni", &sni.map(|name| self.node(name)))?;
        map.serialize_entry("alpn_offered", &hello.alpn_offered)?;
        map.serialize_entry("alpn", &hello.alpn)?;
        map.serialize_entry("client_versions", &Strs(&hello.client_versions[..]))?;
        map.serialize_entry("groups_offered", &Strs(&hello.groups_offered[..]))?;
        map.serialize_entry("version", &hello.version.as_ref().map(|(name, _)| &**name))?;
        map.serialize_entry("version_id", &hello.version.as_ref().map(|(_, id)| id))?;
        map.serialize_entry("cipher_suites_offered", &Strs(&hello.suites_offered[..]))?;
        map.serialize_entry("ja3", &hello.ja3)?;
        map.serialize_entry("ja3s", &hello.ja3s)?;
        map.serialize_entry("ja4", &hello.ja4)?;
        map.serialize_entry(
            "cipher_suite",
            &hello.suite.as_ref().map(|(name, _)| &**name),
        )?;
        map.serialize_entry("cipher_suite_id", &hello.suite.as_ref().map(|(_, id)| id))?;
        map.serialize_entry("key_exchange", &hello.key_exchange)?;
        map.serialize_entry("authentication", &hello.authentication)?;
        map.serialize_entry("group", &hello.group.as_deref())?;
        map.serialize_entry("forward_secrecy", &hello.forward_secrecy)?;
        map.serialize_entry("resumed", &hello.resumed)?;
        self.plain(map, "resumed_from")?;
        map.serialize_key("session_ticket")?;
        map.serialize_value(&SessionTicket(hello.session_ticket))?;
        map.serialize_entry("ocsp_stapled", &self.row.ocsp_stapled)?;
        map.serialize_entry("client_auth", &With(&self.row.client_auth, self.shared))?;
        map.serialize_entry("hello_retry_request", &hello.hello_retry_request)
    }

    /// From `renegotiation` to the end: the timeline, the bytes, and Python's verdicts.
    fn tail<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        let (row, shared) = (self.row, self.shared);
        self.plain(map, "renegotiation")?;
        map.serialize_entry("handshakes", &Each(&row.handshakes, shared))?;
        map.serialize_entry("handshake", &Each(&row.walk.steps, shared))?;
        let certificates = Certificates(&row.certificates, shared);
        map.serialize_entry("certificates", &certificates)?;
        map.serialize_entry(
            "compressed_certificates",
            &Each(&row.walk.compressed, shared),
        )?;
        map.serialize_entry("handshake_signatures", &Each(&row.signatures, shared))?;
        map.serialize_entry("alerts", &Each(&row.walk.alerts, shared))?;
        map.serialize_entry("bytes", &Stats(&row.stats, shared))?;
        self.plain(map, "closed_by")?;
        map.serialize_entry("outcome", &Outcome(&row.outcome))?;
        map.serialize_entry("timing", &Timing(&row.timing))?;
        match &row.decryption {
            Decryption::Given(value) => map.serialize_entry("decryption", &self.node(value))?,
            Decryption::Core(json) => map.serialize_entry("decryption", json)?,
        }
        let validation = row.validation.as_ref().map(|verdict| With(verdict, shared));
        map.serialize_entry("validation", &validation)?;
        map.serialize_entry("problems", &Each(&row.problems, shared))?;
        if let Some(records) = &row.records {
            map.serialize_entry("records", &Each::<Record<'_>>(records, shared))?;
        }
        if let Some(dtls) = &row.parts.dtls {
            map.serialize_entry("dtls", &self.node(dtls))?;
        }
        if let Some(quic) = &row.parts.quic {
            map.serialize_entry("quic", &self.node(quic))?;
        }
        Ok(())
    }
}

/// `session_ticket`: whether one was offered, and issued.
struct SessionTicket((bool, Option<bool>));

impl Serialize for SessionTicket {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (offered, issued) = self.0;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("offered", &offered)?;
        map.serialize_entry("issued", &issued)?;
        map.end()
    }
}

impl Serialize for Writer<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        self.head(&mut map)?;
        self.settled(&mut map)?;
        self.tail(&mut map)?;
        map.end()
    }
}

/// The row's `outcome` (outcome.rs), as `outcome.Outcome.to_json` words it.
struct Outcome<'a>(&'a super::outcome::Outcome);

impl Serialize for Outcome<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let outcome = self.0;
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("status", outcome.status)?;
        map.serialize_entry("by", &outcome.by)?;
        map.serialize_entry("alert", &outcome.alert)?;
        map.serialize_entry("reason", &outcome.reason)?;
        map.end()
    }
}
