//! TCP connections that ended before either side sent a byte: what a failed attempt to
//! connect looks like in a capture (a port that refused, a SYN nobody answered, a connection
//! opened and closed). Python is never told such a flow (no session event, no TLS), so the
//! capture's summary said "3 TCP connections, 0 with TLS" and no more; these counts, each
//! with its first connection, let it say what happened (`FlowCore.unstarted`).

use tlslens_core::flows::packet::Addr;
use tlslens_core::flows::Opened;

/// How a connection without a byte went: the server's RST answered its SYN; no SYN/ACK came
/// to it; the server's SYN/ACK came and neither side sent anything.
pub const KINDS: [&str; 3] = ["refused", "unanswered", "silent"];

/// The first connection of a kind: its first frame, client and server.
#[derive(Clone, Copy)]
struct First {
    frame: u64,
    client: (Addr, u16),
    server: (Addr, u16),
}

/// Per kind (`KINDS`), how many connections, and the first.
#[derive(Default)]
pub struct Unstarted {
    counts: [u64; 3],
    first: [Option<First>; 3],
}

/// What a kind is told with: (kind, count, first frame, client address, client port,
/// server address, server port).
pub type Told = (&'static str, u64, u64, Vec<u8>, u16, Vec<u8>, u16);

impl Unstarted {
    /// A flow that began with a SYN (`opened`, 0: the SYN's sender is the client) and
    /// ended with no byte either way: `synack` one came, `refused` the server's RST ended it.
    pub fn count(&mut self, opened: &Opened, synack: bool, refused: bool) {
        let kind = match (synack, refused) {
            (true, _) => 2,
            (false, true) => 0,
            (false, false) => 1,
        };
        let (src, dst) = ((opened.src, opened.sport), (opened.dst, opened.dport));
        let (client, server) = if opened.client_side == Some(1) {
            (dst, src)
        } else {
            (src, dst)
        };
        self.counts[kind] += 1;
        // The first by its first frame (not by its end: those the capture's end closed
        // close last).
        let first = &mut self.first[kind];
        if first
            .as_ref()
            .map_or(true, |first| opened.frame < first.frame)
        {
            *first = Some(First {
                frame: opened.frame,
                client,
                server,
            });
        }
    }

    /// The kinds seen, in `KINDS` order.
    pub fn told(&self) -> Vec<Told> {
        (KINDS.iter().zip(self.counts).zip(&self.first))
            .filter_map(|((&kind, count), first)| {
                let first = first.as_ref()?;
                let ((client, client_port), (server, server_port)) = (first.client, first.server);
                Some((
                    kind,
                    count,
                    first.frame,
                    client.as_bytes().to_vec(),
                    client_port,
                    server.as_bytes().to_vec(),
                    server_port,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Unstarted;
    use tlslens_core::flows::packet::Addr;
    use tlslens_core::flows::Opened;

    fn opened(flow: u64, frame: u64) -> Opened {
        Opened {
            flow,
            src: Addr::v4([10, 0, 0, 1]),
            sport: 40_000 + flow as u16,
            dst: Addr::v4([10, 0, 0, 2]),
            dport: 443,
            frame,
            ts_ns: 0,
            client_side: Some(0),
            mid_stream: false,
        }
    }

    #[test]
    fn each_kind_counts_and_keeps_its_first_connection() {
        let mut unstarted = Unstarted::default();
        unstarted.count(&opened(1, 5), false, true);
        unstarted.count(&opened(0, 1), false, true); // ends later, began first
        unstarted.count(&opened(2, 9), true, false);
        let told = unstarted.told();
        assert_eq!(told.len(), 2);
        let (kind, count, frame, client, port, server, server_port) = &told[0];
        assert_eq!(
            (*kind, *count, *frame, *port, *server_port),
            ("refused", 2, 1, 40_000, 443)
        );
        assert_eq!(
            (&client[..], &server[..]),
            (&[10, 0, 0, 1][..], &[10, 0, 0, 2][..])
        );
        assert_eq!((told[1].0, told[1].1, told[1].2), ("silent", 1, 9));
    }
}
