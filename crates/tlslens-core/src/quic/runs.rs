//! Runs of routine 1-RTT packets: what a caller that keeps the first packets of a
//! connection one by one needs of the rest, folded, so that a bulk transfer is not one
//! event per packet.
//!
//! A packet is routine when it was opened, has a short header and carries no frame the
//! caller acts on one by one (CRYPTO, NEW_CONNECTION_ID, CONNECTION_CLOSE). A run holds
//! consecutive routine packets of one connection in frame order, of both sides, but STREAM
//! data of one side only: the caller's timeline tells each change of direction, which a
//! run would hide. It keeps what the packets add up to (packets and bytes per side) and
//! the STREAM frames in order: their count, their bytes joined, the bytes per stream in
//! the order streams first appear, and where the first one and the last one were. The
//! packets the caller keeps one by one (a connection's first few thousand) are held with
//! their header fields and frames (`KeptPacket`), for it to read only if it tells them.

use super::frames::{Frame, FrameAt};
use super::packet::Form;
use super::PacketEvent;

/// STREAM bytes one run holds; the packet past it starts the next run.
pub const MAX_RUN_DATA: usize = 1 << 20;
/// Streams one run counts apart; a packet with one more starts the next run.
pub const MAX_RUN_STREAMS: usize = 64;

/// Where a run's first STREAM frame was: its packet's frame, time and offset in the
/// datagram, and the frame's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstStream {
    pub frame: u64,
    pub ts_ns: i128,
    pub offset: usize,
    pub len: usize,
}

/// A folded packet the caller keeps: what its list of packets shows of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptPacket {
    pub frame: u64,
    pub ts_ns: i128,
    pub side: u8,
    pub offset: usize,
    pub len: usize,
    pub pn: u64,
    pub key_phase: Option<bool>,
    pub dcid: Vec<u8>,
    /// Their spans index a plaintext not kept: only what the frames say of themselves.
    pub frames: Vec<FrameAt>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketRun {
    pub conn: u64,
    /// The last packet's frame and time.
    pub frame: u64,
    pub ts_ns: i128,
    /// Packets, and their bytes in the datagrams, per side (0: the client).
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    /// The side whose STREAM frames the run holds (None: none yet).
    pub stream_side: Option<u8>,
    pub stream_frames: u64,
    /// The packets holding them: a step of application data counts packets, not frames.
    pub stream_packets: u64,
    pub first_stream: Option<FirstStream>,
    /// The frame of the packet of the last STREAM frame.
    pub last_stream_frame: u64,
    /// The STREAM frames' bytes, joined in packet order.
    pub data: Vec<u8>,
    /// (stream, bytes) in the order the streams first appear.
    pub streams: Vec<(u64, u64)>,
    /// The packets folded with `keep` set, in order.
    pub kept: Vec<KeptPacket>,
}

impl PacketRun {
    /// A run of this one packet, if it is routine (`keep`: as `absorb`).
    pub fn start(p: &PacketEvent, keep: bool) -> Option<Self> {
        let mut run = Self {
            conn: p.conn,
            frame: p.frame,
            ts_ns: p.ts_ns,
            packets: [0; 2],
            bytes: [0; 2],
            stream_side: None,
            stream_frames: 0,
            stream_packets: 0,
            first_stream: None,
            last_stream_frame: 0,
            data: Vec::new(),
            streams: Vec::new(),
            kept: Vec::new(),
        };
        run.absorb(p, keep).then_some(run)
    }

    /// Fold `p` in when it continues the run: the same connection, routine, not before the
    /// last packet, STREAM data (if any) from the run's side, within the bounds. False
    /// leaves the run as it was. `keep`: the packet is one the caller keeps (`kept`).
    pub fn absorb(&mut self, p: &PacketEvent, keep: bool) -> bool {
        if p.conn != self.conn || p.form != Form::Short || p.pn.is_none() || p.frame < self.frame {
            return false;
        }
        let mut data = 0usize;
        let mut new_streams: Vec<u64> = Vec::new();
        for at in &p.frames {
            match &at.frame {
                Frame::Stream {
                    stream, data: span, ..
                } => {
                    if self.stream_side.is_some_and(|side| side != p.side) {
                        return false;
                    }
                    data = data.saturating_add(span.of(&p.payload).len());
                    let known = self.streams.iter().any(|(s, _)| s == stream);
                    if !known && !new_streams.contains(stream) {
                        new_streams.push(*stream);
                    }
                }
                Frame::Crypto { .. } | Frame::NewConnectionId { .. } => return false,
                Frame::ConnectionClose { .. } => return false,
                _ => {}
            }
        }
        if self.data.len().saturating_add(data) > MAX_RUN_DATA
            || self.streams.len().saturating_add(new_streams.len()) > MAX_RUN_STREAMS
        {
            return false;
        }
        self.take(p);
        if keep {
            self.kept.push(KeptPacket {
                frame: p.frame,
                ts_ns: p.ts_ns,
                side: p.side,
                offset: p.offset,
                len: p.len,
                pn: p.pn.unwrap_or_default(),
                key_phase: p.key_phase,
                dcid: p.dcid.clone(),
                frames: p.frames.clone(),
            });
        }
        true
    }

