//! The QUIC connection table's events as Python sees them (`tlslens._core.Quic*`): one
//! frozen class per kind, made once per batch from the core's `QuicEvent`s; frames keep
//! their fields and bytes, packets their header and frames.

use pyo3::prelude::*;

use crate::ns::Ns;
use pyo3::types::{PyBytes, PyList};
use tlslens_core::quic::frames::{error_name, Frame, FrameAt};
use tlslens_core::quic::packet::Form;
use tlslens_core::quic::version::LongType;
use tlslens_core::quic::{self, PacketEvent, QuicEvent};

use super::quic_events::{QuicKept, Said};
use super::quic_runs::run_to_python;

/// What one datagram made the QUIC connection table say: events naming their connection.
/// `flow` is the UDP association it came in (None: the end of the capture).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct QuicEvents {
    flow: Option<u64>,
    frame: u64,
    ts_ns: Ns,
    events: Py<PyList>,
    /// What the walk charged the association toward `max_held`, for Python to settle.
    charged: usize,
}

/// A QUIC connection begins at its client's first Initial, or at the server's answer to
/// one that could not be read.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct QuicOpened {
    conn: u64,
    frame: u64,
    ts_ns: Ns,
    version: u32,
    /// The client's first Destination Connection ID: what the Initial keys come from (None
    /// when the connection opened at the server's Initial).
    dcid: Option<Py<PyBytes>>,
    /// The client's address and port, as the core decided who the client is.
    client: Py<PyBytes>,
    client_port: u16,
}

/// One packet of a datagram (`offset`, `len`: its bytes in the UDP payload), opened
/// (`pn` set, `frames` read) or not.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct QuicPacket {
    conn: u64,
    frame: u64,
    ts_ns: Ns,
    /// 0 from the client, 1 from the server.
    side: u8,
    offset: usize,
    len: usize,
    /// "Initial", "0-RTT", "Handshake", "Retry", "1-RTT", "Version Negotiation", "other".
    kind: &'static str,
    /// "initial", "handshake", "application", or None (Retry, Version Negotiation).
    space: Option<&'static str>,
    version: u32,
    dcid: Py<PyBytes>,
    scid: Py<PyBytes>,
    pn: Option<u64>,
    key_phase: Option<bool>,
    /// Not opened although its keys were there: they do not authenticate it.
    failed: bool,
    frames: Py<PyList>,
}

/// One frame of an opened packet; `offset` is its type byte's in the packet's plaintext.
/// `data` is a CRYPTO, STREAM or DATAGRAM frame's bytes, a NEW_CONNECTION_ID's Connection
/// ID, a CONNECTION_CLOSE's reason phrase (attacker-controlled text).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct QuicFrame {
    name: &'static str,
    offset: usize,
    stream: Option<u64>,
    /// A CRYPTO or STREAM frame's offset in its stream.
    at: Option<u64>,
    fin: bool,
    data: Option<Py<PyBytes>>,
    /// A CONNECTION_CLOSE's error code, and its name (a TLS alert inside CRYPTO_ERROR).
    code: Option<u64>,
    error: Option<String>,
    /// The other fields, told in one line.
    detail: String,
}

/// Handshake bytes of a CRYPTO stream that became contiguous, at their stream offset.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct QuicCrypto {
    conn: u64,
    frame: u64,
    side: u8,
    space: &'static str,
    offset: u64,
    data: Py<PyBytes>,
    /// The ClientHello's random the connection table read from these bytes (the client's
    /// Initial stream from offset 0), for the connection's decryptor.
    client_random: Option<Py<PyBytes>>,
}

#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct QuicVersionNegotiation {
    conn: Option<u64>,
    frame: u64,
    versions: Vec<u32>,
}

/// A Retry; `tag_ok`: its integrity tag verifies (RFC 9001 §5.8).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct QuicRetry {
    conn: u64,
    frame: u64,
    scid: Py<PyBytes>,
    token: Py<PyBytes>,
    tag_ok: bool,
}

/// One side's 1-RTT keys moved to the next key phase.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct QuicKeyUpdate {
    conn: u64,
    frame: u64,
    side: u8,
    key_phase: bool,
}

/// The client's address or port changed.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct QuicMigrated {
    conn: u64,
    frame: u64,
    address: Py<PyBytes>,
    port: u16,
}

/// Something wrong in a datagram: its frame number and byte offset in the UDP payload.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct QuicFinding {
    conn: Option<u64>,
    frame: u64,
    offset: usize,
    message: String,
}

fn space_name(space: quic::Space) -> &'static str {
    match space {
        quic::Space::Initial => "initial",
        quic::Space::Handshake => "handshake",
        quic::Space::Application => "application",
    }
}

