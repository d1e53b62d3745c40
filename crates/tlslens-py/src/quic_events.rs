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

use pyo3::prelude::*;
use tlslens_core::decrypt::keylog::KeyLog;
use tlslens_core::flows::packet as udp_packet;
use tlslens_core::flows::{udp, FlowMap};
use tlslens_core::quic::keys::{self, Secret};
use tlslens_core::quic::runs::PacketRun;
use tlslens_core::quic::version::Version;
use tlslens_core::quic::{self, Datagram, Endpoint, QuicConnections, QuicEvent};

use super::flow_events::Kept;

/// The pcapng Decryption Secrets Block type of a TLS key log (pcapng spec §4.7).
const TLS_KEY_LOG: u32 = 0x544c_534b;

/// The QUIC associations open now and the core's connection table fed their datagrams.
pub struct QuicFeed {
    table: QuicConnections,
    /// Association → (its client's endpoint, its server's), to address each datagram.
    flows: FlowMap<(Endpoint, Endpoint)>,
    /// Set: routine 1-RTT packets are folded into runs (`push`), those among their
    /// connection's first this many with their details.
    pub runs_keep: Option<u64>,
}

impl Default for QuicFeed {
    fn default() -> Self {
        Self {
            table: QuicConnections::new(quic::Limits::default()),
            flows: FlowMap::default(),
            runs_keep: None,
        }
    }
}

/// What one datagram (or the end) made the table say, kept until the GIL is taken.
pub struct QuicKept {
    pub flow: Option<u64>,
    pub frame: u64,
    pub ts_ns: i128,
    pub events: Vec<Said>,
    /// What the walk charged its association toward `max_held` (udp_told.rs), for Python
    /// to settle once it read the events.
    pub charged: usize,
}

/// A handshake message's header (RFC 8446 §4): the least of a CRYPTO stream a message is.
const HANDSHAKE_HEADER: usize = 4;

impl QuicKept {
    /// The steps of its connections' timelines what the datagram said can make at most
    /// once Python reads it: one for each event, and as many as its CRYPTO data holds
    /// message headers (1 MiB of 8-byte messages made 131,072). What bounds how far the
    /// walk goes ahead of Python reading the datagrams.
    pub fn steps_at_most(&self) -> usize {
        self.events.len() + self.crypto_steps()
    }

    /// The steps its CRYPTO data can make at most: as many as it holds message headers.
    /// (What is charged: the other events' steps are bounded apart, and a routine packet
    /// may join a run, which makes none.)
    pub fn crypto_steps(&self) -> usize {
        (self.events.iter())
            .map(|said| match said {
                Said::Event(QuicEvent::Crypto { data, .. }) => data.len() / HANDSHAKE_HEADER,
                _ => 0,
            })
            .sum()
    }
}

/// An event of the table, or routine packets folded (`QuicFeed::runs_keep`).
pub enum Said {
    Event(QuicEvent),
    Run(PacketRun),
}

impl Said {
    fn run_mut(&mut self) -> Option<&mut PacketRun> {
        match self {
            Self::Run(run) => Some(run),
            Self::Event(_) => None,
        }
    }
}

impl QuicFeed {
    /// A UDP association opened; only QUIC ones are followed.
    pub fn opened(&mut self, o: &udp::UdpOpened) {
        if o.kind == udp::UdpKind::Quic {
            self.flows
                .insert(o.flow, ((o.src, o.sport), (o.dst, o.dport)));
        }
    }

