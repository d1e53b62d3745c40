//! QUIC frames (RFC 9000 §19, DATAGRAM of RFC 9221) parsed into typed values. Data-bearing
//! frames keep a `Span` into the packet's plaintext rather than a copy. An unknown frame
//! type (or a frame that breaks a rule) ends the parse: a frame's length is not known
//! without its type, so the rest of the packet cannot be read (the caller makes it a
//! finding naming the offset).

use crate::codec::{CodecResult, Reader};

/// ACK ranges kept per ACK frame; an ACK that claims more is an error, not an allocation.
pub const MAX_ACK_RANGES: u64 = 256;

/// Bytes `start..start + len` of the packet's plaintext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub len: usize,
}

impl Span {
    pub fn of<'a>(&self, payload: &'a [u8]) -> &'a [u8] {
        payload
            .get(self.start..self.start.saturating_add(self.len))
            .unwrap_or(&[])
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A run of PADDING frames, collapsed.
    Padding {
        len: usize,
    },
    Ping,
    Ack {
        largest: u64,
        delay: u64,
        first_range: u64,
        /// (gap, range length) pairs after the first range.
        ranges: Vec<(u64, u64)>,
        /// ECT(0), ECT(1) and ECN-CE counts of ACK_ECN (0x03).
        ecn: Option<[u64; 3]>,
    },
    ResetStream {
        stream: u64,
        code: u64,
        final_size: u64,
    },
    StopSending {
        stream: u64,
        code: u64,
    },
    Crypto {
        offset: u64,
        data: Span,
    },
    NewToken {
        token: Span,
    },
    Stream {
        stream: u64,
        offset: u64,
        fin: bool,
        data: Span,
    },
    MaxData(u64),
    MaxStreamData {
        stream: u64,
        max: u64,
    },
    MaxStreams {
        bidi: bool,
        max: u64,
    },
    DataBlocked(u64),
    StreamDataBlocked {
        stream: u64,
        limit: u64,
    },
    StreamsBlocked {
        bidi: bool,
        limit: u64,
    },
    NewConnectionId {
        seq: u64,
        retire_prior_to: u64,
        cid: Span,
        reset_token: [u8; 16],
    },
    RetireConnectionId {
        seq: u64,
    },
    PathChallenge([u8; 8]),
    PathResponse([u8; 8]),
    ConnectionClose {
        /// 0x1d: closed by the application, whose codes QUIC does not name.
        application: bool,
        code: u64,
        /// The frame type that caused a transport close (0x1c only).
        frame_type: Option<u64>,
        reason: Span,
    },
    HandshakeDone,
    Datagram {
        data: Span,
    },
}

impl Frame {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Padding { .. } => "PADDING",
            Self::Ping => "PING",
            Self::Ack { ecn: None, .. } => "ACK",
            Self::Ack { .. } => "ACK_ECN",
            Self::ResetStream { .. } => "RESET_STREAM",
            Self::StopSending { .. } => "STOP_SENDING",
            Self::Crypto { .. } => "CRYPTO",
            Self::NewToken { .. } => "NEW_TOKEN",
            Self::Stream { .. } => "STREAM",
            Self::MaxData(_) => "MAX_DATA",
            Self::MaxStreamData { .. } => "MAX_STREAM_DATA",
            Self::MaxStreams { .. } => "MAX_STREAMS",
            Self::DataBlocked(_) => "DATA_BLOCKED",
            Self::StreamDataBlocked { .. } => "STREAM_DATA_BLOCKED",
            Self::StreamsBlocked { .. } => "STREAMS_BLOCKED",
            Self::NewConnectionId { .. } => "NEW_CONNECTION_ID",
            Self::RetireConnectionId { .. } => "RETIRE_CONNECTION_ID",
            Self::PathChallenge(_) => "PATH_CHALLENGE",
            Self::PathResponse(_) => "PATH_RESPONSE",
            Self::ConnectionClose { .. } => "CONNECTION_CLOSE",
            Self::HandshakeDone => "HANDSHAKE_DONE",
            Self::Datagram { .. } => "DATAGRAM",
        }
    }
}

