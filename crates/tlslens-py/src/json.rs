//! `tlslens._core.json_line`: the JSON text of a Python value, byte for byte as
//! `json.JSONEncoder(check_circular=False).encode` writes it (the lines of `show --json`).
//!
//! Strategy: `Node`, a `serde::Serialize` view of the Python object tree, drives the line's
//! text serializer (json_text.rs: Python's separators and `ensure_ascii` escapes). Two
//! things serde's data model cannot carry reach it another way:
//! - text written as is (the decimal of an int beyond 64 bits, a float as Python's repr,
//!   NaN and Infinity) goes through `serialize_bytes`, which the text serializer writes
//!   untouched: a row never holds bytes, the walk refuses them as json does, so nothing
//!   else comes that way;
//! - a str that is not UTF-8 (a lone surrogate, which Python strs may hold) is escaped here
//!   from its UTF-16 code units, left in `pending` and written before the closing quote of
//!   an empty str, so that it works as a dict key as well as a value.
//!
//! The walk holds the GIL (it reads Python objects) and is bounded by `MAX_DEPTH`: a deeper
//! value raises ValueError instead of overflowing the stack.

use std::cell::RefCell;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::ser::{Error as _, SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use crate::json_text::{python_char, LineSerializer};

/// Containers nested deeper than this raise ValueError (a row nests fewer than ten).
pub const MAX_DEPTH: usize = 256;

/// What the walk and the formatter share, and the first Python error the walk met.
#[derive(Default)]
pub(crate) struct Shared {
    /// A non-UTF-8 str's escaped text, for the `end_string` of the empty str standing in.
    pending: RefCell<Vec<u8>>,
    error: RefCell<Option<PyErr>>,
    /// A Python value a writer hands to a serializer that takes objects as they are (the
    /// row's dict, `row/objects.rs`); the text serializer leaves it.
    handoff: RefCell<Option<PyObject>>,
    /// The serializer takes the values handed over: without it (the text), none is kept.
    hands_off: bool,
}

impl Shared {
    /// What a serializer that takes the handed values (`row/objects.rs`) shares.
    pub(crate) fn handing_off() -> Self {
        Self {
            hands_off: true,
            ..Self::default()
        }
    }

    pub(crate) fn hand(&self, value: &Bound<'_, PyAny>) {
        if self.hands_off {
            *self.handoff.borrow_mut() = Some(value.clone().unbind());
        }
    }

    pub(crate) fn take_handoff(&self) -> Option<PyObject> {
        self.handoff.borrow_mut().take()
    }

    /// Whether the serializer takes the values handed over (objects, not text).
    pub(crate) fn hands_off(&self) -> bool {
        self.hands_off
    }

    /// Keep `err` (the first one) for the caller, and stop the serializer.
    pub(crate) fn fail<E: serde::ser::Error>(&self, err: PyErr) -> E {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some(err);
        }
        E::custom("a Python error")
    }
}

/// A str's escaped text from its UTF-16 code units: the way for one holding lone surrogates.
fn escaped_utf16(text: &Bound<'_, PyString>) -> PyResult<Vec<u8>> {
    let py = text.py();
    // str.encode, not a subclass's own encode (json reads a str subclass's characters).
    let encode = py.get_type::<PyString>().getattr(intern!(py, "encode"))?;
    let encoded = encode.call1((text, "utf-16-le", "surrogatepass"))?;
    let bytes = encoded.downcast_into::<PyBytes>()?;
    let mut out = Vec::new();
    for pair in bytes.as_bytes().chunks_exact(2) {
        if let [low, high] = pair {
            python_char(&mut out, u16::from_le_bytes([*low, *high]));
        }
    }
    Ok(out)
}

/// Python's text for a float: repr when finite (through Python: floats are few in a row),
/// the words json writes otherwise.
fn float_text(value: &Bound<'_, PyFloat>) -> PyResult<Vec<u8>> {
    let number = value.value();
    if number.is_nan() {
        return Ok(b"NaN".to_vec());
    }
    if number.is_infinite() {
        return Ok(if number > 0.0 {
            b"Infinity".to_vec()
        } else {
            b"-Infinity".to_vec()
        });
    }
    // float.__repr__ of the value, not a subclass's own repr (as json does).
    let plain = PyFloat::new(value.py(), number);
    Ok(plain.repr()?.to_str()?.as_bytes().to_vec())
}

