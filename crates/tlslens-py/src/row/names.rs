//! The registry's names for the row: `tlslens.registry`'s own functions, asked once per
//! code point and kept; and the connection's ends, their addresses worded the same way.
//!
//! Strategy: the names have one source, `src/tlslens/registry` (generated from the IANA
//! CSVs, plus its rules for GREASE, unknown values and pre-standard versions). Rather than
//! a second copy of the tables and rules in Rust, the writer asks the Python function the
//! first time a code point is met and keeps its answer in a map; a capture uses few
//! distinct code points, so the maps stay small. A code point below 256 is kept by index
//! (`Kept::low`, 256 slots), the others in a map bounded by `MAX_KEPT` (it starts over when
//! full); the code points are at most 24 bits wide, so even a hostile capture cannot grow
//! one past it. A value outside the table's width (an int no parser
//! makes) is named by the Python function each time, never kept.
//!
//! A hello's lists (its cipher suites, groups, versions) are kept whole as well, by their
//! code points (`name_list`): most connections of a capture offer the same lists, and one
//! lookup of the list then stands for a lookup, a lock and a reference count per name.
//! The code points are the client's choice, so the lists are hashed with std's SipHash,
//! a list longer than `MAX_LIST_LEN` is not kept, and each table's lists start over past
//! `MAX_LIST_VALUES` code points kept in all.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyString;

use crate::endpoint::Endpoint;

/// Distinct code points kept per table before it starts over.
pub const MAX_KEPT: usize = 4096;

/// Code points of a table's lists kept in all, before they start over.
pub const MAX_LIST_VALUES: usize = 16_384;

/// The longest list kept (a browser offers a few dozen suites; a hello can carry 32,767).
pub const MAX_LIST_LEN: usize = 512;

/// A registry table, as the name of the function in `tlslens.registry` that names it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Table {
    Version,
    /// A cipher suite, or SSL 2.0's 3-byte cipher kind (`cipher_suite_label`).
    Suite,
    Group,
    Handshake,
    Alert,
    ContentType,
    CertificateCompression,
}

impl Table {
    const ALL: [Table; 7] = [
        Table::Version,
        Table::Suite,
        Table::Group,
        Table::Handshake,
        Table::Alert,
        Table::ContentType,
        Table::CertificateCompression,
    ];

    /// The module and the function that names the table's code points.
    fn function(self) -> (&'static str, &'static str) {
        let registry = "tlslens.registry";
        match self {
            Table::Version => (registry, "version_name"),
            Table::Suite => (registry, "cipher_suite_label"),
            Table::Group => (registry, "group_name"),
            Table::Handshake => (registry, "handshake_name"),
            Table::Alert => (registry, "alert_name"),
            Table::ContentType => (registry, "content_type_name"),
            Table::CertificateCompression => ("tlslens.handshake.compression", "algorithm_name"),
        }
    }

    /// The function's answer for `value`.
    fn ask<'py>(self, py: Python<'py>, value: &Bound<'py, PyAny>) -> PyResult<Arc<str>> {
        let (module, function) = self.function();
        let named = py.import(module)?.getattr(function)?.call1((value,))?;
        Ok(named.extract::<String>()?.into())
    }

    fn position(self) -> usize {
        Table::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    /// The widest code point the table's parsers make (a cipher kind is 3 bytes).
    fn max(self) -> u32 {
        match self {
            Table::Handshake | Table::Alert | Table::ContentType => 0xff,
            Table::Suite => 0xff_ffff,
            Table::Version | Table::Group | Table::CertificateCompression => 0xffff,
        }
    }
}

/// What a cipher suite says of the key exchange (`CipherSuiteInfo`), for the row's
/// `key_exchange`, `authentication` and `forward_secrecy`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuiteInfo {
    pub kx: Option<String>,
    pub auth: Option<String>,
    pub forward_secrecy: Option<bool>,
    pub tls13: bool,
    /// An AEAD with an 8-byte tag (CCM_8): a protected TLS 1.3 alert is 11 bytes, not 19.
    pub short_tag: bool,
}

/// Code points below this are kept by index, not hashed (`Kept::low`).
const LOW: usize = 256;

/// One table's names kept. A code point below `LOW` (every handshake type, alert and content
/// type, and the common groups) is an index into `low`: the timeline's events name one each,
/// and SipHash on every event cost more than the rest of the lookup. The others are in
/// `high`, bounded by `MAX_KEPT`; `low` is bounded by its size.
struct Kept {
    low: Vec<Option<Arc<str>>>,
    high: HashMap<u32, Arc<str>>,
}

impl Kept {
    fn new() -> Self {
        Self {
            low: vec![None; LOW],
            high: HashMap::new(),
        }
    }

