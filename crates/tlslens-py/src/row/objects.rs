//! The row as Python objects (`connection_to_json`'s dict), made by the same `Writer` as
//! the line: a serde `Serializer` whose output is Python values.
//!
//! Strategy: the writer hands every Python value it holds (`PyValue`) to the serializer as
//! a newtype struct of a reserved name, after leaving the object itself in `Shared`'s
//! hand-off slot (serde_json's own trick for its RawValue): the text serializer ignores the
//! name and writes the value through json.rs's walk, and this one takes the object from the
//! slot as it is, without a copy (the old dict held the same objects). Everything else the
//! writer makes is plain serde data: None, bools, ints, strs, lists and dicts in key order;
//! a float comes as its repr's text (the text path's raw bytes) and is read back here.

use std::collections::HashMap;
use std::fmt;
use std::sync::{LazyLock, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList, PyString};
use pyo3::BoundObject;
use serde::ser::{self, Serialize};

use crate::json::Shared;

/// The newtype name under which a Python value is handed over.
pub const HANDOFF: &str = "$tlslens::row::PyValue";

/// Why a row could not become objects.
#[derive(Debug)]
pub struct ObjectError(pub String);

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ObjectError {}

impl ser::Error for ObjectError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ObjectError(msg.to_string())
    }
}

fn py_error(err: PyErr) -> ObjectError {
    ObjectError(err.to_string())
}

/// Distinct short strs kept (it starts over when full); longer than `MAX_KEPT_LEN` bytes, a
/// str is made each time.
const MAX_KEPT: usize = 4096;
const MAX_KEPT_LEN: usize = 64;

/// The row's keys and registry names, as str objects made once: every row has the same
/// hundred keys and few distinct names, and thousands of rows held at once (`extract`'s
/// batches) would otherwise hold a copy of each.
static KEPT: LazyLock<Mutex<HashMap<Box<str>, Py<PyString>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn text(py: Python<'_>, v: &str) -> Py<PyString> {
    if v.len() > MAX_KEPT_LEN {
        return PyString::new(py, v).unbind();
    }
    let kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = kept.get(v) {
        return found.clone_ref(py);
    }
    drop(kept); // not held while Python makes the str
    let made = PyString::new(py, v).unbind();
    let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    if kept.len() >= MAX_KEPT {
        kept.clear();
    }
    kept.insert(v.into(), made.clone_ref(py));
    made
}

/// A serializer into Python objects.
#[derive(Clone, Copy)]
pub struct Objects<'a, 'py> {
    pub py: Python<'py>,
    pub shared: &'a Shared,
}

type Made = Result<PyObject, ObjectError>;

fn object<'py, T: IntoPyObject<'py>>(py: Python<'py>, value: T) -> Made {
    value
        .into_pyobject(py)
        .map(|made| made.into_any().unbind())
        .map_err(|err| ObjectError(Into::<PyErr>::into(err).to_string()))
}

fn unsupported(what: &str) -> ObjectError {
    ObjectError(format!("the row has no {what}"))
}

/// A list being made.
pub struct Items<'a, 'py> {
    to: Objects<'a, 'py>,
    items: Vec<PyObject>,
}

/// A dict being made; `key`: the key waiting for its value.
pub struct Entries<'a, 'py> {
    to: Objects<'a, 'py>,
    dict: Bound<'py, PyDict>,
    key: Option<PyObject>,
}

impl<'a, 'py> ser::Serializer for Objects<'a, 'py> {
    type Ok = PyObject;
    type Error = ObjectError;
    type SerializeSeq = Items<'a, 'py>;
    type SerializeTuple = Items<'a, 'py>;
    type SerializeTupleStruct = ser::Impossible<PyObject, ObjectError>;
    type SerializeTupleVariant = ser::Impossible<PyObject, ObjectError>;
    type SerializeMap = Entries<'a, 'py>;
    type SerializeStruct = ser::Impossible<PyObject, ObjectError>;
    type SerializeStructVariant = ser::Impossible<PyObject, ObjectError>;

    fn serialize_bool(self, v: bool) -> Made {
        object(self.py, v)
    }
    fn serialize_i8(self, v: i8) -> Made {
        object(self.py, v)
    }
    fn serialize_i16(self, v: i16) -> Made {
        object(self.py, v)
    }
    fn serialize_i32(self, v: i32) -> Made {
        object(self.py, v)
    }
    fn serialize_i64(self, v: i64) -> Made {
        object(self.py, v)
    }
    fn serialize_u8(self, v: u8) -> Made {
        object(self.py, v)
    }
    fn serialize_u16(self, v: u16) -> Made {
        object(self.py, v)
    }
    fn serialize_u32(self, v: u32) -> Made {
        object(self.py, v)
    }
    fn serialize_u64(self, v: u64) -> Made {
        object(self.py, v)
    }
    fn serialize_f32(self, v: f32) -> Made {
        object(self.py, f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Made {
        object(self.py, v)
    }
    fn serialize_char(self, v: char) -> Made {
        object(self.py, v.to_string())
    }
    fn serialize_str(self, v: &str) -> Made {
        Ok(text(self.py, v).into_any())
    }
    /// A float's text (the only raw text the row writer makes itself).
    fn serialize_bytes(self, v: &[u8]) -> Made {
        let text = std::str::from_utf8(v).map_err(|err| ObjectError(err.to_string()))?;
        let float = self
            .py
            .get_type::<PyFloat>()
            .call1((text,))
            .map_err(py_error)?;
        Ok(float.unbind())
    }
    fn serialize_none(self) -> Made {
        Ok(self.py.None())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Made {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Made {
        Ok(self.py.None())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Made {
        Ok(self.py.None())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Made {
        self.serialize_str(variant)
    }
    /// A Python value handed over (`HANDOFF`), or a newtype's value.
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Made {
        if name == HANDOFF {
            if let Some(handed) = self.shared.take_handoff() {
                return Ok(handed);
            }
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Made {
        Err(unsupported("enum"))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Items<'a, 'py>, ObjectError> {
        Ok(Items {
            to: self,
            items: Vec::with_capacity(len.unwrap_or(0)),
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Items<'a, 'py>, ObjectError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, ObjectError> {
        Err(unsupported("tuple struct"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, ObjectError> {
        Err(unsupported("enum"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Entries<'a, 'py>, ObjectError> {
        Ok(Entries {
            to: self,
            dict: PyDict::new(self.py),
            key: None,
        })
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, ObjectError> {
        Err(unsupported("struct"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, ObjectError> {
        Err(unsupported("enum"))
    }
}

impl ser::SerializeSeq for Items<'_, '_> {
    type Ok = PyObject;
    type Error = ObjectError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ObjectError> {
        self.items.push(value.serialize(self.to)?);
        Ok(())
    }

    fn end(self) -> Made {
        let list = PyList::new(self.to.py, self.items).map_err(py_error)?;
        Ok(list.into_any().unbind())
    }
}

impl ser::SerializeTuple for Items<'_, '_> {
    type Ok = PyObject;
    type Error = ObjectError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ObjectError> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Made {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for Entries<'_, '_> {
    type Ok = PyObject;
    type Error = ObjectError;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), ObjectError> {
        self.key = Some(key.serialize(self.to)?);
        Ok(())
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ObjectError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ObjectError("a value without its key".to_owned()))?;
        let value = value.serialize(self.to)?;
        self.dict.set_item(key, value).map_err(py_error)
    }

    fn end(self) -> Made {
        Ok(self.dict.into_any().unbind())
    }
}
