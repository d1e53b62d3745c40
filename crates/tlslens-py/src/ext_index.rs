//! A message's extensions by code point: `extension(type)` and `decoded(type)` without a
//! walk of the list, and the `extensions` tuple.
//!
//! Strategy: a message's extensions are kept as their bodies, one after another in one
//! buffer, with each one's code point and end, and indexed by code point (the first of each
//! code as a walk would find it). The `Extension` objects and their tuple are made on the
//! first question that needs them: a flow that sent a ClientHello and waits (a scanner's, a
//! TLS flood's, tens of thousands open at once) holds its hello's bytes, not an object and
//! a bytes object per extension. A body is decoded on the first question, as the message it
//! sits in (its shape depends on it), and the answer is kept with the message: the JSON, the
//! narration, the fingerprints and the model ask for the SNI, the versions or the key share
//! many times a connection, and read one object. The index holds one entry per extension of
//! the message, so the message's size bounds it.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyTuple;
use tlslens_core::extensions::{self as core, Decoded, Message};
use tlslens_core::handshake::extensions_list::{Extension as CoreExtension, Extensions};

use crate::extensions::decoded_to_python;
use crate::handshake::{bytes, Extension};

pub struct ExtensionIndex {
    message: Message,
    /// The extensions' bodies in wire order, one after another.
    bodies: Box<[u8]>,
    /// Per extension in wire order: its code point and the end of its body in `bodies`
    /// (it starts where the one before ends).
    spans: Box<[(u16, u32)]>,
    /// (code point, position of its first extension in `spans`), sorted by code point.
    first: Box<[(u16, u32)]>,
    /// The `extensions` tuple, made on first use.
    items: GILOnceCell<Py<PyTuple>>,
    /// Per position: its decoded body (Python None: kept raw, or malformed), once asked.
    decoded: Box<[GILOnceCell<PyObject>]>,
}

/// Offsets fit: a message's length is 24 bits.
fn offset(value: usize) -> PyResult<u32> {
    u32::try_from(value).map_err(|_| PyValueError::new_err("extensions longer than 4 GiB"))
}

impl ExtensionIndex {
    /// The index of `list`, the extensions of a message of kind `message`.
    pub fn new(list: &[CoreExtension<'_>], message: Message) -> PyResult<Self> {
        let mut bodies = Vec::with_capacity(list.iter().map(|e| e.data.len()).sum());
        let mut spans = Vec::with_capacity(list.len());
        for e in list {
            bodies.extend_from_slice(e.data);
            spans.push((e.ext_type, offset(bodies.len())?));
        }
        let mut first = Vec::with_capacity(list.len());
        for (position, e) in list.iter().enumerate() {
            first.push((e.ext_type, offset(position)?));
        }
        // Stable: of one code point, the first on the wire stays first, and is the one kept.
        first.sort_by_key(|&(ext_type, _)| ext_type);
        first.dedup_by_key(|&mut (ext_type, _)| ext_type);
        Ok(Self {
            message,
            bodies: bodies.into_boxed_slice(),
            spans: spans.into_boxed_slice(),
            first: first.into_boxed_slice(),
            items: GILOnceCell::new(),
            decoded: list.iter().map(|_| GILOnceCell::new()).collect(),
        })
    }

    /// The code point and body of the extension at `position`.
    fn at(&self, position: usize) -> Option<CoreExtension<'_>> {
        let &(ext_type, end) = self.spans.get(position)?;
        let start = match position.checked_sub(1) {
            Some(before) => self.spans.get(before).map_or(0, |&(_, end)| end),
            None => 0,
        };
        let data = self.bodies.get(start as usize..end as usize)?;
        Some(CoreExtension { ext_type, data })
    }

