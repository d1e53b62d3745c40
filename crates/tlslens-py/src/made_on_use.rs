//! `tlslens._core.MadeOnUse`: the model's members made on first use (model.py), as a
//! descriptor of the core's.
//!
//! Strategy: a connection open for long with only a ClientHello holds no empty list or dict
//! it may never need (the member's slot, its name with an underscore, holds None until
//! then), and every reader still sees one, the same from use to use. Every connection's
//! members are read a dozen times by the session, the judgement and the row: a descriptor
//! written in Python cost a Python call each time; this one is a slot read.

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyString, PyType};

/// A member made on its first reading (or set), held in the slot named `_<name>`.
#[pyclass(frozen, module = "tlslens._core")]
pub struct MadeOnUse {
    /// Called without arguments to make the member.
    factory: PyObject,
    /// The slot, once the owner class named the member (`__set_name__`).
    slot: GILOnceCell<Py<PyString>>,
}

impl MadeOnUse {
    fn slot<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyString>> {
        self.slot.get(py).map(|slot| slot.bind(py)).ok_or_else(|| {
            pyo3::exceptions::PyTypeError::new_err(
                "MadeOnUse used outside a class body (no member name)",
            )
        })
    }
}

#[pymethods]
impl MadeOnUse {
    #[new]
    fn new(factory: PyObject) -> Self {
        Self {
            factory,
            slot: GILOnceCell::new(),
        }
    }

    /// `MadeOnUse[list[Finding]](list)`: the type is for the type checker only.
    #[classmethod]
    fn __class_getitem__(cls: &Bound<'_, PyType>, _item: &Bound<'_, PyAny>) -> Py<PyType> {
        cls.clone().unbind()
    }

    fn __set_name__(&self, py: Python<'_>, _owner: &Bound<'_, PyAny>, name: &str) {
        let _ = self
            .slot
            .set(py, PyString::intern(py, &format!("_{name}")).unbind());
    }

    fn __get__(
        slf: &Bound<'_, Self>,
        obj: Option<&Bound<'_, PyAny>>,
        _owner: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyObject> {
        let py = slf.py();
        let Some(obj) = obj.filter(|obj| !obj.is_none()) else {
            return Ok(slf.clone().into_any().unbind());
        };
        let this = slf.get();
        let slot = this.slot(py)?;
        let value = obj.getattr(slot)?;
        if !value.is_none() {
            return Ok(value.unbind());
        }
        let made = this.factory.call0(py)?;
        obj.setattr(slot, &made)?;
        Ok(made)
    }

    fn __set__(&self, obj: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        obj.setattr(self.slot(obj.py())?, value)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MadeOnUse>()
}
