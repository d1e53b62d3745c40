//! The content layer's events at the boundary: the timeline events of what it read
//! (`tlslens._core.AlertEvent`, `ApplicationDataEvent`, ... of timeline.rs), made here with
//! where they were seen, and the classes of what stays the caller's to model: a handshake
//! message (`ContentMessage`), a finding, decrypted application data for a plaintext sink.
//! For TCP, DTLS and QUIC alike.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyList, PyString};
use tlslens_core::content::{crowding, ContentEvent, DataKind, DataRun, MessageRead, Verified};
use tlslens_core::handshake::messages::{self, Message};

use crate::handshake::fingerprint::Prints;
use crate::handshake::{handshake_name, to_python_premade, HandshakeMessage, OpaqueMessage};
use crate::ns::Ns;
use crate::timeline::{
    AlertEvent, At, ChangeCipherSpecEvent, EncryptedAlertEvent, EncryptedHandshakeEvent, GapEvent,
    HandshakeEvent, HeartbeatEvent, SkippedMessageEvent,
};
use crate::timeline_data::{ApplicationDataEvent, EarlyDataEvent};

/// A handshake message the caller's model reads with where and after what it came (a
/// certificate, a compressed one, a ServerKeyExchange or CertificateVerify whose signature
/// is checked), read with the context negotiated before it (`version`, `kx`, `auth`):
/// `event` its timeline step, made by the core (the caller adds it to the timeline; a
/// CompressedCertificate's once opened, `HandshakeEvent.with_message`), `raw` its bytes,
/// header included. `signed`: a CertificateVerify's signed input as far as known (TLS 1.3:
/// the transcript hash; before: the handshake messages so far). The other messages (the
/// hellos and the others the model keeps as they are among them), and those whose body
/// does not parse, cross only as their `HandshakeEvent` (after their findings, as a
/// `ContentMessage` does).
// Its fields are Python objects, which PyO3 exposes as members (read as fast as a slot;
// see timeline.rs).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct ContentMessage {
    side: Py<PyInt>,
    offset: Py<PyInt>,
    msg_type: Py<PyInt>,
    event: Py<HandshakeEvent>,
    raw: Py<PyBytes>,
    /// What was negotiated before it (int, str, str), or None each.
    version: Py<PyAny>,
    kx: Py<PyAny>,
    auth: Py<PyAny>,
    /// bytes, or None.
    signed: Py<PyAny>,
    /// A signature that verified in the walk, as the verdict cache keys it (leaf SHA-256 in
    /// hex, scheme, SHA-256 of the signature, of the bytes signed), or None.
    verified: Py<PyAny>,
}

/// Decrypted application data of `side` for the plaintext sink: each record's bytes, in
/// order (told before the run they belong to).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct ContentPlaintext {
    side: u8,
    chunks: Py<PyList>,
}

/// The handshake of `side` lacks a message as tlslens read it (tlslens skipped it past
/// `--max-message`, or the capture lost it): `msg_type`, when known, and `text`, what is
/// missing and why, as a clause ("tlslens skipped the server's handshake message type 11
/// (Certificate), which claims 1,207 bytes, past --max-message's limit of 500 bytes"): the
/// model says it where a check needed that message (a signature, its certificate's key).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct ContentLack {
    frame: u64,
    side: u8,
    msg_type: Option<u8>,
    text: String,
}

/// Something wrong in the content, where it is (`frame`: the one it was seen in).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct ContentFinding {
    frame: u64,
    side: Option<u8>,
    layer: &'static str,
    offset: Option<u64>,
    message: String,
}

/// Where the events of one batch were seen, for the timeline events made of them: the
/// frame and time as the objects every event of the batch shares (as the events Python
/// made did), which side is the client's, and whether each handshake message keeps its
/// bytes (`--records`).
pub(crate) struct Seen {
    frame: u64,
    frame_obj: Py<PyInt>,
    ts_obj: Py<PyInt>,
    /// Its events' side that is the client's (the others are the server's).
    client_side: Option<u8>,
    keep_raw: bool,
}

impl Seen {
    pub fn new(
        py: Python<'_>,
        (frame, ts_ns): (u64, i128),
        client_side: Option<u8>,
        keep_raw: bool,
    ) -> PyResult<Self> {
        Ok(Seen {
            frame,
            frame_obj: frame.into_pyobject(py)?.unbind(),
            ts_obj: Ns(ts_ns).into_pyobject(py)?.unbind(),
            client_side,
            keep_raw,
        })
    }

    pub fn keep_raw(&self) -> bool {
        self.keep_raw
    }

    pub fn client_side(&self) -> Option<u8> {
        self.client_side
    }

