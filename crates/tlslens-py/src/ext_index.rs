//! A message's extensions by code point: `extension(type)` and `decoded(type)` without a
//! walk of the list.
//!
//! Strategy: when a message that carries extensions becomes a Python object, its extensions
//! become Python objects once (the `extensions` tuple) and are indexed by code point, the
//! first of each code as a walk would find it. A body is decoded on the first question, as
//! the message it sits in (its shape depends on it), and the answer is kept with the
//! message: the JSON, the narration, the fingerprints and the model ask for the SNI, the
//! versions or the key share many times a connection, and read one object. The index holds
//! one entry per extension of the message, so the message's size bounds it.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyTuple;
use tlslens_core::extensions::{self as core, Decoded, Message};
use tlslens_core::handshake::extensions_list::Extension as CoreExtension;

use crate::extensions::decoded_to_python;
use crate::handshake::{bytes, Extension};

pub struct ExtensionIndex {
    message: Message,
    /// The extensions in wire order, as the `extensions` tuple holds them.
    items: Vec<Py<Extension>>,
    /// Code point -> position of its first extension in `items`.
    first: HashMap<u16, usize>,
    /// Per position: its decoded body (Python None: kept raw, or malformed), once asked.
    decoded: Vec<GILOnceCell<PyObject>>,
}

impl ExtensionIndex {
    /// The Python objects of `list` (a message of kind `message`) and its index.
    pub fn new(
        py: Python<'_>,
        list: &[CoreExtension<'_>],
        message: Message,
    ) -> PyResult<(Py<PyTuple>, Self)> {
        let items = list
            .iter()
            .map(|e| Py::new(py, Extension::from_parts(e.ext_type, bytes(py, e.data))))
            .collect::<PyResult<Vec<_>>>()?;
        let mut first = HashMap::with_capacity(list.len());
        for (position, e) in list.iter().enumerate() {
            first.entry(e.ext_type).or_insert(position);
        }
        let decoded = list.iter().map(|_| GILOnceCell::new()).collect();
        let tuple = PyTuple::new(py, items.iter().map(|item| item.clone_ref(py)))?.unbind();
        let index = Self {
            message,
            items,
            first,
            decoded,
        };
        Ok((tuple, index))
    }

    /// The first extension of code `ext_type`, if the message has one.
    pub fn extension(&self, py: Python<'_>, ext_type: u16) -> Option<Py<Extension>> {
        let position = *self.first.get(&ext_type)?;
        self.items.get(position).map(|item| item.clone_ref(py))
    }

    /// The first extension of code `ext_type` decoded as this message's: Python None when
    /// it is absent, kept raw (unknown, GREASE) or malformed.
    pub fn decoded(&self, py: Python<'_>, ext_type: u16) -> PyResult<PyObject> {
        let Some(&position) = self.first.get(&ext_type) else {
            return Ok(py.None());
        };
        let (Some(item), Some(cell)) = (self.items.get(position), self.decoded.get(position))
        else {
            return Ok(py.None());
        };
        cell.get_or_try_init(py, || match self.value(py, item) {
            Some(value) => decoded_to_python(py, value),
            None => Ok(py.None()),
        })
        .map(|value| value.clone_ref(py))
    }

    /// The core's value of the first extension of code `ext_type` (None: absent, kept raw or
    /// malformed), for the typed getters that read one field of it.
    pub fn value_of(&self, py: Python<'_>, ext_type: u16) -> Option<Decoded> {
        let position = *self.first.get(&ext_type)?;
        self.value(py, self.items.get(position)?)
    }

    fn value(&self, py: Python<'_>, item: &Py<Extension>) -> Option<Decoded> {
        let item = item.get();
        let data = item.data(py);
        // A panic in a decoder is a bug; the body is then unread, as a malformed one is.
        catch_unwind(AssertUnwindSafe(|| {
            core::decode(item.ext_type(), data, self.message)
        }))
        .ok()?
        .ok()?
    }
}

/// The questions every message with extensions answers (`extension`, `decoded`), for the
/// classes that hold an `index: ExtensionIndex`.
macro_rules! indexed_extensions {
    ($($class:ty),* $(,)?) => {$(
        #[pymethods]
        impl $class {
            /// The first extension of code `ext_type`, or None: found without a walk.
            fn extension(
                &self,
                py: Python<'_>,
                ext_type: u16,
            ) -> Option<Py<$crate::handshake::Extension>> {
                self.index.extension(py, ext_type)
            }

            /// The first extension of code `ext_type` decoded as this message's (its typed
            /// class), once; None when it is absent, kept raw (unknown, GREASE) or malformed.
            fn decoded(&self, py: Python<'_>, ext_type: u16) -> PyResult<PyObject> {
                self.index.decoded(py, ext_type)
            }
        }
    )*};
}

pub(crate) use indexed_extensions;