/// A frame and the offset of its type byte in the packet's plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameAt {
    pub offset: usize,
    pub frame: Frame,
}

/// Every frame of `payload`; on an error, the frames before it and the error (whose offset
/// is in the plaintext's terms).
pub fn parse_frames(payload: &[u8]) -> (Vec<FrameAt>, Option<crate::codec::CodecError>) {
    let mut r = Reader::new(payload);
    let mut frames = Vec::new();
    while !r.is_empty() {
        let offset = r.offset();
        match frame(&mut r) {
            Ok(frame) => frames.push(FrameAt { offset, frame }),
            Err(err) => return (frames, Some(err)),
        }
    }
    (frames, None)
}

fn span(r: &mut Reader<'_>, len: u64) -> CodecResult<Span> {
    let start = r.offset();
    let data = r.take_u64(len)?;
    Ok(Span {
        start,
        len: data.len(),
    })
}

fn array<const N: usize>(r: &mut Reader<'_>) -> CodecResult<[u8; N]> {
    let mut out = [0u8; N];
    out.copy_from_slice(r.take(N)?);
    Ok(out)
}

fn frame(r: &mut Reader<'_>) -> CodecResult<Frame> {
    let at = r.offset();
    let kind = r.varint()?;
    Ok(match kind {
        0x00 => {
            let mut len = 1;
            while r.peek(1).is_ok_and(|b| b == [0]) {
                r.u8()?;
                len += 1;
            }
            Frame::Padding { len }
        }
        0x01 => Frame::Ping,
        0x02 | 0x03 => ack(r, kind == 0x03)?,
        0x04 => Frame::ResetStream {
            stream: r.varint()?,
            code: r.varint()?,
            final_size: r.varint()?,
        },
        0x05 => Frame::StopSending {
            stream: r.varint()?,
            code: r.varint()?,
        },
        0x06 => {
            let offset = r.varint()?;
            let len = r.varint()?;
            Frame::Crypto {
                offset,
                data: span(r, len)?,
            }
        }
        0x07 => {
            let len = r.varint()?;
            Frame::NewToken {
                token: span(r, len)?,
            }
        }
        0x08..=0x0f => stream(r, kind)?,
        0x10 => Frame::MaxData(r.varint()?),
        0x11 => Frame::MaxStreamData {
            stream: r.varint()?,
            max: r.varint()?,
        },
        0x12 | 0x13 => Frame::MaxStreams {
            bidi: kind == 0x12,
            max: r.varint()?,
        },
        0x14 => Frame::DataBlocked(r.varint()?),
        0x15 => Frame::StreamDataBlocked {
            stream: r.varint()?,
            limit: r.varint()?,
        },
        0x16 | 0x17 => Frame::StreamsBlocked {
            bidi: kind == 0x16,
            limit: r.varint()?,
        },
        0x18 => new_connection_id(r)?,
        0x19 => Frame::RetireConnectionId { seq: r.varint()? },
        0x1a => Frame::PathChallenge(array(r)?),
        0x1b => Frame::PathResponse(array(r)?),
        0x1c | 0x1d => {
            let code = r.varint()?;
            let frame_type = if kind == 0x1c {
                Some(r.varint()?)
            } else {
                None
            };
            let len = r.varint()?;
            Frame::ConnectionClose {
                application: kind == 0x1d,
                code,
                frame_type,
                reason: span(r, len)?,
            }
        }
        0x1e => Frame::HandshakeDone,
        0x30 => {
            let len = r.left() as u64;
            Frame::Datagram {
                data: span(r, len)?,
            }
        }
        0x31 => {
            let len = r.varint()?;
            Frame::Datagram {
                data: span(r, len)?,
            }
        }
        other => {
            return Err(crate::codec::CodecError::Invalid {
                at,
                what: format!("unknown frame type 0x{other:x}"),
            })
        }
    })
}

