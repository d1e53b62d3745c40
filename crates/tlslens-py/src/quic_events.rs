//! QUIC connections on the capture path: the datagrams of QUIC associations go through the
//! core's connection table (`tlslens_core::quic::QuicConnections`) inside the flow walk,
//! and Python gets its typed events (`QuicEvents`, one per datagram that said something).
//!
//! The connection table, not the 4-tuple, says which QUIC connection a packet belongs to
//! (Connection IDs across migration): each event names its connection (`conn`), and
//! Python groups them. The association the datagram came in (`flow`) only orders the
//! hand-out. Key log secrets (the user's, and those of the pcapng's Decryption Secrets
//! Blocks, before the frames of their batch are walked) go to the table so that it opens
//! the Handshake, 0-RTT and 1-RTT packets itself.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tlslens_core::flows::packet as udp_packet;
use tlslens_core::flows::udp;
use tlslens_core::quic::frames::{error_name, Frame, FrameAt};
use tlslens_core::quic::keys::{self, Secret};
use tlslens_core::quic::packet::Form;
use tlslens_core::quic::version::{LongType, Version};
use tlslens_core::quic::{self, Datagram, Endpoint, PacketEvent, QuicConnections, QuicEvent};

/// The pcapng Decryption Secrets Block type of a TLS key log (pcapng spec §4.7).
const TLS_KEY_LOG: u32 = 0x544c_534b;

/// The QUIC associations open now and the core's connection table fed their datagrams.
pub struct QuicFeed {
    table: QuicConnections,
    /// Association → (its client's endpoint, its server's), to address each datagram.
    flows: HashMap<u64, (Endpoint, Endpoint)>,
}

impl Default for QuicFeed {
    fn default() -> Self {
        Self {
            table: QuicConnections::new(quic::Limits::default()),
            flows: HashMap::new(),
        }
    }
}

/// What one datagram (or the end) made the table say, kept until the GIL is taken.
pub struct QuicKept {
    flow: Option<u64>,
    frame: u64,
    ts_ns: i128,
    events: Vec<QuicEvent>,
}

impl QuicFeed {
    /// A UDP association opened; only QUIC ones are followed.
    pub fn opened(&mut self, o: &udp::UdpOpened) {
        if o.kind == udp::UdpKind::Quic {
            self.flows
                .insert(o.flow, ((o.src, o.sport), (o.dst, o.dport)));
        }
    }

    pub fn closed(&mut self, flow: u64) {
        self.flows.remove(&flow);
    }

    /// One datagram of association `flow` from `side`: what the table said about it.
    pub fn datagram(
        &mut self,
        flow: u64,
        side: u8,
        frame: u64,
        ts_ns: i128,
        payload: &[u8],
    ) -> Option<QuicKept> {
        let &(client, server) = self.flows.get(&flow)?;
        let (src, dst) = if side == 0 {
            (client, server)
        } else {
            (server, client)
        };
        self.table.datagram(&Datagram {
            frame,
            ts_ns,
            src,
            dst,
            payload,
        });
        self.drain(Some(flow), frame, ts_ns)
    }

    /// A UDP datagram of no association: whether it is QUIC (a short header of a known
    /// connection, from a migrated client), and what the table said about it.
    pub fn unassociated(
        &mut self,
        d: &udp_packet::Datagram<'_>,
        frame: u64,
        ts_ns: i128,
    ) -> (bool, Option<QuicKept>) {
        let quic = self.table.datagram(&Datagram {
            frame,
            ts_ns,
            src: (d.src, d.sport),
            dst: (d.dst, d.dport),
            payload: d.payload,
        });
        (quic, self.drain(None, frame, ts_ns))
    }

    /// The end of the capture: packets kept for keys that never came are told unopened.
    pub fn finish(&mut self, frame: u64) -> Option<QuicKept> {
        self.table.finish();
        self.drain(None, frame, 0)
    }

    fn drain(&mut self, flow: Option<u64>, frame: u64, ts_ns: i128) -> Option<QuicKept> {
        let mut events = Vec::new();
        while let Some(event) = self.table.poll() {
            events.push(event);
        }
        (!events.is_empty()).then_some(QuicKept {
            flow,
            frame,
            ts_ns,
            events,
        })
    }

    /// One key log secret for the QUIC packets of the connection with this client random.
    pub fn add_secret(&mut self, label: &str, client_random: &[u8], secret: &[u8]) -> bool {
        self.table.add_secret(label, client_random, secret)
    }

    /// A Decryption Secrets Block: its TLS 1.3 key log lines, if it is a key log.
    pub fn add_secrets_block(&mut self, secrets_type: u32, data: &[u8]) {
        if secrets_type != TLS_KEY_LOG {
            return;
        }
        // Lines that do not parse are the Python key log's to report; here they are skipped.
        for line in String::from_utf8_lossy(data).lines() {
            let mut parts = line.split_whitespace();
            let (Some(label), Some(random), Some(secret), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if let (Some(random), Some(secret)) = (unhex(random), unhex(secret)) {
                self.table.add_secret(label, &random, &secret);
            }
        }
    }
}

/// Even-length hex to bytes; None for anything else.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

/// What one datagram made the QUIC connection table say: events naming their connection.
/// `flow` is the UDP association it came in (None: the end of the capture).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct QuicEvents {
    flow: Option<u64>,
    frame: u64,
    ts_ns: i128,
    events: Py<PyList>,
}