/// An int's decimal; `int.__repr__`, not an IntEnum's str, as json does.
fn int_text(value: &Bound<'_, PyInt>) -> PyResult<Vec<u8>> {
    let py = value.py();
    let repr = py
        .get_type::<PyInt>()
        .getattr(intern!(py, "__repr__"))?
        .call1((value,))?;
    Ok(repr
        .downcast_into::<PyString>()?
        .to_str()?
        .as_bytes()
        .to_vec())
}

/// One Python value of the tree, `depth` containers down.
pub(crate) struct Node<'a, 'py> {
    obj: &'a Bound<'py, PyAny>,
    shared: &'a Shared,
    depth: usize,
}

impl<'a, 'py> Node<'a, 'py> {
    /// `obj`, written `depth` containers down (a row's values are one down).
    pub(crate) fn new(obj: &'a Bound<'py, PyAny>, shared: &'a Shared, depth: usize) -> Self {
        Node { obj, shared, depth }
    }

    /// Keep `err` for the caller and stop the serializer.
    fn fail<E: serde::ser::Error>(&self, err: PyErr) -> E {
        self.shared.fail(err)
    }

    fn string<S: Serializer>(&self, text: &Bound<'_, PyString>, s: S) -> Result<S::Ok, S::Error> {
        if let Ok(utf8) = text.to_str() {
            return s.serialize_str(utf8);
        }
        let escaped = escaped_utf16(text).map_err(|err| self.fail(err))?;
        *self.shared.pending.borrow_mut() = escaped;
        s.serialize_str("")
    }

    fn int<S: Serializer>(&self, int: &Bound<'_, PyInt>, s: S) -> Result<S::Ok, S::Error> {
        match int.extract::<i64>() {
            Ok(small) => s.serialize_i64(small),
            Err(_) => s.serialize_bytes(&int_text(int).map_err(|err| self.fail(err))?),
        }
    }

    fn child<'b>(&'b self, obj: &'b Bound<'py, PyAny>) -> Node<'b, 'py> {
        Node {
            obj,
            shared: self.shared,
            depth: self.depth.saturating_add(1),
        }
    }

    fn nested<E: serde::ser::Error>(&self) -> Result<(), E> {
        if self.depth >= MAX_DEPTH {
            let message = format!("JSON nesting deeper than {MAX_DEPTH} containers");
            return Err(self.fail(PyValueError::new_err(message)));
        }
        Ok(())
    }

    fn dict<S: Serializer>(&self, dict: &Bound<'py, PyDict>, s: S) -> Result<S::Ok, S::Error> {
        self.nested()?;
        let mut map = s.serialize_map(Some(dict.len()))?;
        for (key, value) in dict.iter() {
            map.serialize_key(&Key(self.child(&key)))?;
            map.serialize_value(&self.child(&value))?;
        }
        map.end()
    }

    fn items<S: Serializer>(
        &self,
        len: usize,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        self.nested()?;
        let mut seq = s.serialize_seq(Some(len))?;
        for item in items {
            seq.serialize_element(&self.child(&item))?;
        }
        seq.end()
    }
}