    /// Add a packet `absorb` accepted.
    fn take(&mut self, p: &PacketEvent) {
        let side = usize::from(p.side.min(1));
        if let (Some(packets), Some(bytes)) = (self.packets.get_mut(side), self.bytes.get_mut(side))
        {
            *packets = packets.saturating_add(1);
            *bytes = bytes.saturating_add(u64::try_from(p.len).unwrap_or(u64::MAX));
        }
        self.frame = p.frame;
        self.ts_ns = p.ts_ns;
        if p.frames
            .iter()
            .any(|at| matches!(at.frame, Frame::Stream { .. }))
        {
            self.stream_packets = self.stream_packets.saturating_add(1);
        }
        for at in &p.frames {
            let Frame::Stream { stream, data, .. } = &at.frame else {
                continue;
            };
            let bytes = data.of(&p.payload);
            self.stream_side = Some(p.side);
            self.stream_frames = self.stream_frames.saturating_add(1);
            self.first_stream.get_or_insert(FirstStream {
                frame: p.frame,
                ts_ns: p.ts_ns,
                offset: p.offset,
                len: bytes.len(),
            });
            self.last_stream_frame = p.frame;
            self.data.extend_from_slice(bytes);
            let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            match self.streams.iter_mut().find(|(s, _)| s == stream) {
                Some((_, total)) => *total = total.saturating_add(len),
                None => self.streams.push((*stream, len)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{PacketRun, MAX_RUN_DATA};
    use crate::quic::frames::{Frame, FrameAt, Span};
    use crate::quic::packet::Form;
    use crate::quic::version::LongType;
    use crate::quic::PacketEvent;

    fn stream(stream: u64, start: usize, len: usize) -> FrameAt {
        FrameAt {
            offset: start.saturating_sub(1),
            frame: Frame::Stream {
                stream,
                offset: 0,
                fin: false,
                data: Span { start, len },
            },
        }
    }

    fn packet(frame: u64, side: u8, payload: &[u8], frames: Vec<FrameAt>) -> PacketEvent {
        PacketEvent {
            conn: 7,
            frame,
            ts_ns: i128::from(frame) * 1000,
            side,
            offset: 0,
            len: payload.len() + 20,
            seq: frame,
            form: Form::Short,
            version: 1,
            dcid: vec![1; 8],
            scid: Vec::new(),
            pn: Some(frame),
            key_phase: Some(false),
            failed: false,
            payload: payload.to_vec(),
            frames,
        }
    }

    #[test]
    fn stream_data_of_one_side_and_acks_of_both_fold_into_one_run() {
        let mut run = PacketRun::start(&packet(10, 1, b"xabcd", vec![stream(4, 1, 4)]), true)
            .expect("routine");
        let ack = FrameAt {
            offset: 0,
            frame: Frame::Ping,
        };
        assert!(run.absorb(&packet(11, 0, b"", vec![ack]), true));
        let last = packet(12, 1, b"xefyg", vec![stream(4, 1, 2), stream(8, 4, 1)]);
        assert!(run.absorb(&last, false));
        assert_eq!(run.packets, [1, 2]);
        assert_eq!(run.bytes, [20, 50]);
        assert_eq!(run.stream_side, Some(1));
        assert_eq!(run.stream_frames, 3);
        assert_eq!(run.stream_packets, 2);
        assert_eq!(run.data, b"abcdefg");
        assert_eq!(run.streams, vec![(4, 6), (8, 1)]);
        let first = run.first_stream.expect("a STREAM frame");
        assert_eq!((first.frame, first.ts_ns, first.len), (10, 10_000, 4));
        assert_eq!((run.frame, run.last_stream_frame), (12, 12));
        // The two packets folded with `keep`, with their frames.
        let kept: Vec<(u64, u8, u64, usize)> = run
            .kept
            .iter()
            .map(|k| (k.frame, k.side, k.pn, k.frames.len()))
            .collect();
        assert_eq!(kept, vec![(10, 1, 10, 1), (11, 0, 11, 1)]);
    }

    #[test]
    fn what_the_caller_acts_on_one_by_one_ends_a_run() {
        let mut run =
            PacketRun::start(&packet(10, 1, b"xab", vec![stream(0, 1, 2)]), true).expect("run");
        let before = run.clone();
        // STREAM data from the other side, an earlier frame, another connection.
        assert!(!run.absorb(&packet(11, 0, b"xab", vec![stream(0, 1, 2)]), true));
        assert!(!run.absorb(&packet(9, 1, b"", Vec::new()), true));
        let mut other = packet(11, 1, b"", Vec::new());
        other.conn = 8;
        assert!(!run.absorb(&other, true));
        // Not opened, a long header, frames with their own events.
        let mut sealed = packet(11, 1, b"", Vec::new());
        sealed.pn = None;
        assert!(!run.absorb(&sealed, true));
        let mut long = packet(11, 1, b"", Vec::new());
        long.form = Form::Long(LongType::Handshake);
        assert!(!run.absorb(&long, true));
        let crypto = FrameAt {
            offset: 0,
            frame: Frame::Crypto {
                offset: 0,
                data: Span { start: 1, len: 2 },
            },
        };
        assert!(!run.absorb(&packet(11, 1, b"xab", vec![crypto]), true));
        // Past the run's bound of bytes.
        let big = vec![0u8; MAX_RUN_DATA];
        assert!(!run.absorb(&packet(11, 1, &big, vec![stream(0, 0, MAX_RUN_DATA)]), true));
        assert_eq!(run, before);
        assert!(PacketRun::start(&sealed, false).is_none());
    }
}