    fn get(&self, value: u32) -> Option<&Arc<str>> {
        match usize::try_from(value).ok().and_then(|at| self.low.get(at)) {
            Some(low) => low.as_ref(),
            None => self.high.get(&value),
        }
    }

    fn insert(&mut self, value: u32, named: Arc<str>) {
        if let Some(low) = usize::try_from(value)
            .ok()
            .and_then(|at| self.low.get_mut(at))
        {
            *low = Some(named);
            return;
        }
        if self.high.len() >= MAX_KEPT {
            self.high.clear();
        }
        self.high.insert(value, named);
    }
}

/// The names of a list of code points, in its order, shared by every row that offered it.
pub type NameList = Arc<[Arc<str>]>;

/// One table's lists kept, and how many code points they hold in all.
#[derive(Default)]
struct Lists {
    kept: HashMap<Box<[u32]>, NameList>,
    values: usize,
}

impl Lists {
    fn keep(&mut self, values: &[u32], named: &NameList) {
        if values.len() > MAX_LIST_LEN {
            return;
        }
        if self.values + values.len() > MAX_LIST_VALUES {
            self.kept.clear();
            self.values = 0;
        }
        if self.kept.insert(values.into(), Arc::clone(named)).is_none() {
            self.values += values.len();
        }
    }
}

static NAMES: LazyLock<Mutex<Vec<Kept>>> =
    LazyLock::new(|| Mutex::new(Table::ALL.iter().map(|_| Kept::new()).collect()));
static LISTS: LazyLock<Mutex<Vec<Lists>>> =
    LazyLock::new(|| Mutex::new(Table::ALL.iter().map(|_| Lists::default()).collect()));
static SUITES: LazyLock<Mutex<HashMap<u16, Option<Arc<SuiteInfo>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
static REGISTRY: GILOnceCell<Py<PyModule>> = GILOnceCell::new();

fn registry(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    let module = REGISTRY.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("tlslens.registry")?.unbind())
    })?;
    Ok(module.bind(py))
}

/// The name `tlslens.registry` gives `value` in `table`.
pub fn name(py: Python<'_>, table: Table, value: u32) -> PyResult<Arc<str>> {
    // The lock is never held across a Python call: the call may let another thread run.
    let kept = lock(&NAMES)
        .get(table.position())
        .and_then(|map| map.get(value).cloned());
    if let Some(found) = kept {
        return Ok(found);
    }
    let named = table.ask(py, value.into_pyobject(py)?.as_any())?;
    if value <= table.max() {
        let mut maps = lock(&NAMES);
        if let Some(kept) = maps.get_mut(table.position()) {
            kept.insert(value, Arc::clone(&named));
        }
    }
    Ok(named)
}

/// The name of a Python int: through the kept names when it fits 32 bits, else asked of
/// `tlslens.registry` (which names any int).
pub fn name_of(py: Python<'_>, table: Table, value: &Bound<'_, PyAny>) -> PyResult<Arc<str>> {
    match value.extract::<u32>() {
        Ok(code) => name(py, table, code),
        Err(_) => table.ask(py, value),
    }
}

/// The names of `values`, in their order (the kept ones under one lock).
pub fn names(
    py: Python<'_>,
    table: Table,
    values: impl IntoIterator<Item = u32>,
) -> PyResult<Vec<Arc<str>>> {
    let values: Vec<u32> = values.into_iter().collect();
    let kept: Vec<Option<Arc<str>>> = {
        let maps = lock(&NAMES);
        let map = maps.get(table.position());
        values
            .iter()
            .map(|v| map.and_then(|m| m.get(*v).cloned()))
            .collect()
    };
    values
        .iter()
        .zip(kept)
        .map(|(v, found)| match found {
            Some(found) => Ok(found),
            None => name(py, table, *v),
        })
        .collect()
}

/// The names of `values`, in their order, as `names` gives them: a list met before is the
/// one kept (`Lists`).
pub fn name_list(py: Python<'_>, table: Table, values: &[u32]) -> PyResult<NameList> {
    let kept = lock(&LISTS)
        .get(table.position())
        .and_then(|lists| lists.kept.get(values).cloned());
    if let Some(found) = kept {
        return Ok(found);
    }
    // Named with the lock released: `names` may call Python, which may let a thread run.
    let named: NameList = names(py, table, values.iter().copied())?.into();
    if let Some(lists) = lock(&LISTS).get_mut(table.position()) {
        lists.keep(values, &named);
    }
    Ok(named)
}

