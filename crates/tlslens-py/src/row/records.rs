//! The row's `records` (`show --records`): each record's header as the record layer framed
//! it, from the connection's `RecordInfo`s.

use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::names::{self, Table};
use super::write::With;

/// One record, read.
pub struct Record<'py> {
    frame: Bound<'py, PyAny>,
    direction: Bound<'py, PyAny>,
    offset: Bound<'py, PyAny>,
    content_type: (Arc<str>, Bound<'py, PyAny>),
    version: Arc<str>,
    length: Bound<'py, PyAny>,
    /// DTLS: its epoch and sequence number.
    epoch: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    /// DTLS: the connection ID it carries, in hex.
    cid: Option<String>,
    /// DTLS: a decrypted record's real content type.
    inner_type: Option<(Arc<str>, Bound<'py, PyAny>)>,
    /// DTLS 1.3: the (epoch, sequence number) pairs an ACK acknowledges.
    acked: Option<Vec<Vec<Bound<'py, PyAny>>>>,
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn optional<'py>(value: Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    (!value.is_none()).then_some(value)
}

fn record<'py>(record: &Bound<'py, PyAny>) -> PyResult<Record<'py>> {
    let py = record.py();
    let get = |name: &Bound<'py, pyo3::types::PyString>| record.getattr(name);
    let content_type = get(intern!(py, "content_type"))?;
    let epoch = optional(get(intern!(py, "epoch"))?);
    let inner_type = optional(get(intern!(py, "inner_type"))?);
    Ok(Record {
        frame: get(intern!(py, "frame"))?,
        direction: get(intern!(py, "direction"))?,
        offset: get(intern!(py, "offset"))?,
        content_type: (
            names::name_of(py, Table::ContentType, &content_type)?,
            content_type,
        ),
        version: names::name_of(py, Table::Version, &get(intern!(py, "version"))?)?,
        length: get(intern!(py, "length"))?,
        epoch: match epoch {
            Some(epoch) => Some((epoch, get(intern!(py, "seq"))?)),
            None => None,
        },
        cid: match optional(get(intern!(py, "cid"))?) {
            Some(cid) => Some(hex(cid.downcast::<PyBytes>()?.as_bytes())),
            None => None,
        },
        inner_type: match inner_type {
            Some(inner) => Some((names::name_of(py, Table::ContentType, &inner)?, inner)),
            None => None,
        },
        acked: match optional(get(intern!(py, "acked"))?) {
            Some(acked) => Some(
                acked
                    .try_iter()?
                    .map(|pair| pair?.try_iter()?.collect::<PyResult<Vec<_>>>())
                    .collect::<PyResult<_>>()?,
            ),
            None => None,
        },
    })
}

/// The `RecordInfo`s of `records`, read.
pub fn read<'py>(records: &Bound<'py, PyList>) -> PyResult<Vec<Record<'py>>> {
    records.iter().map(|r| record(&r)).collect()
}

impl Serialize for With<'_, Record<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("frame", &self.node(&r.frame))?;
        map.serialize_entry("direction", &self.node(&r.direction))?;
        map.serialize_entry("offset", &self.node(&r.offset))?;
        map.serialize_entry("content_type", &*r.content_type.0)?;
        map.serialize_entry("content_type_id", &self.node(&r.content_type.1))?;
        map.serialize_entry("version", &*r.version)?;
        map.serialize_entry("length", &self.node(&r.length))?;
        if let Some((epoch, seq)) = &r.epoch {
            map.serialize_entry("epoch", &self.node(epoch))?;
            map.serialize_entry("seq", &self.node(seq))?;
        }
        if let Some(cid) = &r.cid {
            map.serialize_entry("cid", cid)?;
        }
        if let Some((name, id)) = &r.inner_type {
            map.serialize_entry("inner_content_type", &**name)?;
            map.serialize_entry("inner_content_type_id", &self.node(id))?;
        }
        if let Some(acked) = &r.acked {
            let pairs: Vec<Vec<_>> = acked
                .iter()
                .map(|pair| pair.iter().map(|n| self.node(n)).collect())
                .collect();
            map.serialize_entry("acked", &pairs)?;
        }
        map.end()
    }
}
