//! `tlslens._core.Extension` (an extension's code point and undecoded body), and the
//! registry's names the handshake findings give (the registry is Python's).

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyBytes;
use tlslens_core::handshake::extensions_list::Extensions;

/// `tlslens.registry`, imported once (its functions are looked up at each use: rare).
static REGISTRY: GILOnceCell<PyObject> = GILOnceCell::new();

/// One extension: its code point and its body, undecoded (`handshake/extensions.py`
/// decodes known bodies).
#[pyclass(frozen, module = "tlslens._core")]
pub struct Extension {
    #[pyo3(get, name = "type")]
    ext_type: u16,
    #[pyo3(get)]
    data: Py<PyBytes>,
}

impl Extension {
    pub fn from_parts(ext_type: u16, data: Py<PyBytes>) -> Self {
        Self { ext_type, data }
    }

    pub fn ext_type(&self) -> u16 {
        self.ext_type
    }

    pub fn data<'a>(&'a self, py: Python<'a>) -> &'a [u8] {
        self.data.as_bytes(py)
    }
}

#[pymethods]
impl Extension {
    #[new]
    fn new(r#type: u16, data: Py<PyBytes>) -> Self {
        Self {
            ext_type: r#type,
            data,
        }
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> bool {
        match other.downcast::<Self>() {
            Ok(other) => {
                let other = other.get();
                self.ext_type == other.ext_type && self.data.as_bytes(py) == other.data.as_bytes(py)
            }
            Err(_) => false,
        }
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        (self.ext_type, self.data.clone_ref(py))
            .into_pyobject(py)?
            .hash()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Extension(type={}, {} bytes)",
            self.ext_type,
            self.data.as_bytes(py).len()
        )
    }
}

/// What `tlslens.registry`'s `function` names `value`, for the rare finding that names a
/// code point (the registry is Python's). An error is raised: a Ctrl-C that comes while
/// the registry runs must stop the run, not become a number.
fn registry_name(py: Python<'_>, function: &str, value: u16) -> PyResult<String> {
    let registry = REGISTRY.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("tlslens.registry")?.into_any().unbind())
    })?;
    let named = registry.bind(py).getattr(function)?.call1((value,))?;
    named.extract::<String>()
}

/// The registry's name of an extension type, for the one finding that names it.
fn extension_name(py: Python<'_>, ext_type: u16) -> PyResult<String> {
    registry_name(py, "extension_name", ext_type)
}

/// The registry's name of a handshake type, for the finding of a message that is unreadable.
pub fn handshake_name(py: Python<'_>, msg_type: u8) -> PyResult<String> {
    registry_name(py, "handshake_name", msg_type.into())
}

/// The finding of a message's extensions, if any; the registry's error (a Ctrl-C while it
/// named an extension: `Extensions::describe` cannot carry one) is raised after it.
pub fn malformed(
    py: Python<'_>,
    extensions: &Extensions<'_>,
    message: &str,
) -> PyResult<Option<String>> {
    let failed = std::cell::Cell::new(None);
    let problem = extensions.describe(message, |t| {
        extension_name(py, t).unwrap_or_else(|err| {
            let first = failed.take().unwrap_or(err); // the first error is the one raised
            failed.set(Some(first));
            t.to_string()
        })
    });
    failed.into_inner().map_or(Ok(problem), Err)
}
