//! Routine 1-RTT packets of a QUIC connection folded into runs, as Python sees them
//! (`tlslens._core.QuicRun`): counts and joined STREAM bytes, and the packets a caller
//! lists, made only when asked.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tlslens_core::quic::frames::{Frame, FrameAt};
use tlslens_core::quic::runs::{KeptPacket, PacketRun};

use super::quic_classes::{bytes, frame_detail};

/// Routine 1-RTT packets of one connection folded (`FlowCore.quic_runs`): packets and
/// bytes per side (0: the client), and the STREAM frames of `stream_side`: their count,
/// the packets holding them (`stream_packets`),
/// bytes joined (`data`), bytes per stream in first-seen order, the first one's (frame,
/// ts_ns, packet offset, length) and the last one's frame. `frame`/`ts_ns`: the last
/// packet's.
/// `kept`: those of them the caller lists (None: none).
#[pyclass(frozen, module = "tlslens._core", get_all)]
pub struct QuicRun {
    conn: u64,
    frame: u64,
    ts_ns: i128,
    packets: (u64, u64),
    bytes: (u64, u64),
    stream_side: Option<u8>,
    stream_frames: u64,
    stream_packets: u64,
    first_stream: Option<(u64, i128, usize, usize)>,
    last_stream_frame: u64,
    data: Py<PyBytes>,
    streams: Vec<(u64, u64)>,
    kept: Option<Py<QuicKeptPackets>>,
}

/// The packets of a run its caller lists, held in the core (without the run's bytes)
/// until `packets()` makes them.
#[pyclass(frozen, module = "tlslens._core")]
pub struct QuicKeptPackets {
    held: Vec<KeptPacket>,
}

/// A listed packet of a run: (frame, ts_ns, side, offset, length, pn, key phase, DCID,
/// frames).
type KeptTuple = (
    u64,
    i128,
    u8,
    usize,
    usize,
    u64,
    Option<bool>,
    Py<PyBytes>,
    Vec<KeptFrame>,
);

/// A frame of a listed packet: (name, offset, detail, stream, offset in its stream, FIN,
/// bytes carried), as `QuicFrame` has them.
type KeptFrame = (
    &'static str,
    usize,
    String,
    Option<u64>,
    Option<u64>,
    bool,
    Option<usize>,
);

fn kept_frame(at: &FrameAt) -> KeptFrame {
    // A run has no NEW_CONNECTION_ID: no detail needs the plaintext.
    let detail = frame_detail(&at.frame, &[]);
    let (stream, offset, fin, length) = match &at.frame {
        Frame::Stream {
            stream,
            offset,
            fin,
            data,
        } => (Some(*stream), Some(*offset), *fin, Some(data.len)),
        Frame::Crypto { offset, data } => (None, Some(*offset), false, Some(data.len)),
        Frame::Datagram { data } => (None, None, false, Some(data.len)),
        _ => (None, None, false, None),
    };
    (
        at.frame.name(),
        at.offset,
        detail,
        stream,
        offset,
        fin,
        length,
    )
}

#[pymethods]
impl QuicKeptPackets {
    fn __len__(&self) -> usize {
        self.held.len()
    }

    /// The packets, made on demand: a caller that does not list them pays nothing.
    fn packets(&self, py: Python<'_>) -> Vec<KeptTuple> {
        self.held
            .iter()
            .map(|k| {
                let frames = k.frames.iter().map(kept_frame).collect();
                let dcid = bytes(py, &k.dcid);
                (
                    k.frame,
                    k.ts_ns,
                    k.side,
                    k.offset,
                    k.len,
                    k.pn,
                    k.key_phase,
                    dcid,
                    frames,
                )
            })
            .collect()
    }
}

pub(crate) fn run_to_python(py: Python<'_>, run: PacketRun) -> PyResult<PyObject> {
    let [client_packets, server_packets] = run.packets;
    let [client_bytes, server_bytes] = run.bytes;
    let out = QuicRun {
        conn: run.conn,
        frame: run.frame,
        ts_ns: run.ts_ns,
        packets: (client_packets, server_packets),
        bytes: (client_bytes, server_bytes),
        stream_side: run.stream_side,
        stream_frames: run.stream_frames,
        stream_packets: run.stream_packets,
        first_stream: run
            .first_stream
            .map(|f| (f.frame, f.ts_ns, f.offset, f.len)),
        last_stream_frame: run.last_stream_frame,
        data: bytes(py, &run.data),
        streams: run.streams,
        kept: if run.kept.is_empty() {
            None
        } else {
            Some(Py::new(py, QuicKeptPackets { held: run.kept })?)
        },
    };
    Ok(Py::new(py, out)?.into_any())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<QuicRun>()?;
    m.add_class::<QuicKeptPackets>()?;
    Ok(())
}
