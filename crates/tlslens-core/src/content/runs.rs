//! Application data as the timeline tells it: runs of same-kind records folded into one
//! step, and what a connection's statistics count per side (application data records and
//! bytes, and the stream's gaps), kept here so that the caller reads them once at the end
//! instead of adding up every step. TLS 1.3's encrypted handshake records are not counted
//! as application data, though their outer type says so: the timeline tells them as the
//! handshake, and the key log opens them as such (a handshake the client aborted after the
//! server's flight exchanged no application data, with keys or without).
//!
//! The counts are of the steps the caller told: when it drops the events of a batch it was
//! reading (a bug stopped it: the connection is then not read further), the records and
//! gaps of that batch leave the counts too ([`Content::told`], [`Content::drop_untold`]).

use super::flights::Told;
use super::{Content, ContentEvent};
use crate::flows::tcp::GiveUp;

/// What kind of application data a run of records is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    ApplicationData,
    /// TLS 1.3 0-RTT data, before the server's hello (or opened with the early secret).
    EarlyData,
}

/// A run of application data records of one side and kind: `records` records of `length`
/// bytes from `offset` (plaintext lengths when decrypted; `plaintext`: each record's, when
/// asked for).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataRun {
    pub side: u8,
    pub kind: DataKind,
    pub offset: u64,
    pub records: u64,
    pub length: u64,
    pub decrypted: bool,
    pub plaintext: Vec<Vec<u8>>,
}

impl DataRun {
    /// `next` (the records after this run's) joins it when the timeline would fold them
    /// into one step: same side and kind, and an undecrypted run joins any run of its kind,
    /// a decrypted one only a decrypted run. Err: `next` begins a run of its own.
    pub fn absorb(&mut self, next: DataRun) -> Result<(), DataRun> {
        if self.side != next.side || self.kind != next.kind || (next.decrypted && !self.decrypted) {
            return Err(next);
        }
        self.records = self.records.saturating_add(next.records);
        self.length = self.length.saturating_add(next.length);
        self.plaintext.extend(next.plaintext);
        Ok(())
    }
}

/// One side's counts of a connection, as its statistics tell them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SideCounts {
    /// Application data records (not TLS 1.3's encrypted handshake ones, though sent as
    /// application data records) and their bytes (plaintext lengths when decrypted).
    pub application_data_records: u64,
    pub application_data_bytes: u64,
    /// Holes in the stream once TLS started, and the bytes missing.
    pub gaps: u64,
    pub gap_bytes: u64,
}

/// Both sides' counts: as read so far, and as of the caller's last [`Content::told`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Counts {
    read: [SideCounts; 2],
    told: [SideCounts; 2],
}

impl Content {
    /// What `side` counted so far.
    pub fn counts(&self, side: u8) -> SideCounts {
        self.counts
            .read
            .get(usize::from(side & 1))
            .copied()
            .unwrap_or_default()
    }

    fn counts_mut(&mut self, side: u8) -> &mut SideCounts {
        &mut self.counts.read[usize::from(side & 1)]
    }

    /// The caller handed on every event drained so far (a batch ends): what is counted now
    /// stays counted.
    pub fn told(&mut self) {
        self.counts.told = self.counts.read;
    }

    /// The caller dropped what it read since [`Content::told`] (a bug stopped it in the
    /// middle of a batch): its records and gaps are not counted, and the run of application
    /// data and the events still held go with it.
    pub fn drop_untold(&mut self) {
        self.counts.read = self.counts.told;
        self.run = None;
        self.out.clear();
    }

    /// `length` bytes of `side` at `offset` are missing from the capture (`given_up`: or
    /// tlslens stopped waiting for them): a step of the timeline, once TLS started (before,
    /// there is no connection to tell it of).
    pub fn gap(&mut self, side: u8, (offset, length): (u64, u64), given_up: Option<GiveUp>) {
        if !self.started {
            return;
        }
        let counts = self.counts_mut(side);
        counts.gaps = counts.gaps.saturating_add(1);
        counts.gap_bytes = counts.gap_bytes.saturating_add(length);
        self.push(ContentEvent::Gap {
            side: side & 1,
            offset,
            length,
            given_up,
        });
    }

