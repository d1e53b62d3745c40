//! `tlslens._core.Endpoint`: one end of a connection, its address's bytes and its port; and
//! the shared ends the flow events hand out.
//!
//! Strategy: a capture's connections go to few servers and come from few addresses, and
//! every connection holds its two ends. The flow events give one object per (address, port)
//! seen again (`shared`, bounded by count), made from the walk's address bytes: no `bytes`
//! made per flow to be looked up and dropped. Hash and equality are those of the tuple
//! (address, port), as the frozen dataclass this replaces had them; the hash is computed
//! once, as it is asked of each end of each connection (a server's handshake times are
//! kept by end). The text is the row's: the address as `model._address_text` words it,
//! asked once per address and kept, then the port.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple, PyType};

/// Ends and addresses kept for sharing, each map at most this many (then emptied).
pub const MAX_SHARED_ENDS: usize = 4096;

/// One end of a connection.
#[pyclass(frozen, module = "tlslens._core")]
pub struct Endpoint {
    #[pyo3(get)]
    ip: Py<PyBytes>,
    #[pyo3(get)]
    port: u16,
    hash: isize,
}

impl Endpoint {
    fn made(py: Python<'_>, ip: Bound<'_, PyBytes>, port: u16) -> PyResult<Self> {
        let hash = PyTuple::new(py, [ip.as_any(), &port.into_pyobject(py)?.into_any()])?.hash()?;
        Ok(Endpoint {
            ip: ip.unbind(),
            port,
            hash,
        })
    }

    /// `str(end)`, for the row.
    pub fn text<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        let address = address_text(py, self.ip.bind(py))?;
        let mut text = String::with_capacity(address.len() + 6);
        text.push_str(&address);
        text.push(':');
        text.push_str(itoa::Buffer::new().format(self.port));
        Ok(PyString::new(py, &text))
    }
}

#[pymethods]
impl Endpoint {
    #[new]
    fn new(py: Python<'_>, ip: Bound<'_, PyBytes>, port: u16) -> PyResult<Self> {
        Endpoint::made(py, ip, port)
    }

    fn __hash__(&self) -> isize {
        self.hash
    }

    fn __eq__(&self, py: Python<'_>, other: &Self) -> bool {
        self.port == other.port && self.ip.bind(py).as_bytes() == other.ip.bind(py).as_bytes()
    }

    fn __str__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        self.text(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let ip = self.ip.bind(py).repr()?;
        Ok(format!("Endpoint(ip={}, port={})", ip.to_str()?, self.port))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Reduced<'py>> {
        let end = slf.get();
        Ok((slf.get_type(), (end.ip.clone_ref(slf.py()), end.port)))
    }
}

/// What a pickle makes an `Endpoint` from: the class and its arguments.
type Reduced<'py> = (Bound<'py, PyType>, (Py<PyBytes>, u16));

/// The ends and addresses kept (`shared`). Python objects in a lock: only touched with the
/// GIL held, and the lock is never held across a Python call.
struct Kept {
    ends: HashMap<(Vec<u8>, u16), Py<Endpoint>>,
    addresses: HashMap<Vec<u8>, Py<PyBytes>>,
}

static KEPT: LazyLock<Mutex<Kept>> = LazyLock::new(|| {
    Mutex::new(Kept {
        ends: HashMap::new(),
        addresses: HashMap::new(),
    })
});

/// The end (`address`, `port`): the same object as the last time it was asked for, while
/// it is kept; its address's bytes shared with the address's other ports.
pub fn shared(py: Python<'_>, address: &[u8], port: u16) -> PyResult<Py<Endpoint>> {
    let key = (address.to_vec(), port);
    // The address is looked up only for an end not kept (a client's new port, mostly): a
    // kept end holds its address's bytes already.
    let known = {
        let kept = lock();
        match kept.ends.get(&key) {
            Some(end) => return Ok(end.clone_ref(py)),
            None => kept.addresses.get(address).map(|ip| ip.clone_ref(py)),
        }
    };
    let (ip, new_address) = match known {
        Some(ip) => (ip.into_bound(py), false),
        None => (PyBytes::new(py, address), true),
    };
    let end = Py::new(py, Endpoint::made(py, ip.clone(), port)?)?;
    let mut kept = lock();
    if kept.ends.len() >= MAX_SHARED_ENDS {
        kept.ends.clear();
    }
    if new_address {
        if kept.addresses.len() >= MAX_SHARED_ENDS {
            kept.addresses.clear();
        }
        kept.addresses.insert(key.0.clone(), ip.unbind());
    }
    kept.ends.insert(key, end.clone_ref(py));
    Ok(end)
}

/// ``Endpoint(ip, port)``, shared (see `shared`).
#[pyfunction]
#[pyo3(name = "shared_endpoint")]
fn shared_endpoint(py: Python<'_>, ip: &[u8], port: u16) -> PyResult<Py<Endpoint>> {
    shared(py, ip, port)
}

/// How many ends and addresses are kept (a test's question).
#[pyfunction]
fn shared_ends_kept() -> (usize, usize) {
    let kept = lock();
    (kept.ends.len(), kept.addresses.len())
}

static ADDRESSES: LazyLock<Mutex<HashMap<Vec<u8>, std::sync::Arc<str>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The address as `model._address_text` words it, asked once per address and kept.
fn address_text(py: Python<'_>, ip: &Bound<'_, PyBytes>) -> PyResult<std::sync::Arc<str>> {
    let bytes = ip.as_bytes();
    if let Some(found) = lock_addresses().get(bytes).cloned() {
        return Ok(found);
    }
    let model = py.import(intern!(py, "tlslens.model"))?;
    let worded: std::sync::Arc<str> = model
        .getattr(intern!(py, "_address_text"))?
        .call1((ip,))?
        .extract::<String>()?
        .into();
    let mut kept = lock_addresses();
    if kept.len() >= MAX_SHARED_ENDS {
        kept.clear();
    }
    kept.insert(bytes.to_vec(), std::sync::Arc::clone(&worded));
    Ok(worded)
}

fn lock() -> std::sync::MutexGuard<'static, Kept> {
    KEPT.lock().unwrap_or_else(PoisonError::into_inner)
}

fn lock_addresses() -> std::sync::MutexGuard<'static, HashMap<Vec<u8>, std::sync::Arc<str>>> {
    ADDRESSES.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Endpoint>()?;
    m.add_function(wrap_pyfunction!(shared_endpoint, m)?)?;
    m.add_function(wrap_pyfunction!(shared_ends_kept, m)?)?;
    m.add("MAX_SHARED_ENDS", MAX_SHARED_ENDS)?;
    Ok(())
}