pub(crate) fn bytes(py: Python<'_>, data: &[u8]) -> Py<PyBytes> {
    PyBytes::new(py, data).unbind()
}

/// A frame's fields for Python; `payload` is the packet's plaintext its spans index.
fn frame_to_python(py: Python<'_>, at: &FrameAt, payload: &[u8]) -> PyResult<Py<QuicFrame>> {
    let mut out = QuicFrame {
        name: at.frame.name(),
        offset: at.offset,
        stream: None,
        at: None,
        fin: false,
        data: None,
        code: None,
        error: None,
        detail: frame_detail(&at.frame, payload),
    };
    match &at.frame {
        Frame::Crypto { offset, data } | Frame::Stream { offset, data, .. } => {
            out.at = Some(*offset);
            out.data = Some(bytes(py, data.of(payload)));
            if let Frame::Stream { stream, fin, .. } = &at.frame {
                out.stream = Some(*stream);
                out.fin = *fin;
            }
        }
        Frame::Datagram { data } => out.data = Some(bytes(py, data.of(payload))),
        Frame::NewConnectionId { cid, .. } => out.data = Some(bytes(py, cid.of(payload))),
        Frame::ConnectionClose {
            application,
            code,
            reason,
            ..
        } => {
            out.code = Some(*code);
            out.error = Some(error_name(*code, *application));
            out.data = Some(bytes(py, reason.of(payload)));
        }
        _ => {}
    }
    Py::new(py, out)
}

/// A frame's fields in one line (`QuicFrame.detail`).
pub(crate) fn frame_detail(frame: &Frame, payload: &[u8]) -> String {
    match frame {
        Frame::Padding { len } => format!("{len} bytes"),
        Frame::Ack {
            largest,
            first_range,
            ranges,
            ..
        } => {
            let smallest = largest.saturating_sub(*first_range);
            let mut detail = format!("packets {smallest}..{largest}");
            if !ranges.is_empty() {
                detail += &format!(" and {} more ranges", ranges.len());
            }
            detail
        }
        Frame::Crypto { offset, data } => format!("offset {offset}, {} bytes", data.len),
        Frame::Stream {
            stream,
            offset,
            fin,
            data,
        } => {
            let end = if *fin { ", FIN" } else { "" };
            format!("stream {stream}, offset {offset}, {} bytes{end}", data.len)
        }
        Frame::Datagram { data } => format!("{} bytes", data.len),
        Frame::NewConnectionId {
            seq,
            retire_prior_to,
            cid,
            ..
        } => {
            let hex: String = cid.of(payload).iter().map(|b| format!("{b:02x}")).collect();
            format!("sequence {seq}, Connection ID {hex}, retire prior to {retire_prior_to}")
        }
        Frame::ConnectionClose { frame_type, .. } => match frame_type {
            Some(kind) => format!("caused by a frame of type 0x{kind:x}"),
            None => String::new(),
        },
        other => other_detail(other),
    }
}

/// The one-line fields of the frames that carry no bytes.
fn other_detail(frame: &Frame) -> String {
    match frame {
        Frame::ResetStream {
            stream,
            code,
            final_size,
        } => format!("stream {stream}, error 0x{code:x}, final size {final_size}"),
        Frame::StopSending { stream, code } => format!("stream {stream}, error 0x{code:x}"),
        Frame::MaxData(max) | Frame::DataBlocked(max) => format!("{max} bytes"),
        Frame::MaxStreamData { stream, max } => format!("stream {stream}, {max} bytes"),
        Frame::StreamDataBlocked { stream, limit } => format!("stream {stream}, {limit} bytes"),
        Frame::MaxStreams { bidi, max } | Frame::StreamsBlocked { bidi, limit: max } => {
            format!(
                "{max} {}",
                if *bidi {
                    "bidirectional"
                } else {
                    "unidirectional"
                }
            )
        }
        Frame::RetireConnectionId { seq } => format!("sequence {seq}"),
        Frame::PathChallenge(data) | Frame::PathResponse(data) => {
            data.iter().map(|b| format!("{b:02x}")).collect()
        }
        _ => String::new(),
    }
}

fn packet_to_python(py: Python<'_>, p: &PacketEvent) -> PyResult<Py<QuicPacket>> {
    let (kind, space) = match p.form {
        Form::Long(kind) => {
            let space = match kind {
                LongType::Initial => Some(quic::Space::Initial),
                LongType::Handshake => Some(quic::Space::Handshake),
                LongType::ZeroRtt => Some(quic::Space::Application),
                LongType::Retry => None,
            };
            (kind.name(), space)
        }
        Form::Short => ("1-RTT", Some(quic::Space::Application)),
        Form::VersionNegotiation => ("Version Negotiation", None),
        Form::OtherVersion => ("other", None),
    };
    let frames = PyList::empty(py);
    for at in &p.frames {
        frames.append(frame_to_python(py, at, &p.payload)?)?;
    }
    Py::new(
        py,
        QuicPacket {
            conn: p.conn,
            frame: p.frame,
            ts_ns: Ns(p.ts_ns),
            side: p.side,
            offset: p.offset,
            len: p.len,
            kind,
            space: space.map(space_name),
            version: p.version,
            dcid: bytes(py, &p.dcid),
            scid: bytes(py, &p.scid),
            pn: p.pn,
            key_phase: p.key_phase,
            failed: p.failed,
            frames: frames.unbind(),
        },
    )
}