    /// The extensions as the core's list, borrowing the bodies (the fingerprints' strings).
    pub fn core_extensions(&self) -> Extensions<'_> {
        Extensions {
            list: (0..self.spans.len()).filter_map(|i| self.at(i)).collect(),
            problems: Vec::new(),
        }
    }

    /// The `extensions` tuple, in wire order: made on the first call, then the same one.
    pub fn tuple(&self, py: Python<'_>) -> PyResult<Py<PyTuple>> {
        let made = self.items.get_or_try_init(py, || {
            let items = (0..self.spans.len())
                .filter_map(|i| self.at(i))
                .map(|e| Py::new(py, Extension::from_parts(e.ext_type, bytes(py, e.data))))
                .collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, items).map(Bound::unbind)
        })?;
        Ok(made.clone_ref(py))
    }

    /// The position of the first extension of code `ext_type`, if the message has one.
    fn position(&self, ext_type: u16) -> Option<usize> {
        let found = self
            .first
            .binary_search_by_key(&ext_type, |&(t, _)| t)
            .ok()?;
        let &(_, position) = self.first.get(found)?;
        Some(position as usize)
    }

    /// The first extension of code `ext_type`, if the message has one (the object the
    /// tuple holds).
    pub fn find(&self, py: Python<'_>, ext_type: u16) -> PyResult<Option<Py<Extension>>> {
        let Some(position) = self.position(ext_type) else {
            return Ok(None);
        };
        let item = self.tuple(py)?.into_bound(py).get_item(position)?;
        Ok(Some(item.downcast_into::<Extension>()?.unbind()))
    }

    /// The body of the first extension of code `ext_type` as it was sent, if the message
    /// has one.
    pub fn body(&self, ext_type: u16) -> Option<&[u8]> {
        self.at(self.position(ext_type)?).map(|e| e.data)
    }

    /// Whether the message has an extension of code `ext_type`.
    pub fn has(&self, ext_type: u16) -> bool {
        self.position(ext_type).is_some()
    }

    /// The first extension of code `ext_type` decoded as this message's: Python None when
    /// it is absent, kept raw (unknown, GREASE) or malformed.
    pub fn decoded(&self, py: Python<'_>, ext_type: u16) -> PyResult<PyObject> {
        let Some(position) = self.position(ext_type) else {
            return Ok(py.None());
        };
        let Some(cell) = self.decoded.get(position) else {
            return Ok(py.None());
        };
        cell.get_or_try_init(py, || match self.value(position) {
            Some(value) => decoded_to_python(py, value),
            None => Ok(py.None()),
        })
        .map(|value| value.clone_ref(py))
    }

    /// The core's value of the first extension of code `ext_type` (None: absent, kept raw or
    /// malformed), for the typed getters that read one field of it.
    pub fn value_of(&self, _py: Python<'_>, ext_type: u16) -> Option<Decoded> {
        self.value(self.position(ext_type)?)
    }

    fn value(&self, position: usize) -> Option<Decoded> {
        let e = self.at(position)?;
        // A panic in a decoder is a bug; the body is then unread, as a malformed one is.
        catch_unwind(AssertUnwindSafe(|| {
            core::decode(e.ext_type, e.data, self.message)
        }))
        .ok()?
        .ok()?
    }
}

/// The questions every message with extensions answers (`extensions`, `extension`,
/// `decoded`), for the classes that hold an `index: ExtensionIndex`; a class's own methods
/// may follow its name in braces (a class has one `#[pymethods]` block).
macro_rules! indexed_extensions {
    ($($class:ty $({ $($own:tt)* })?),* $(,)?) => {$(
        #[pymethods]
        impl $class {
            $($($own)*)?

            /// The extensions in wire order (made on first use: see ext_index.rs).
            #[getter]
            fn extensions(&self, py: Python<'_>) -> PyResult<Py<pyo3::types::PyTuple>> {
                self.index.tuple(py)
            }

            /// The first extension of code `ext_type`, or None: found without a walk.
            fn extension(
                &self,
                py: Python<'_>,
                ext_type: u16,
            ) -> PyResult<Option<Py<$crate::handshake::Extension>>> {
                self.index.find(py, ext_type)
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