    /// One application data record (`decrypted`: `length` is its plaintext's).
    pub(super) fn data(
        &mut self,
        side: u8,
        kind: DataKind,
        offset: u64,
        length: usize,
        plaintext: Option<Vec<u8>>,
    ) {
        let counts = self.counts_mut(side);
        counts.application_data_records = counts.application_data_records.saturating_add(1);
        counts.application_data_bytes = counts
            .application_data_bytes
            .saturating_add(u64::try_from(length).unwrap_or(u64::MAX));
        let decrypted = plaintext.is_some();
        let plaintext: Vec<Vec<u8>> = plaintext
            .filter(|_| self.keep_plaintext)
            .into_iter()
            .collect();
        let record = DataRun {
            side,
            kind,
            offset,
            records: 1,
            length: u64::try_from(length).unwrap_or(u64::MAX),
            decrypted,
            plaintext,
        };
        let record = match &mut self.run {
            Some(run) => match run.absorb(record) {
                Ok(()) => return,
                Err(record) => record,
            },
            None => record,
        };
        self.flush();
        self.run = Some(record);
    }

    /// A record of `side` its caller knows to be the encrypted handshake by its header
    /// (DTLS 1.3's epoch 2, RFC 9147 §6.1), unread: a step, and the client's ends the
    /// flights [`Content::skipped`] takes for the handshake (the records after it are of the
    /// application epoch, whatever comes first).
    pub fn sealed_handshake(&mut self, side: u8, offset: u64, length: usize) {
        if self.is_client(side) {
            self.flights.client_told();
        }
        self.push(ContentEvent::EncryptedHandshake {
            side,
            offset,
            length,
        });
    }

    /// An application data record whose body is not read (no keys, or skipped).
    pub fn skipped(&mut self, side: u8, offset: u64, length: usize) {
        let is_client = self.is_client(side);
        let told = if self.tls13_encrypted {
            self.flights.sealed(is_client, length)
        } else if is_client && !self.server_hello_seen && self.offered_early_data() {
            Told::EarlyData
        } else {
            Told::ApplicationData
        };
        let kind = match told {
            Told::Handshake => {
                // The encrypted flights of TLS 1.3 (flights.rs). Not application data,
                // whatever their outer type: the handshake, as the timeline tells them (with
                // the key log they open as EncryptedExtensions ... Finished).
                self.push(ContentEvent::EncryptedHandshake {
                    side,
                    offset,
                    length,
                });
                return;
            }
            Told::EarlyData => DataKind::EarlyData,
            Told::ApplicationData => DataKind::ApplicationData,
        };
        self.data(side, kind, offset, length, None);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::KNOWN;
    use super::Content;
    use crate::handshake::defrag::MAX_HANDSHAKE_MESSAGE;

    #[test]
    fn a_batch_dropped_by_the_caller_is_not_counted() {
        let mut content = Content::new(Some(0), MAX_HANDSHAKE_MESSAGE, &KNOWN, false);
        content.set_client_side(0);
        content.skipped(0, 0, 10);
        content.gap(1, (100, 7), None);
        content.flush();
        assert_eq!(content.drain().count(), 2);
        content.told();
        // The next batch: records and a gap read, then the caller drops the batch.
        content.skipped(0, 15, 20);
        content.skipped(1, 107, 30);
        content.gap(0, (40, 3), None);
        assert_eq!(content.counts(0).application_data_records, 2);
        content.drop_untold();
        let (client, server) = (content.counts(0), content.counts(1));
        assert_eq!(
            (
                client.application_data_records,
                client.application_data_bytes
            ),
            (1, 10)
        );
        assert_eq!((client.gaps, client.gap_bytes), (0, 0));
        assert_eq!(
            (
                server.application_data_records,
                server.gaps,
                server.gap_bytes
            ),
            (0, 1, 7)
        );
        // Nothing of the dropped batch is told later either: the run held went with it.
        content.flush();
        assert_eq!(content.drain().count(), 0);
        content.skipped(0, 40, 5);
        content.flush();
        assert_eq!(content.counts(0).application_data_records, 2);
        assert!(matches!(
            content.drain().collect::<Vec<_>>().as_slice(),
            [super::ContentEvent::ApplicationData(run)] if run.records == 1 && run.offset == 40
        ));
    }
}