fn event_to_python(py: Python<'_>, event: &QuicEvent) -> PyResult<PyObject> {
    Ok(match event {
        QuicEvent::Opened {
            conn,
            frame,
            ts_ns,
            version,
            dcid,
            client,
            ..
        } => Py::new(
            py,
            QuicOpened {
                conn: *conn,
                frame: *frame,
                ts_ns: Ns(*ts_ns),
                version: *version,
                dcid: dcid.as_deref().map(|d| bytes(py, d)),
                client: bytes(py, client.0.as_bytes()),
                client_port: client.1,
            },
        )?
        .into_any(),
        QuicEvent::Packet(p) => packet_to_python(py, p)?.into_any(),
        QuicEvent::Crypto {
            conn,
            frame,
            side,
            space,
            offset,
            data,
            client_random,
        } => Py::new(
            py,
            QuicCrypto {
                conn: *conn,
                frame: *frame,
                side: *side,
                space: space_name(*space),
                offset: *offset,
                data: bytes(py, data),
                client_random: client_random.as_ref().map(|r| bytes(py, r)),
            },
        )?
        .into_any(),
        QuicEvent::VersionNegotiation {
            conn,
            frame,
            versions,
        } => Py::new(
            py,
            QuicVersionNegotiation {
                conn: *conn,
                frame: *frame,
                versions: versions.clone(),
            },
        )?
        .into_any(),
        other => rare_to_python(py, other)?,
    })
}

/// Retry, key updates, migration and findings.
fn rare_to_python(py: Python<'_>, event: &QuicEvent) -> PyResult<PyObject> {
    Ok(match event {
        QuicEvent::Retry {
            conn,
            frame,
            scid,
            token,
            tag_ok,
        } => Py::new(
            py,
            QuicRetry {
                conn: *conn,
                frame: *frame,
                scid: bytes(py, scid),
                token: bytes(py, token),
                tag_ok: *tag_ok,
            },
        )?
        .into_any(),
        QuicEvent::KeyUpdate {
            conn,
            frame,
            side,
            key_phase,
        } => Py::new(
            py,
            QuicKeyUpdate {
                conn: *conn,
                frame: *frame,
                side: *side,
                key_phase: *key_phase,
            },
        )?
        .into_any(),
        QuicEvent::Migrated {
            conn,
            frame,
            client,
        } => Py::new(
            py,
            QuicMigrated {
                conn: *conn,
                frame: *frame,
                address: bytes(py, client.0.as_bytes()),
                port: client.1,
            },
        )?
        .into_any(),
        QuicEvent::Finding(f) => Py::new(
            py,
            QuicFinding {
                conn: f.conn,
                frame: f.frame,
                offset: f.offset,
                message: f.what.clone(),
            },
        )?
        .into_any(),
        // The common kinds are converted by `event_to_python`.
        QuicEvent::Opened { .. }
        | QuicEvent::Packet(_)
        | QuicEvent::Crypto { .. }
        | QuicEvent::VersionNegotiation { .. } => event_to_python(py, event)?,
    })
}

impl QuicKept {
    pub fn into_python(self, py: Python<'_>) -> PyResult<PyObject> {
        let events = PyList::empty(py);
        for said in self.events {
            events.append(match said {
                Said::Event(event) => event_to_python(py, &event)?,
                Said::Run(run) => run_to_python(py, run)?,
            })?;
        }
        let batch = QuicEvents {
            flow: self.flow,
            frame: self.frame,
            ts_ns: Ns(self.ts_ns),
            events: events.unbind(),
            charged: self.charged,
        };
        Ok(Py::new(py, batch)?.into_any())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<QuicEvents>()?;
    m.add_class::<QuicOpened>()?;
    m.add_class::<QuicPacket>()?;
    m.add_class::<QuicFrame>()?;
    m.add_class::<QuicCrypto>()?;
    m.add_class::<QuicVersionNegotiation>()?;
    m.add_class::<QuicRetry>()?;
    m.add_class::<QuicKeyUpdate>()?;
    m.add_class::<QuicMigrated>()?;
    m.add_class::<QuicFinding>()?;
    super::quic_runs::register(m)?;
    Ok(())
}
