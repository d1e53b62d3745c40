//! The row's trust parts and problems, as the core writes them: `handshake_signatures`
//! (`proof.SignatureCheck`), `validation` (`validate.Validation`) and `problems`
//! (`model.Finding`), read from the objects Python made.
//!
//! Strategy: Python decides (checks signatures, validates chains, words findings); the core
//! only writes what it decided. Each object's attributes are read once, when the row is
//! read, and written in the contract's key order; their `to_json` methods ask the same
//! writer (`finding_json`, `signature_json`, `validation_json`), so each object has one
//! definition of its JSON. The rare parts of a verdict (an OCSP staple's check, online
//! revocation) are their own classes' `to_json` dicts, written as they are.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyList, PyString, PyTuple};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::clock;
use super::write::{PyValue, With};
use super::{interned, unpanicked};
use crate::json::Shared;

/// `model.Finding`'s attributes, in the order its JSON writes them ("code" last, and only
/// when it is not None).
const FINDING: [&str; 6] = ["frame", "direction", "layer", "offset", "message", "code"];
/// `proof.SignatureCheck`'s, as its JSON names them.
const SIGNATURE: [&str; 5] = ["message", "direction", "scheme", "verified", "reason"];

static FINDING_NAMES: GILOnceCell<[Py<PyString>; FINDING.len()]> = GILOnceCell::new();
static SIGNATURE_NAMES: GILOnceCell<[Py<PyString>; SIGNATURE.len()]> = GILOnceCell::new();
static UTC: GILOnceCell<Py<PyAny>> = GILOnceCell::new();

/// A finding's attributes, in `FINDING` order.
pub struct Finding<'py>(Vec<Bound<'py, PyAny>>);

/// A handshake signature's check, in `SIGNATURE` order.
pub struct Signature<'py>(Vec<Bound<'py, PyAny>>);

/// A chain's verdict.
pub struct Verdict<'py> {
    trusted: bool,
    problems: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    path: Vec<Bound<'py, PyAny>>,
    checked_at: Time<'py>,
    hostname: Bound<'py, PyAny>,
    trust_store: Bound<'py, PyAny>,
    ocsp: Option<Bound<'py, PyAny>>,
    revocation: Option<Vec<Bound<'py, PyAny>>>,
}

/// A verdict's time: the core's text for a UTC `datetime`, else `_text.iso_time`'s.
enum Time<'py> {
    Text(String),
    Python(Bound<'py, PyAny>),
}

fn attributes<'py, const N: usize>(
    obj: &Bound<'py, PyAny>,
    names: &'static [Py<PyString>; N],
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    names.iter().map(|name| obj.getattr(name)).collect()
}

impl<'py> Finding<'py> {
    pub fn read(finding: &Bound<'py, PyAny>) -> PyResult<Self> {
        let names = interned(finding.py(), &FINDING_NAMES, FINDING);
        Ok(Self(attributes(finding, names)?))
    }
}

impl<'py> Signature<'py> {
    pub fn read(check: &Bound<'py, PyAny>) -> PyResult<Self> {
        let names = interned(check.py(), &SIGNATURE_NAMES, SIGNATURE);
        Ok(Self(attributes(check, names)?))
    }
}

/// Each item of `items` (a list, or None for an empty one) read by `read`.
pub fn each<'py, T>(
    items: &Bound<'py, PyAny>,
    read: impl Fn(&Bound<'py, PyAny>) -> PyResult<T>,
) -> PyResult<Vec<T>> {
    if items.is_none() {
        return Ok(Vec::new());
    }
    items
        .downcast::<PyList>()?
        .iter()
        .map(|item| read(&item))
        .collect()
}

/// `value`'s `to_json()`, or None for None.
fn json_of<'py>(value: Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    if value.is_none() {
        return Ok(None);
    }
    Ok(Some(value.call_method0(intern!(value.py(), "to_json"))?))
}

impl<'py> Verdict<'py> {
    pub fn read(verdict: &Bound<'py, PyAny>) -> PyResult<Self> {
        let py = verdict.py();
        let problems = verdict
            .getattr(intern!(py, "problems"))?
            .downcast::<PyList>()?
            .iter()
            .map(|problem| {
                Ok((
                    problem.getattr(intern!(py, "code"))?,
                    problem.getattr(intern!(py, "message"))?,
                ))
            })
            .collect::<PyResult<_>>()?;
        let path = verdict.call_method0(intern!(py, "path_digests"))?;
        let revocation = verdict.getattr(intern!(py, "revocation"))?;
        let revocation = if revocation.is_none() {
            None
        } else {
            Some(
                revocation
                    .try_iter()?
                    .map(|result| result?.call_method0(intern!(py, "to_json")))
                    .collect::<PyResult<_>>()?,
            )
        };
        Ok(Self {
            trusted: verdict.getattr(intern!(py, "trusted"))?.is_truthy()?,
            problems,
            path: path.downcast::<PyTuple>()?.iter().collect(),
            checked_at: time(&verdict.getattr(intern!(py, "checked_at"))?)?,
            hostname: verdict.getattr(intern!(py, "hostname"))?,
            trust_store: verdict.getattr(intern!(py, "trust_store"))?,
            ocsp: json_of(verdict.getattr(intern!(py, "ocsp"))?)?,
            revocation,
        })
    }
}

