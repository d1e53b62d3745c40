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

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyTuple;
use tlslens_core::extensions::{self as core, Decoded, Message};
use tlslens_core::handshake::extensions_list::Extension as CoreExtension;

use crate::extensions::decoded_to_python;
use crate::handshake::{bytes, Extension};

/// Held by every message object with extensions, for as long as the connection is open (a
/// scanner's capture holds tens of thousands of ClientHellos at once): the extensions are
/// the message's own tuple, not a second list of them, and the index is a sorted slice of
/// 8 bytes an extension, not a hash map's room.
pub struct ExtensionIndex {
    message: Message,
    /// The extensions in wire order: the `extensions` tuple itself.
    items: Py<PyTuple>,
    /// (code point, position of its first extension in `items`), sorted by code point.
    first: Box<[(u16, u32)]>,
    /// Per position: its decoded body (Python None: kept raw, or malformed), once asked.
    decoded: Box<[GILOnceCell<PyObject>]>,
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
        // Positions fit: a list of 4-byte extensions under a 24-bit message length.
        let mut first: Vec<(u16, u32)> = list
            .iter()
            .zip(0u32..)
            .map(|(e, position)| (e.ext_type, position))
            .collect();
        // Stable: of one code point, the first on the wire stays first, and is the one kept.
        first.sort_by_key(|&(ext_type, _)| ext_type);
        first.dedup_by_key(|&mut (ext_type, _)| ext_type);
        let decoded = list.iter().map(|_| GILOnceCell::new()).collect();
        let tuple = PyTuple::new(py, items)?.unbind();
        let index = Self {
            message,
            items: tuple.clone_ref(py),
            first: first.into_boxed_slice(),
            decoded,
        };
        Ok((tuple, index))
    }

    /// The position of the first extension of code `ext_type`, if the message has one.
    fn position(&self, ext_type: u16) -> Option<usize> {
        let found = self
            .first
            .binary_search_by_key(&ext_type, |&(t, _)| t)
            .ok()?;
        let &(_, position) = self.first.get(found)?;
        usize::try_from(position).ok()
    }

    /// The extension at `position` of the message's tuple.
    fn item<'py>(&self, py: Python<'py>, position: usize) -> Option<Bound<'py, Extension>> {
        let item = self.items.bind(py).get_item(position).ok()?;
        item.downcast_into::<Extension>().ok()
    }

    /// The first extension of code `ext_type`, if the message has one.
    pub fn extension(&self, py: Python<'_>, ext_type: u16) -> Option<Py<Extension>> {
        let position = self.position(ext_type)?;
        self.item(py, position).map(Bound::unbind)
    }

    /// The first extension of code `ext_type` decoded as this message's: Python None when
    /// it is absent, kept raw (unknown, GREASE) or malformed.
    pub fn decoded(&self, py: Python<'_>, ext_type: u16) -> PyResult<PyObject> {
        let Some(position) = self.position(ext_type) else {
            return Ok(py.None());
        };
        let (Some(item), Some(cell)) = (self.item(py, position), self.decoded.get(position)) else {
            return Ok(py.None());
        };
        cell.get_or_try_init(py, || match self.value(py, &item) {
            Some(value) => decoded_to_python(py, value),
            None => Ok(py.None()),
        })
        .map(|value| value.clone_ref(py))
    }

    /// The core's value of the first extension of code `ext_type` (None: absent, kept raw or
    /// malformed), for the typed getters that read one field of it.
    pub fn value_of(&self, py: Python<'_>, ext_type: u16) -> Option<Decoded> {
        let position = self.position(ext_type)?;
        self.value(py, &self.item(py, position)?)
    }

    fn value(&self, py: Python<'_>, item: &Bound<'_, Extension>) -> Option<Decoded> {
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