/// The registry's facts of cipher suite `value`, None for a suite it does not list.
pub fn suite_info(py: Python<'_>, value: u16) -> PyResult<Option<Arc<SuiteInfo>>> {
    if let Some(found) = lock(&SUITES).get(&value) {
        return Ok(found.clone());
    }
    let row = registry(py)?.getattr("CIPHER_SUITES")?.get_item(value);
    let info = match row {
        Ok(row) => Some(Arc::new(SuiteInfo {
            kx: row.getattr("kx")?.extract()?,
            auth: row.getattr("auth")?.extract()?,
            forward_secrecy: row.getattr("forward_secrecy")?.extract()?,
            tls13: row.getattr("tls13")?.extract()?,
            short_tag: row
                .getattr("name")?
                .extract::<String>()?
                .ends_with("CCM_8_SHA256"),
        })),
        Err(err) if err.is_instance_of::<pyo3::exceptions::PyKeyError>(py) => None,
        Err(err) => return Err(err),
    };
    let mut suites = lock(&SUITES);
    if suites.len() >= MAX_KEPT {
        suites.clear();
    }
    suites.insert(value, info.clone());
    Ok(info)
}

/// A connection's end as `model.Endpoint` writes itself (`str`): the core's `Endpoint` words
/// itself without a Python call once its address is known (endpoint.rs); any other object
/// is asked for its `str`.
pub fn endpoint<'py>(end: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    match end.downcast::<Endpoint>() {
        Ok(end) => end.get().text(end.py()),
        Err(_) => end.str(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// RFC 8701's GREASE code points (the core's rule, as `registry.is_grease`).
pub fn is_grease(value: u16) -> bool {
    tlslens_core::fingerprint::is_grease(u32::from(value))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{
        is_grease, Kept, Lists, NameList, Table, LOW, MAX_KEPT, MAX_LIST_LEN, MAX_LIST_VALUES,
    };

    #[test]
    fn tables_have_distinct_positions_and_widths() {
        let positions: Vec<usize> = Table::ALL.iter().map(|t| t.position()).collect();
        assert_eq!(positions, (0..Table::ALL.len()).collect::<Vec<_>>());
        assert_eq!(Table::Alert.max(), 0xff);
        assert_eq!(Table::Suite.max(), 0xff_ffff);
    }

    fn named(values: &[u32]) -> NameList {
        values.iter().map(|v| Arc::from(v.to_string())).collect()
    }

    #[test]
    fn lists_are_kept_by_content_within_their_bound() {
        let mut lists = Lists::default();
        let offered = [0x1301, 0x1302, 0xc02b];
        lists.keep(&offered, &named(&offered));
        lists.keep(&offered, &named(&offered));
        assert_eq!(lists.kept.len(), 1);
        assert_eq!(lists.values, offered.len());
        let found = lists.kept.get(&offered[..]).map(|list| list.to_vec());
        assert_eq!(found, Some(named(&offered).to_vec()));
        assert!(!lists.kept.contains_key(&offered[..2]));

        // Too long a list is not kept.
        let long: Vec<u32> = (0..=MAX_LIST_LEN as u32).collect();
        lists.keep(&long, &named(&long));
        assert!(!lists.kept.contains_key(&long[..]));

        // Past the bound the lists start over: never more code points than it.
        let mut lists = Lists::default();
        for first in 0..MAX_LIST_VALUES as u32 {
            let list = [first, 1, 2, 3, 4, 5, 6, 7];
            lists.keep(&list, &named(&list));
            assert!(lists.values <= MAX_LIST_VALUES);
            assert_eq!(lists.values, lists.kept.len() * list.len());
        }
        assert!(lists.kept.len() <= MAX_LIST_VALUES / 8);
    }

    #[test]
    fn grease_is_the_cores_rule() {
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x1301));
    }

    #[test]
    fn low_code_points_are_kept_by_index_and_the_rest_within_the_bound() {
        let mut kept = Kept::new();
        kept.insert(0, Arc::from("zero"));
        kept.insert(255, Arc::from("low"));
        kept.insert(256, Arc::from("high"));
        assert_eq!(kept.get(0).map(|n| &**n), Some("zero"));
        assert_eq!(kept.get(255).map(|n| &**n), Some("low"));
        assert_eq!(kept.get(256).map(|n| &**n), Some("high"));
        assert_eq!(kept.get(1), None);
        assert_eq!(kept.get(0xff_ffff), None);
        assert_eq!(kept.high.len(), 1);
        for value in 0..(MAX_KEPT as u32 + 300) {
            kept.insert(value, Arc::from(value.to_string()));
            assert!(kept.high.len() <= MAX_KEPT);
        }
        assert_eq!(kept.low.len(), LOW);
        assert_eq!(kept.get(7).map(|n| &**n), Some("7"));
    }
}