/// A QUIC connection begins at its client's first Initial.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct QuicOpened {
    conn: u64,
    frame: u64,
    ts_ns: i128,
    version: u32,
    /// The client's first Destination Connection ID: what the Initial keys come from.
    dcid: Py<PyBytes>,
}

/// One packet of a datagram (`offset`, `len`: its bytes in the UDP payload), opened
/// (`pn` set, `frames` read) or not.
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct QuicPacket {
    conn: u64,
    frame: u64,
    ts_ns: i128,
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

fn bytes(py: Python<'_>, data: &[u8]) -> Py<PyBytes> {
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
        detail: String::new(),
    };
    match &at.frame {
        Frame::Padding { len } => out.detail = format!("{len} bytes"),
        Frame::Ack {
            largest,
            first_range,
            ranges,
            ..
        } => {
            let smallest = largest.saturating_sub(*first_range);
            out.detail = format!("packets {smallest}..{largest}");
            if !ranges.is_empty() {
                out.detail += &format!(" and {} more ranges", ranges.len());
            }
        }
        Frame::Crypto { offset, data } | Frame::Stream { offset, data, .. } => {
            out.at = Some(*offset);
            out.data = Some(bytes(py, data.of(payload)));
            out.detail = format!("offset {offset}, {} bytes", data.len);
            if let Frame::Stream { stream, fin, .. } = &at.frame {
                out.stream = Some(*stream);
                out.fin = *fin;
                out.detail = format!("stream {stream}, {}", out.detail);
                if *fin {
                    out.detail += ", FIN";
                }
            }
        }
        Frame::Datagram { data } => {
            out.data = Some(bytes(py, data.of(payload)));
            out.detail = format!("{} bytes", data.len);
        }
        Frame::NewConnectionId {
            seq,
            retire_prior_to,
            cid,
            ..
        } => {
            let cid = cid.of(payload);
            out.data = Some(bytes(py, cid));
            let hex: String = cid.iter().map(|b| format!("{b:02x}")).collect();
            out.detail =
                format!("sequence {seq}, Connection ID {hex}, retire prior to {retire_prior_to}");
        }
        Frame::ConnectionClose {
            application,
            code,
            frame_type,
            reason,
        } => {
            out.code = Some(*code);
            out.error = Some(error_name(*code, *application));
            out.data = Some(bytes(py, reason.of(payload)));
            out.detail = match frame_type {
                Some(kind) => format!("caused by a frame of type 0x{kind:x}"),
                None => String::new(),
            };
        }
        other => out.detail = other_detail(other),
    }
    Py::new(py, out)
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
            ts_ns: p.ts_ns,
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
            ..
        } => Py::new(
            py,
            QuicOpened {
                conn: *conn,
                frame: *frame,
                ts_ns: *ts_ns,
                version: *version,
                dcid: bytes(py, dcid),
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
        } => Py::new(
            py,
            QuicCrypto {
                conn: *conn,
                frame: *frame,
                side: *side,
                space: space_name(*space),
                offset: *offset,
                data: bytes(py, data),
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
    pub fn to_python(&self, py: Python<'_>) -> PyResult<PyObject> {
        let events = PyList::empty(py);
        for event in &self.events {
            events.append(event_to_python(py, event)?)?;
        }
        let batch = QuicEvents {
            flow: self.flow,
            frame: self.frame,
            ts_ns: self.ts_ns,
            events: events.unbind(),
        };
        Ok(Py::new(py, batch)?.into_any())
    }
}

/// A QUIC packet protection secret's keys as the core derives them (RFC 9001 §5.1, RFC
/// 9369 §3.3.2): [(label, bytes)] for the key, the IV and the header protection key, or
/// None for a version or suite the core does not open.
#[pyfunction]
fn quic_key_material(version: u32, suite: u16, secret: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let version = Version::from_wire(version)?;
    let secret = Secret {
        version,
        suite: keys::Suite::from_id(suite)?,
        bytes: secret.to_vec(),
    };
    let material = secret.material().ok()?;
    let labels = version.labels();
    let name = |label: &[u8]| String::from_utf8_lossy(label).into_owned();
    Some(vec![
        (name(labels.key), material.key),
        (name(labels.iv), material.iv),
        (name(labels.hp), material.hp),
    ])
}

/// The Initial secrets of a connection (RFC 9001 §5.2): (the version's salt, client
/// initial secret, server initial secret) from the client's first Destination Connection
/// ID; None for a version the core does not open.
#[pyfunction]
fn quic_initial_secrets(version: u32, dcid: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let version = Version::from_wire(version)?;
    let (client, server) = keys::initial_secrets(version, dcid).ok()?;
    Some((version.initial_salt().to_vec(), client.bytes, server.bytes))
}

/// The name of a QUIC version ("QUIC v1", "QUIC v2", a draft, a GREASE version).
#[pyfunction]
fn quic_version_name(version: u32) -> String {
    quic::version_name(version)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(quic_version_name, m)?)?;
    m.add_function(wrap_pyfunction!(quic_key_material, m)?)?;
    m.add_function(wrap_pyfunction!(quic_initial_secrets, m)?)?;
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
    Ok(())
}