impl Serialize for Node<'_, '_> {
    /// In the order of CPython's `encoder_listencode_obj`, after the exact types a row is
    /// made of (an exact type is its own case whatever the order; a subclass check is a
    /// call under the stable ABI).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let obj = self.obj;
        if let Ok(text) = obj.downcast_exact::<PyString>() {
            return self.string(text, s);
        } else if let Ok(dict) = obj.downcast_exact::<PyDict>() {
            return self.dict(dict, s);
        } else if let Ok(int) = obj.downcast_exact::<PyInt>() {
            return self.int(int, s);
        } else if let Ok(list) = obj.downcast_exact::<PyList>() {
            return self.items(list.len(), list.iter(), s);
        }
        if obj.is_none() {
            s.serialize_unit()
        } else if let Ok(flag) = obj.downcast::<PyBool>() {
            s.serialize_bool(flag.is_true())
        } else if let Ok(text) = obj.downcast::<PyString>() {
            self.string(text, s)
        } else if let Ok(int) = obj.downcast::<PyInt>() {
            self.int(int, s)
        } else if let Ok(float) = obj.downcast::<PyFloat>() {
            s.serialize_bytes(&float_text(float).map_err(|err| self.fail(err))?)
        } else if let Ok(list) = obj.downcast::<PyList>() {
            self.items(list.len(), list.iter(), s)
        } else if let Ok(tuple) = obj.downcast::<PyTuple>() {
            self.items(tuple.len(), tuple.iter(), s)
        } else if let Ok(dict) = obj.downcast::<PyDict>() {
            self.dict(dict, s)
        } else {
            let name = obj.get_type().name().map_err(|err| self.fail(err))?;
            let message = format!("Object of type {name} is not JSON serializable");
            Err(self.fail(PyTypeError::new_err(message)))
        }
    }
}

/// A dict key: a str, or the text json makes of a float, bool, None or int key.
struct Key<'a, 'py>(Node<'a, 'py>);

impl Serialize for Key<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let node = &self.0;
        let obj = node.obj;
        let text = if let Ok(text) = obj.downcast::<PyString>() {
            return node.string(text, s);
        } else if let Ok(float) = obj.downcast::<PyFloat>() {
            float_text(float)
        } else if let Ok(flag) = obj.downcast::<PyBool>() {
            Ok(if flag.is_true() {
                b"true".to_vec()
            } else {
                b"false".to_vec()
            })
        } else if obj.is_none() {
            Ok(b"null".to_vec())
        } else if let Ok(int) = obj.downcast::<PyInt>() {
            int_text(int)
        } else {
            let name = obj.get_type().name().map_err(|err| node.fail(err))?;
            let message = format!("keys must be str, int, float, bool or None, not {name}");
            Err(PyTypeError::new_err(message))
        };
        let text = text.map_err(|err| node.fail(err))?;
        // The texts are ASCII (Python's reprs): as a str they need no escape.
        s.serialize_str(std::str::from_utf8(&text).map_err(S::Error::custom)?)
    }
}

/// The text `write` makes with a serializer writing as `json.dumps` does; the first Python
/// error a `Node` met (or, without one, the serializer's) is the call's.
pub(crate) fn python_text<'py>(
    py: Python<'py>,
    write: impl FnOnce(&mut LineSerializer<'_>, &Shared) -> Result<(), serde_json::Error>,
) -> PyResult<Bound<'py, PyString>> {
    let out = python_bytes(8192, write)?;
    let text = std::str::from_utf8(&out).map_err(|err| PyValueError::new_err(err.to_string()))?;
    Ok(PyString::new(py, text))
}

/// `python_text`'s text as bytes (ASCII), for a piece of a line kept to be written again.
pub(crate) fn python_bytes(
    capacity: usize,
    write: impl FnOnce(&mut LineSerializer<'_>, &Shared) -> Result<(), serde_json::Error>,
) -> PyResult<Vec<u8>> {
    let shared = Shared::default();
    let mut out = Vec::with_capacity(capacity);
    let result = write(&mut LineSerializer::new(&mut out, &shared.pending), &shared);
    if let Err(err) = result {
        let kept = shared.error.borrow_mut().take();
        return Err(kept.unwrap_or_else(|| PyValueError::new_err(err.to_string())));
    }
    Ok(out)
}

/// The JSON text of `value` as `json.JSONEncoder(check_circular=False).encode(value)`
/// writes it. Raises TypeError for a value json cannot write (naming its type) and
/// ValueError past `MAX_DEPTH` nested containers.
#[pyfunction]
fn json_line<'py>(py: Python<'py>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    python_text(py, |serializer, shared| {
        Node::new(value, shared, 0).serialize(serializer)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("JSON_MAX_DEPTH", MAX_DEPTH)?;
    m.add_function(wrap_pyfunction!(json_line, m)?)
}
