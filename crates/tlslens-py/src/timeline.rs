//! A connection's timeline: one class per kind of thing that happened on the wire
//! (`tlslens._core.HandshakeEvent`, `AlertEvent`, ...), made by the core for what its
//! content layer reads and by Python (DTLS, QUIC, handshake messages) alike.
//!
//! Strategy: a base class, `TimelineEvent`, holds where an event was seen (frame, time,
//! direction, offset in the direction's stream, length) and, for a run of records folded
//! into one step, how many records it holds and the frame of its last; each kind extends it
//! with its own facts. The kinds are final (not subclassable from Python) so readers may
//! tell them apart with `type(event) is`; `kind` is a class attribute, the name the JSON and
//! the narration print. Each kind lists its fields in `__match_args__` (positional `match`
//! patterns), which the one `__repr__` shows.
//!
//! The classes are frozen and hold what is read as Python objects (`Py<PyInt>`...): PyO3
//! then exposes each as a member, which Python reads as fast as a slot, where a getter
//! costs three times as much (the model, the JSON and the narration read every event many
//! times). Only what grows is writable, through atomics: a run's `records`, `length` and
//! `last_frame`, a DTLS message's `fragments`.

use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyString, PyTuple};
use pyo3::PyClassInitializer;
use tlslens_core::flows::tcp::GiveUp;

/// Where one event of the timeline was seen; a subclass says what it was.
#[pyclass(subclass, frozen, module = "tlslens._core")]
pub struct TimelineEvent {
    #[pyo3(get)]
    frame: Py<PyInt>,
    #[pyo3(get)]
    ts_ns: Py<PyInt>,
    #[pyo3(get)]
    pub(crate) direction: Py<PyString>,
    /// In the direction's stream (TCP), datagram (DTLS) or packet (QUIC).
    #[pyo3(get)]
    offset: Py<PyInt>,
    pub(crate) length: AtomicU64,
    /// Of the last record of a run: `frame` for one record.
    pub(crate) last_frame: AtomicU64,
    /// Of a run; 1 for the others.
    pub(crate) records: AtomicU64,
}

/// The fields every kind begins with, in the order its constructor takes them.
pub(crate) const BASE_FIELDS: [&str; 7] = [
    "frame",
    "ts_ns",
    "direction",
    "offset",
    "length",
    "last_frame",
    "records",
];

/// Where an event was seen, as the constructors and the core's content events give it.
pub struct At {
    pub frame: Py<PyInt>,
    pub ts_ns: Py<PyInt>,
    pub direction: Py<PyString>,
    pub offset: Py<PyInt>,
    pub length: u64,
    pub last_frame: u64,
    pub records: u64,
}

impl At {
    pub(crate) fn base(self) -> PyClassInitializer<TimelineEvent> {
        PyClassInitializer::from(TimelineEvent {
            frame: self.frame,
            ts_ns: self.ts_ns,
            direction: self.direction,
            offset: self.offset,
            length: AtomicU64::new(self.length),
            last_frame: AtomicU64::new(self.last_frame),
            records: AtomicU64::new(self.records),
        })
    }
}

/// `__match_args__` of a kind: the base fields, then its own.
pub(crate) fn match_args<'py>(py: Python<'py>, own: &[&str]) -> PyResult<Bound<'py, PyTuple>> {
    let names: Vec<&str> = BASE_FIELDS.iter().chain(own).copied().collect();
    PyTuple::new(py, names)
}

/// A bool as the object a member holds.
pub(crate) fn py_bool(py: Python<'_>, value: bool) -> Py<PyBool> {
    PyBool::new(py, value).to_owned().unbind()
}

impl TimelineEvent {
    /// Where this event was seen, for a copy of it.
    fn at(&self, py: Python<'_>) -> At {
        At {
            frame: self.frame.clone_ref(py),
            ts_ns: self.ts_ns.clone_ref(py),
            direction: self.direction.clone_ref(py),
            offset: self.offset.clone_ref(py),
            length: self.length.load(Ordering::Relaxed),
            last_frame: self.last_frame.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
        }
    }
}