/// `at` (a `datetime`) as `_text.iso_time` writes it: the core's text when its zone is
/// `datetime.UTC` (its fields are then the UTC time), else `iso_time`'s own answer.
fn time<'py>(at: &Bound<'py, PyAny>) -> PyResult<Time<'py>> {
    let py = at.py();
    let utc = UTC.get_or_try_init(py, || -> PyResult<_> {
        Ok(py
            .import(intern!(py, "datetime"))?
            .getattr(intern!(py, "UTC"))?
            .unbind())
    })?;
    if at.getattr(intern!(py, "tzinfo"))?.is(utc) {
        let field = |name: &Bound<'py, PyString>| -> PyResult<u32> { at.getattr(name)?.extract() };
        let text = clock::civil_iso(
            (
                field(intern!(py, "year"))?,
                field(intern!(py, "month"))?,
                field(intern!(py, "day"))?,
            ),
            (
                field(intern!(py, "hour"))?,
                field(intern!(py, "minute"))?,
                field(intern!(py, "second"))?,
            ),
            field(intern!(py, "microsecond"))?,
        );
        return Ok(Time::Text(text));
    }
    let text = py.import(intern!(py, "tlslens._text"))?;
    Ok(Time::Python(
        text.getattr(intern!(py, "iso_time"))?.call1((at,))?,
    ))
}

impl Serialize for With<'_, Finding<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let values = &self.0 .0;
        let code = values.get(5).filter(|code| !code.is_none());
        let mut map = s.serialize_map(Some(5 + usize::from(code.is_some())))?;
        for (key, value) in FINDING.iter().zip(values).take(5) {
            map.serialize_entry(key, &self.node(value))?;
        }
        if let Some(code) = code {
            map.serialize_entry("code", &self.node(code))?;
        }
        map.end()
    }
}

impl Serialize for With<'_, Signature<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(SIGNATURE.len()))?;
        for (key, value) in SIGNATURE.iter().zip(&self.0 .0) {
            map.serialize_entry(key, &self.node(value))?;
        }
        map.end()
    }
}

/// A verdict's problem: its code and words.
struct Problem<'a, 'py>(&'a (Bound<'py, PyAny>, Bound<'py, PyAny>), &'a Shared);

impl Serialize for Problem<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (code, message) = self.0;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("code", &PyValue::new(code, self.1))?;
        map.serialize_entry("message", &PyValue::new(message, self.1))?;
        map.end()
    }
}

impl Serialize for With<'_, Verdict<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (verdict, shared) = (self.0, self.1);
        let mut map = s.serialize_map(Some(8))?;
        map.serialize_entry("trusted", &verdict.trusted)?;
        map.serialize_entry("problems", &Problems(&verdict.problems, shared))?;
        map.serialize_entry("path", &Nodes(&verdict.path, shared))?;
        match &verdict.checked_at {
            Time::Text(text) => map.serialize_entry("checked_at", text)?,
            Time::Python(text) => map.serialize_entry("checked_at", &self.node(text))?,
        }
        map.serialize_entry("hostname", &self.node(&verdict.hostname))?;
        map.serialize_entry("trust_store", &self.node(&verdict.trust_store))?;
        map.serialize_entry("ocsp", &verdict.ocsp.as_ref().map(|v| self.node(v)))?;
        let revocation = verdict.revocation.as_deref().map(|r| Nodes(r, shared));
        map.serialize_entry("revocation", &revocation)?;
        map.end()
    }
}

/// Python values, as a list.
struct Nodes<'a, 'py>(&'a [Bound<'py, PyAny>], &'a Shared);

impl Serialize for Nodes<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|value| PyValue::new(value, self.1)))
    }
}

/// A verdict's problems.
struct Problems<'a, 'py>(&'a [(Bound<'py, PyAny>, Bound<'py, PyAny>)], &'a Shared);

impl Serialize for Problems<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|problem| Problem(problem, self.1)))
    }
}

/// `model.Finding.to_json`: the finding as the row writes it.
#[pyfunction]
fn finding_json<'py>(finding: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    unpanicked(|| {
        let read = Finding::read(finding)?;
        one_object(finding.py(), &read)
    })
}

/// `proof.SignatureCheck.to_json`: the check as the row writes it.
#[pyfunction]
fn signature_json<'py>(check: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    unpanicked(|| {
        let read = Signature::read(check)?;
        one_object(check.py(), &read)
    })
}

/// `validate.Validation.to_json`: the verdict as the row writes it.
#[pyfunction]
fn validation_json<'py>(verdict: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    unpanicked(|| {
        let read = Verdict::read(verdict)?;
        one_object(verdict.py(), &read)
    })
}

fn one_object<'py, T>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>>
where
    for<'a> With<'a, T>: Serialize,
{
    let shared = Shared::handing_off();
    super::objects_made(py, &With(value, &shared), &shared)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(finding_json, m)?)?;
    m.add_function(wrap_pyfunction!(signature_json, m)?)?;
    m.add_function(wrap_pyfunction!(validation_json, m)?)
}