    /// Is association `flow` a QUIC one (its datagrams are this table's)?
    pub fn owns(&self, flow: u64) -> bool {
        self.flows.contains_key(&flow)
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
        let quic = self.table.stray(&Datagram {
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
            events.push(Said::Event(event));
        }
        (!events.is_empty()).then_some(QuicKept {
            flow,
            frame,
            ts_ns,
            events,
            charged: 0,
        })
    }

    /// Add what a datagram made the table say to the events for Python. With `runs_keep`
    /// set, a routine packet joins the run the events end with, or starts one: a bulk
    /// transfer crosses into Python as a few runs per batch, not an object per packet and
    /// frame. Joining only the last event keeps the order of everything else.
    pub fn push(&self, out: &mut Vec<Kept>, said: QuicKept) {
        let Some(keep) = self.runs_keep else {
            out.push(Kept::Quic(said));
            return;
        };
        let QuicKept {
            flow,
            frame,
            ts_ns,
            events,
            charged,
        } = said;
        let mut folded: Vec<Said> = Vec::with_capacity(events.len());
        for said in events {
            if let Said::Event(QuicEvent::Packet(p)) = &said {
                let detail = p.seq < keep;
                let last = match folded.last_mut() {
                    Some(last) => last.run_mut(),
                    None => match out.last_mut() {
                        Some(Kept::Quic(kept)) => kept.events.last_mut().and_then(Said::run_mut),
                        _ => None,
                    },
                };
                if last.is_some_and(|run| run.absorb(p, detail)) {
                    continue;
                }
                if let Some(run) = PacketRun::start(p, detail) {
                    folded.push(Said::Run(run));
                    continue;
                }
            }
            folded.push(said);
        }
        // (A charge comes with CRYPTO data, which joins no run: what carries it goes out.)
        if !folded.is_empty() {
            out.push(Kept::Quic(QuicKept {
                flow,
                frame,
                ts_ns,
                events: folded,
                charged,
            }));
        }
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
        // The key log's one parser; the lines it refuses are the Python key log's to report.
        let mut lines = KeyLog::new();
        lines.add_text(&String::from_utf8_lossy(data), "", "pcapng");
        for (label, random, secret) in lines.secrets() {
            self.table.add_secret(label, random, secret);
        }
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
    super::quic_classes::register(m)
}

#[cfg(test)]
mod tests {
    use super::{QuicEvent, QuicFeed, QuicKept, Said, TLS_KEY_LOG};
    use tlslens_core::quic::Space;

    #[test]
    fn crypto_data_makes_at_most_a_step_a_message_header() {
        let crypto = |data: Vec<u8>| {
            Said::Event(QuicEvent::Crypto {
                conn: 0,
                frame: 1,
                side: 0,
                space: Space::Initial,
                offset: 0,
                data,
                client_random: None,
            })
        };
        let kept = QuicKept {
            flow: Some(0),
            frame: 1,
            ts_ns: 0,
            events: vec![crypto([1, 0, 0, 4, 0, 0, 0, 0].repeat(137)), crypto(vec![])],
            charged: 0,
        };
        assert_eq!(kept.crypto_steps(), 274);
        assert_eq!(kept.steps_at_most(), 2 + 274);
    }

    #[test]
    fn key_log_lines_of_a_secrets_block_are_taken_and_junk_is_skipped() {
        let random = "ab".repeat(32);
        let text = format!(
            "# comment\nCLIENT_TRAFFIC_SECRET_0 {random} {s}\nSERVER_TRAFFIC_SECRET_0 {random}\n\
             CLIENT_RANDOM {random} {s}\n\u{0}\u{ff}é {random} zz\nCLIENT_HANDSHAKE_TRAFFIC_SECRET \
             {random} {s} extra\n",
            s = "11".repeat(32)
        );
        let mut feed = QuicFeed::default();
        feed.add_secrets_block(TLS_KEY_LOG, text.as_bytes());
        feed.add_secrets_block(0x1234, b"not a key log");
        // Only the first line is a usable QUIC secret: the table now knows this random.
        assert!(feed.add_secret("SERVER_TRAFFIC_SECRET_0", &[0xab; 32], &[0x22; 32]));
        assert!(!feed.add_secret("CLIENT_RANDOM", &[0xab; 32], &[0x22; 48]));
    }
}