/// A `#[pymethods]` block of `$name`: a getter and a setter for each of its `$field`s (the
/// `AtomicU64`s that are the only writable fields of these frozen classes), then the
/// block's other methods (`$more`). (PyO3 takes one such block per class.)
macro_rules! with_counters {
    ($name:ident, [$($field:ident / $set:ident),*], $($more:tt)*) => {
        #[pymethods]
        impl $name {
            $(
                #[getter]
                fn $field(&self) -> u64 {
                    self.$field.load(::std::sync::atomic::Ordering::Relaxed)
                }

                #[setter]
                fn $set(&self, value: u64) {
                    self.$field.store(value, ::std::sync::atomic::Ordering::Relaxed);
                }
            )*
            $($more)*
        }
    };
}
pub(crate) use with_counters;

/// The `#[pymethods]` block of a kind: its constructor (the base fields, then `$arg`s with
/// their defaults in `$sig`) making `$init` from the place `$at` and the GIL token `$py`;
/// `kind`; `__match_args__` (the base fields, then `$own`); counters and other methods as
/// `with_counters!` takes them.
macro_rules! kind_methods {
    (
        $name:ident, $kind:literal, own [$($own:expr),*],
        new($py:ident, $at:ident $(, $arg:ident: $arg_ty:ty)*) signature ($($sig:tt)*) => $init:expr,
        counters [$($counter:tt)*],
        $($more:tt)*
    ) => {
        $crate::timeline::with_counters!(
            $name,
            [$($counter)*],
            #[new]
            #[pyo3(signature = (frame, ts_ns, direction, offset, length, last_frame, records, $($sig)*))]
            #[allow(clippy::too_many_arguments, clippy::redundant_field_names, unused_variables)]
            fn new(
                $py: Python<'_>,
                frame: Py<::pyo3::types::PyInt>,
                ts_ns: Py<::pyo3::types::PyInt>,
                direction: Py<::pyo3::types::PyString>,
                offset: Py<::pyo3::types::PyInt>,
                length: u64,
                last_frame: u64,
                records: u64,
                $($arg: $arg_ty,)*
            ) -> PyResult<::pyo3::PyClassInitializer<Self>> {
                let $at = $crate::timeline::At {
                    frame, ts_ns, direction, offset, length, last_frame, records,
                };
                Ok($init)
            }

            #[classattr]
            fn kind() -> &'static str {
                $kind
            }

            #[classattr]
            fn __match_args__(py: Python<'_>) -> PyResult<Bound<'_, ::pyo3::types::PyTuple>> {
                $crate::timeline::match_args(py, &[$($own),*])
            }

            $($more)*
        );
    };
}
pub(crate) use kind_methods;

with_counters!(
    TimelineEvent,
    [
        length / set_length,
        last_frame / set_last_frame,
        records / set_records
    ],
    /// One for every kind: its class name and fields (`__match_args__`) with their reprs.
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let cls = slf.get_type();
        let mut shown = Vec::new();
        for name in cls.getattr("__match_args__")?.try_iter()? {
            let name = name?;
            let value = slf.getattr(name.downcast::<PyString>()?)?.repr()?;
            shown.push(format!("{name}={value}"));
        }
        Ok(format!("{}({})", cls.name()?, shown.join(", ")))
    }
);

/// Declares a kind with no facts of its own.
macro_rules! bare_kind {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[pyclass(extends = TimelineEvent, frozen, module = "tlslens._core")]
        pub struct $name {}

        kind_methods!(
            $name, $kind, own [],
            new(_py, at) signature () => at.base().add_subclass($name {}),
            counters [],
        );

        impl $name {
            pub fn build(py: Python<'_>, at: At) -> PyResult<PyObject> {
                Ok(Py::new(py, at.base().add_subclass($name {}))?.into_any())
            }
        }
    };
}