fn ack(r: &mut Reader<'_>, with_ecn: bool) -> CodecResult<Frame> {
    let largest = r.varint()?;
    let delay = r.varint()?;
    let count_at = r.offset();
    let count = r.varint()?;
    if count > MAX_ACK_RANGES {
        return Err(crate::codec::CodecError::Invalid {
            at: count_at,
            what: format!("an ACK of {count} ranges (at most {MAX_ACK_RANGES} are read)"),
        });
    }
    let first_range = r.varint()?;
    let mut ranges = Vec::new();
    for _ in 0..count {
        ranges.push((r.varint()?, r.varint()?));
    }
    let ecn = if with_ecn {
        Some([r.varint()?, r.varint()?, r.varint()?])
    } else {
        None
    };
    Ok(Frame::Ack {
        largest,
        delay,
        first_range,
        ranges,
        ecn,
    })
}

/// STREAM 0x08-0x0f: the OFF (0x04), LEN (0x02) and FIN (0x01) bits choose the fields.
fn stream(r: &mut Reader<'_>, kind: u64) -> CodecResult<Frame> {
    let stream = r.varint()?;
    let offset = if kind & 0x04 != 0 { r.varint()? } else { 0 };
    let len = if kind & 0x02 != 0 {
        r.varint()?
    } else {
        r.left() as u64
    };
    let data = span(r, len)?;
    Ok(Frame::Stream {
        stream,
        offset,
        fin: kind & 0x01 != 0,
        data,
    })
}

fn new_connection_id(r: &mut Reader<'_>) -> CodecResult<Frame> {
    let seq = r.varint()?;
    let retire_prior_to = r.varint()?;
    let at = r.offset();
    let len = r.u8()?;
    if !(1..=20).contains(&len) {
        return Err(crate::codec::CodecError::Invalid {
            at,
            what: format!("a NEW_CONNECTION_ID of {len} bytes (1 to 20)"),
        });
    }
    let cid = span(r, u64::from(len))?;
    Ok(Frame::NewConnectionId {
        seq,
        retire_prior_to,
        cid,
        reset_token: array(r)?,
    })
}

/// The name of a CONNECTION_CLOSE error code (RFC 9000 §20.1; §20.2 codes are the
/// application's). 0x0100-0x01ff carry a TLS alert (RFC 9001 §4.8).
pub fn error_name(code: u64, application: bool) -> String {
    if application {
        return format!("application error 0x{code:x}");
    }
    let name = match code {
        0x00 => "NO_ERROR",
        0x01 => "INTERNAL_ERROR",
        0x02 => "CONNECTION_REFUSED",
        0x03 => "FLOW_CONTROL_ERROR",
        0x04 => "STREAM_LIMIT_ERROR",
        0x05 => "STREAM_STATE_ERROR",
        0x06 => "FINAL_SIZE_ERROR",
        0x07 => "FRAME_ENCODING_ERROR",
        0x08 => "TRANSPORT_PARAMETER_ERROR",
        0x09 => "CONNECTION_ID_LIMIT_ERROR",
        0x0a => "PROTOCOL_VIOLATION",
        0x0b => "INVALID_TOKEN",
        0x0c => "APPLICATION_ERROR",
        0x0d => "CRYPTO_BUFFER_EXCEEDED",
        0x0e => "KEY_UPDATE_ERROR",
        0x0f => "AEAD_LIMIT_REACHED",
        0x10 => "NO_VIABLE_PATH",
        0x11 => "VERSION_NEGOTIATION_ERROR",
        0x0100..=0x01ff => return format!("CRYPTO_ERROR: TLS alert {}", code - 0x0100),
        _ => return format!("unknown transport error 0x{code:x}"),
    };
    name.to_owned()
}