    /// One record's step at `offset` of `side`'s stream, in this frame.
    fn at(&self, py: Python<'_>, side: u8, offset: u64, length: u64) -> PyResult<At> {
        Ok(At {
            frame: self.frame_obj.clone_ref(py),
            ts_ns: self.ts_obj.clone_ref(py),
            direction: direction(py, side, self.client_side),
            offset: offset.into_pyobject(py)?.unbind(),
            length,
            last_frame: self.frame,
            records: 1,
        })
    }
}

/// The direction `side` sends in, as the model names it.
pub(crate) fn direction(py: Python<'_>, side: u8, client_side: Option<u8>) -> Py<PyString> {
    let name = if client_side == Some(side) {
        intern!(py, "c2s")
    } else {
        intern!(py, "s2c")
    };
    name.clone().unbind()
}

fn size(length: usize) -> u64 {
    u64::try_from(length).unwrap_or(u64::MAX)
}

/// Whether the caller's model reads this message with where and after what it came (see
/// `ContentMessage`): the certificates and the signed messages. The model keeps the others
/// it reads as they are (hellos, tickets, a request, a status, encrypted extensions), from
/// their `HandshakeEvent` alone (model_take.rs `kept_as_is`), which costs no second object
/// nor a copy of the message's bytes.
fn modelled(message: &Message<'_>) -> bool {
    matches!(
        message,
        Message::Certificate(_)
            | Message::CompressedCertificate(_)
            | Message::ServerKeyExchange(_)
            | Message::CertificateVerify(_)
    )
}

fn handshake_finding(seen: &Seen, side: u8, offset: u64, message: String) -> ContentFinding {
    ContentFinding {
        frame: seen.frame,
        side: Some(side),
        layer: "handshake",
        offset: Some(offset),
        message,
    }
}

/// One handshake message into `out`: its findings (why it is malformed, a crowded hello),
/// then its timeline step, as a `ContentMessage` when the caller's model reads it.
/// `premade`: a hello's fingerprints, made in the flow walk (`fingerprint::premade`).
pub(crate) fn tell_message(
    py: Python<'_>,
    read: MessageRead,
    premade: Option<Prints>,
    seen: &Seen,
    out: &Bound<'_, PyList>,
) -> PyResult<()> {
    let MessageRead {
        side,
        offset,
        msg_type,
        raw,
        decrypted,
        context,
        error,
        signed,
        verified,
    } = read;
    let body = raw.get(4..).unwrap_or_default();
    let at = seen.at(py, side, offset, size(raw.len()))?;
    let parsed = match error {
        Some(error) => Err(error),
        None => messages::parse(msg_type, body, &context),
    };
    let message = match parsed {
        Ok(message) => message,
        Err(error) => {
            // Told as an opaque step, neither decrypted nor kept: as it always was.
            let said = format!("{}: {error}", handshake_name(py, msg_type)?);
            out.append(Py::new(py, handshake_finding(seen, side, offset, said))?)?;
            let opaque = OpaqueMessage::unreadable(py, msg_type, body, error)?;
            return out.append(HandshakeEvent::build(py, at, opaque, false, None)?);
        }
    };
    let object = to_python_premade(py, &message, premade)?;
    // A CompressedCertificate's is told once Python opened it (handshake/compression.py).
    if !matches!(message, Message::CompressedCertificate(_)) {
        let malformed = object
            .downcast_bound::<HandshakeMessage>(py)?
            .get()
            .malformed();
        if let Some(why) = malformed {
            out.append(Py::new(
                py,
                handshake_finding(seen, side, offset, why.to_owned()),
            )?)?;
        }
    }
    if let Some(crowded) = crowding(&message) {
        out.append(Py::new(py, handshake_finding(seen, side, offset, crowded))?)?;
    }
    let modelled = modelled(&message);
    let raw = (modelled || seen.keep_raw).then(|| PyBytes::new(py, &raw).unbind());
    let kept = raw
        .as_ref()
        .filter(|_| seen.keep_raw)
        .map(|r| r.clone_ref(py));
    let event = HandshakeEvent::build(py, at, object, decrypted, kept)?;
    let Some(raw) = raw.filter(|_| modelled) else {
        return out.append(event);
    };
    // A capture negotiates few distinct key exchanges and authentications: interned,
    // each is one object (whose hash the model's context cache keeps).
    let name = |text: Option<String>| text.map(|t| PyString::intern(py, &t));
    let told = ContentMessage {
        side: side.into_pyobject(py)?.unbind(),
        offset: offset.into_pyobject(py)?.unbind(),
        msg_type: msg_type.into_pyobject(py)?.unbind(),
        event,
        raw,
        version: context.version.into_pyobject(py)?.unbind(),
        kx: name(context.kx).into_pyobject(py)?.unbind(),
        auth: name(context.auth).into_pyobject(py)?.unbind(),
        signed: signed
            .map(|s| PyBytes::new(py, &s))
            .into_pyobject(py)?
            .unbind(),
        verified: verified_key(py, verified.as_deref())?,
    };
    out.append(Py::new(py, told)?)
}