/// Declares a kind with facts of its own: `$field: $ty` each, given to the constructor as
/// `$arg: $arg_ty` (its defaults in `signature`) and stored as `$make`, which may use the
/// GIL token named `$py`.
macro_rules! kind {
    (
        $(#[$doc:meta])* $name:ident, $kind:literal, $py:ident,
        signature = ($($sig:tt)*),
        fields { $($field:ident: $ty:ty = $arg:ident: $arg_ty:ty => $make:expr),* $(,)? }
    ) => {
        $(#[$doc])*
        #[pyclass(extends = TimelineEvent, frozen, module = "tlslens._core")]
        pub struct $name {
            $(#[pyo3(get)] $field: $ty,)*
        }

        kind_methods!(
            $name, $kind, own [$(stringify!($field)),*],
            new($py, at $(, $arg: $arg_ty)*) signature ($($sig)*)
                => at.base().add_subclass($name { $($field: $make,)* }),
            counters [],
        );
    };
}

bare_kind!(
    /// Handshake bytes no key opened (TLS 1.3's in application data records, the Finished
    /// after a ChangeCipherSpec, QUIC's Initial and Handshake packets left sealed).
    EncryptedHandshakeEvent,
    "encrypted_handshake"
);
bare_kind!(
    /// An alert record no key opened: its level and description are unknown.
    EncryptedAlertEvent,
    "alert"
);
kind!(
    /// Bytes of the stream missing from the capture; `given_up`: or not yet come when
    /// tlslens stopped waiting for them, "bytes" (--max-buffer) or "segments" (the bound
    /// that ended the wait, flows/tcp.rs `GiveUp`).
    GapEvent,
    "gap", py,
    signature = (given_up = None),
    fields { given_up: Py<PyAny> = given_up: Option<String> => given_up.into_pyobject(py)?.into_any().unbind() }
);

impl GapEvent {
    pub fn build(py: Python<'_>, at: At, given_up: Option<GiveUp>) -> PyResult<PyObject> {
        let given_up = match given_up {
            Some(bound) => PyString::intern(py, bound.name()).into_any().unbind(),
            None => py.None(),
        };
        let event = at.base().add_subclass(GapEvent { given_up });
        Ok(Py::new(py, event)?.into_any())
    }
}
kind!(
    /// A handshake message tlslens did not read: its header claims `claimed` bytes, past
    /// --max-message's `limit` (its `length`: the header and the bytes claimed).
    SkippedMessageEvent,
    "skipped_message", py,
    signature = (msg_type, claimed, limit),
    fields {
        msg_type: Py<PyInt> = msg_type: u8 => msg_type.into_pyobject(py)?.unbind(),
        claimed: Py<PyInt> = claimed: u32 => claimed.into_pyobject(py)?.unbind(),
        limit: Py<PyInt> = limit: u32 => limit.into_pyobject(py)?.unbind(),
    }
);

impl SkippedMessageEvent {
    pub fn msg_type(&self) -> &Py<PyInt> {
        &self.msg_type
    }

    pub fn build(
        py: Python<'_>,
        at: At,
        (msg_type, claimed, limit): (u8, u32, u32),
    ) -> PyResult<PyObject> {
        let event = at.base().add_subclass(SkippedMessageEvent {
            msg_type: msg_type.into_pyobject(py)?.unbind(),
            claimed: claimed.into_pyobject(py)?.unbind(),
            limit: limit.into_pyobject(py)?.unbind(),
        });
        Ok(Py::new(py, event)?.into_any())
    }
}
bare_kind!(
    /// SSL 2.0 records after CLIENT-MASTER-KEY: all encrypted.
    SSLv2EncryptedEvent,
    "sslv2"
);

/// A handshake message read (an unreadable one as an `OpaqueMessage`); `raw`: its bytes,
/// header included (kept for `--records`); `sslv2`: an SSL 2.0-format ClientHello;
/// `fragments`: DTLS, the fragments it was reassembled from, when more than one.
#[pyclass(extends = TimelineEvent, frozen, module = "tlslens._core")]
pub struct HandshakeEvent {
    #[pyo3(get)]
    message: Py<PyAny>,
    #[pyo3(get)]
    decrypted: Py<PyBool>,
    #[pyo3(get)]
    raw: Py<PyAny>,
    #[pyo3(get)]
    sslv2: Py<PyBool>,
    fragments: AtomicU64,
}

impl HandshakeEvent {
    /// The message's own facts, as its constructor takes them.
    fn init(
        py: Python<'_>,
        at: At,
        message: PyObject,
        (decrypted, raw, sslv2): (bool, Option<Py<PyBytes>>, bool),
        fragments: u64,
    ) -> PyClassInitializer<Self> {
        at.base().add_subclass(HandshakeEvent {
            message,
            decrypted: py_bool(py, decrypted),
            raw: raw.map_or_else(|| py.None(), Py::into_any),
            sslv2: py_bool(py, sslv2),
            fragments: AtomicU64::new(fragments),
        })
    }

    /// A message the core read: `raw` its bytes when they are kept (`--records`).
    pub fn build(
        py: Python<'_>,
        at: At,
        message: PyObject,
        decrypted: bool,
        raw: Option<Py<PyBytes>>,
    ) -> PyResult<Py<HandshakeEvent>> {
        Py::new(py, Self::init(py, at, message, (decrypted, raw, false), 0))
    }
}

kind_methods!(
    HandshakeEvent, "handshake", own ["message", "decrypted", "raw", "sslv2", "fragments"],
    new(
        py, at, message: Py<PyAny>, decrypted: bool, raw: Option<Py<PyBytes>>, sslv2: bool,
        fragments: u64
    ) signature (message, decrypted=false, raw=None, sslv2=false, fragments=0)
        => HandshakeEvent::init(py, at, message, (decrypted, raw, sslv2), fragments),
    counters [fragments / set_fragments],
    /// The same event with `message` in place of its own: a CompressedCertificate once
    /// Python opened it (tls/content.py); the rest is kept as the core made it.
    fn with_message(slf: &Bound<'_, Self>, message: Py<PyAny>) -> PyResult<Py<HandshakeEvent>> {
        let py = slf.py();
        let this = slf.get();
        let event = HandshakeEvent {
            message,
            decrypted: this.decrypted.clone_ref(py),
            raw: this.raw.clone_ref(py),
            sslv2: this.sslv2.clone_ref(py),
            fragments: AtomicU64::new(this.fragments.load(Ordering::Relaxed)),
        };
        Py::new(py, slf.as_super().get().at(py).base().add_subclass(event))
    }
);

kind!(
    /// A ChangeCipherSpec record; `encrypted`: sent under the keys of a handshake before
    /// (renegotiation).
    ChangeCipherSpecEvent,
    "change_cipher_spec", py,
    signature = (encrypted = false),
    fields { encrypted: Py<PyBool> = encrypted: bool => py_bool(py, encrypted) }
);

impl ChangeCipherSpecEvent {
    pub fn build(py: Python<'_>, at: At, encrypted: bool) -> PyResult<PyObject> {
        let encrypted = py_bool(py, encrypted);
        let event = at.base().add_subclass(ChangeCipherSpecEvent { encrypted });
        Ok(Py::new(py, event)?.into_any())
    }
}

kind!(
    /// An alert read: a TLS alert record, or (`quic`) QUIC's CRYPTO_ERROR in a
    /// CONNECTION_CLOSE (RFC 9001 §4.8).
    AlertEvent,
    "alert", py,
    signature = (level, description, quic = false),
    fields {
        level: Py<PyInt> = level: Py<PyInt> => level,
        description: Py<PyInt> = description: Py<PyInt> => description,
        quic: Py<PyBool> = quic: bool => py_bool(py, quic),
    }
);

impl AlertEvent {
    pub fn build(py: Python<'_>, at: At, level: u8, description: u8) -> PyResult<PyObject> {
        let event = at.base().add_subclass(AlertEvent {
            level: level.into_pyobject(py)?.unbind(),
            description: description.into_pyobject(py)?.unbind(),
            quic: py_bool(py, false),
        });
        Ok(Py::new(py, event)?.into_any())
    }
}

kind!(
    /// A heartbeat record (RFC 6520); its type and payload length when it was readable.
    HeartbeatEvent,
    "heartbeat", py,
    signature = (encrypted = false, heartbeat_type = None, payload_length = None),
    fields {
        encrypted: Py<PyBool> = encrypted: bool => py_bool(py, encrypted),
        heartbeat_type: Py<PyAny> = heartbeat_type: Option<u8> => heartbeat_type.into_pyobject(py)?.unbind(),
        payload_length: Py<PyAny> = payload_length: Option<u16> => payload_length.into_pyobject(py)?.unbind(),
    }
);

impl HeartbeatEvent {
    pub fn build(
        py: Python<'_>,
        at: At,
        encrypted: bool,
        fields: Option<(u8, u16)>,
    ) -> PyResult<PyObject> {
        let event = at.base().add_subclass(HeartbeatEvent {
            encrypted: py_bool(py, encrypted),
            heartbeat_type: fields.map(|(kind, _)| kind).into_pyobject(py)?.unbind(),
            payload_length: fields
                .map(|(_, claimed)| claimed)
                .into_pyobject(py)?
                .unbind(),
        });
        Ok(Py::new(py, event)?.into_any())
    }
}

kind!(
    /// An SSL 2.0 message after the ClientHello, in plaintext: `name` as the SSL 2.0 draft
    /// writes it (SERVER-HELLO, CLIENT-MASTER-KEY...), `decoded` None for a type tlslens
    /// does not decode.
    SSLv2MessageEvent,
    "sslv2", _py,
    signature = (name, decoded),
    fields {
        name: Py<PyString> = name: Py<PyString> => name,
        decoded: Py<PyAny> = decoded: Py<PyAny> => decoded,
    }
);

kind!(
    /// A DTLS 1.3 ACK (RFC 9147 §7): `acked`, the (epoch, sequence number) of the first
    /// records it lists; `count`, how many it lists.
    ACKEvent,
    "ack", _py,
    signature = (acked, count),
    fields {
        acked: Py<PyTuple> = acked: Py<PyTuple> => acked,
        count: Py<PyInt> = count: Py<PyInt> => count,
    }
);

/// What the row writer (`row/`) reads of an event without a Python call.
impl TimelineEvent {
    pub(crate) fn frame(&self) -> &Py<PyInt> {
        &self.frame
    }

    pub(crate) fn ts_ns(&self) -> &Py<PyInt> {
        &self.ts_ns
    }
}

/// What the row writer (`row/`) reads of a handshake event without a Python call.
impl HandshakeEvent {
    pub(crate) fn message(&self) -> &Py<PyAny> {
        &self.message
    }
}

/// What the outcome's walk (`row/completion.rs`) reads of an alert without a Python call:
/// its level and description, None where one is not a number that fits (a hand-made event).
impl AlertEvent {
    pub(crate) fn numbers(&self, py: Python<'_>) -> (Option<u8>, Option<u8>) {
        let number = |value: &Py<PyInt>| value.bind(py).extract::<u8>().ok();
        (number(&self.level), number(&self.description))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TimelineEvent>()?;
    m.add_class::<HandshakeEvent>()?;
    m.add_class::<EncryptedHandshakeEvent>()?;
    m.add_class::<ChangeCipherSpecEvent>()?;
    m.add_class::<AlertEvent>()?;
    m.add_class::<EncryptedAlertEvent>()?;
    m.add_class::<HeartbeatEvent>()?;
    m.add_class::<GapEvent>()?;
    m.add_class::<SkippedMessageEvent>()?;
    m.add_class::<SSLv2MessageEvent>()?;
    m.add_class::<SSLv2EncryptedEvent>()?;
    m.add_class::<ACKEvent>()?;
    crate::timeline_data::register(m)
}