/// `verified` as the verdict cache's key (tls/proof.py `verify`), or None.
fn verified_key(py: Python<'_>, verified: Option<&Verified>) -> PyResult<Py<PyAny>> {
    let Some(v) = verified else {
        return Ok(py.None());
    };
    let key = (
        tlslens_core::fingerprint::hex(&v.leaf_sha256),
        v.scheme,
        PyBytes::new(py, &v.signature_sha256),
        PyBytes::new(py, &v.data_sha256),
    );
    Ok(key.into_pyobject(py)?.into_any().unbind())
}

/// A run of application data as its timeline step (`last_frame`: where a run the flow
/// walk folded over frames ended), after its plaintext when a sink listens.
pub(crate) fn tell_run(
    py: Python<'_>,
    run: DataRun,
    seen: &Seen,
    last_frame: u64,
    out: &Bound<'_, PyList>,
) -> PyResult<()> {
    if !run.plaintext.is_empty() {
        let chunks = PyList::empty(py);
        for chunk in &run.plaintext {
            chunks.append(PyBytes::new(py, chunk))?;
        }
        let plaintext = ContentPlaintext {
            side: run.side,
            chunks: chunks.unbind(),
        };
        out.append(Py::new(py, plaintext)?)?;
    }
    let at = At {
        last_frame,
        records: run.records,
        ..seen.at(py, run.side, run.offset, run.length)?
    };
    out.append(match run.kind {
        DataKind::ApplicationData => ApplicationDataEvent::build(py, at, run.decrypted)?,
        DataKind::EarlyData => EarlyDataEvent::build(py, at, run.decrypted)?,
    })
}

/// One content event into `out`: a timeline event made here, or what the caller models.
pub(crate) fn tell(
    py: Python<'_>,
    event: ContentEvent,
    seen: &Seen,
    out: &Bound<'_, PyList>,
) -> PyResult<()> {
    let made = match event {
        ContentEvent::Message(read) => return tell_message(py, *read, None, seen, out),
        ContentEvent::ApplicationData(run) => return tell_run(py, run, seen, seen.frame, out),
        ContentEvent::ChangeCipherSpec {
            side,
            offset,
            length,
            encrypted,
        } => ChangeCipherSpecEvent::build(py, seen.at(py, side, offset, size(length))?, encrypted)?,
        ContentEvent::Alert {
            side,
            offset,
            length,
            alert,
        } => {
            let at = seen.at(py, side, offset, size(length))?;
            match alert {
                Some((level, description)) => AlertEvent::build(py, at, level, description)?,
                None => EncryptedAlertEvent::build(py, at)?,
            }
        }
        ContentEvent::Heartbeat {
            side,
            offset,
            length,
            encrypted,
            fields,
        } => HeartbeatEvent::build(
            py,
            seen.at(py, side, offset, size(length))?,
            encrypted,
            fields,
        )?,
        ContentEvent::EncryptedHandshake {
            side,
            offset,
            length,
            ..
        } => EncryptedHandshakeEvent::build(py, seen.at(py, side, offset, size(length))?)?,
        ContentEvent::Gap {
            side,
            offset,
            length,
            given_up,
        } => GapEvent::build(py, seen.at(py, side, offset, length)?, given_up)?,
        ContentEvent::Skipped {
            side,
            offset,
            msg_type,
            claimed,
            limit,
        } => {
            // Its length on the wire as its header claims it: the 4-byte header and the body.
            let length = u64::from(claimed).saturating_add(4);
            SkippedMessageEvent::build(
                py,
                seen.at(py, side, offset, length)?,
                (msg_type, claimed, limit),
            )?
        }
        ContentEvent::Lacking { side, dir, lack } => Py::new(
            py,
            ContentLack {
                frame: seen.frame,
                side,
                msg_type: lack.msg_type(),
                text: lack.text(dir),
            },
        )?
        .into_any(),
        ContentEvent::Finding {
            side,
            layer,
            offset,
            message,
        } => Py::new(
            py,
            ContentFinding {
                frame: seen.frame,
                side,
                layer,
                offset,
                message,
            },
        )?
        .into_any(),
    };
    out.append(made)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ContentMessage>()?;
    m.add_class::<ContentPlaintext>()?;
    m.add_class::<ContentFinding>()?;
    m.add_class::<ContentLack>()?;
    Ok(())
}
