//! An association's handshake messages: reassembled (or refused), kept in the transcripts
//! its Finished are checked against, and the hellos that choose the version, the suite and
//! the keys of the epochs to come (`install`).

use super::{Association, At, DTLS13, EPOCH_APPLICATION, EPOCH_HANDSHAKE};
use crate::codec::Reader;
use crate::decrypt::{longer_than, Derivation};
use crate::dtls::handshake::{self, Outcome, Refusal, CLIENT_HELLO, HELLO_VERIFY_REQUEST};
use crate::dtls::hello;
use crate::dtls::transcript12::{self, Added, FinishedKey};
use crate::dtls::transcript13;
use crate::dtls::{keys, lack, DtlsEvent};
use crate::handshake::HRR_RANDOM;

impl Association {
    pub(super) fn handshake(&mut self, at: At, data: &[u8]) {
        self.handshake_seen = true;
        let side = usize::from(!at.from_client);
        let mut r = Reader::at_offset(data, at.base);
        while !r.is_empty() {
            let offset = r.offset();
            let (fragment, bytes) = match handshake::read_fragment(&mut r) {
                Ok(read) => read,
                Err(e) => {
                    let what = format!("handshake fragment: {e}");
                    self.finding(at.frame, at.from_client, e.offset(), what);
                    return;
                }
            };
            let limits = &self.limits;
            match self.sides[side]
                .reassembler
                .add((at.epoch, &fragment), bytes, limits, &self.pool)
            {
                Outcome::Complete {
                    msg_type,
                    message_seq,
                    tls,
                    fragments,
                } => self.message(at, (message_seq, fragments), msg_type, tls),
                Outcome::Partial => {}
                Outcome::Retransmission {
                    msg_type,
                    message_seq,
                } => {
                    if !self
                        .told_retransmissions
                        .contains(&(side, message_seq, false))
                    {
                        self.told_retransmissions.push((side, message_seq, false));
                        self.events.push_back(DtlsEvent::Retransmission {
                            frame: at.frame,
                            from_client: at.from_client,
                            message_seq,
                            msg_type,
                        });
                    }
                }
                Outcome::Differs {
                    msg_type,
                    message_seq,
                    how,
                } => {
                    // Told once a datagram and message, as a retransmission is.
                    if !self
                        .told_retransmissions
                        .contains(&(side, message_seq, true))
                    {
                        self.told_retransmissions.push((side, message_seq, true));
                        let what = how.text(msg_type, (at.epoch, message_seq));
                        self.finding(at.frame, at.from_client, offset, what);
                    }
                }
                Outcome::Refused {
                    msg_type,
                    message_seq,
                    why,
                } => {
                    if matches!(why, Refusal::TooLong { .. }) {
                        self.skipped_hello_random(at, &fragment, bytes);
                    }
                    // A message too long, or past the bounds held, refuses each of its
                    // fragments alike: said once (a Certificate in 7 fragments was 7 lines).
                    let alike = matches!(why, Refusal::TooLong { .. } | Refusal::Held { .. });
                    if !(alike && self.told_lacking.contains(&(at.from_client, message_seq))) {
                        let what = why.text(msg_type, message_seq);
                        self.finding(at.frame, at.from_client, offset, what);
                        let named = crate::handshake::type_name(msg_type).is_some();
                        if let (Refusal::TooLong { length, limit }, true) = (&why, named) {
                            // Its step of the timeline, at its first fragment's place (a
                            // known type only, as over TCP: content/skipped.rs).
                            self.events.push_back(DtlsEvent::Skipped {
                                frame: at.frame,
                                from_client: at.from_client,
                                offset,
                                msg_type,
                                claimed: *length,
                                limit: *limit,
                            });
                        }
                    }
                    let why = lack::refused(at.from_client, msg_type, &why);
                    self.lacking((at.frame, at.from_client), message_seq, msg_type, why);
                }
                Outcome::Pooled {
                    msg_type,
                    message_seq,
                } => self.pooled(at, offset, (msg_type, message_seq)),
            }
        }
    }

    /// A ClientHello refused for its length: its random, bytes 2 to 34 of its first
    /// fragment (after client_version, RFC 6347 §4.2.2), still finds the secrets, as over
    /// TCP (handshake/defrag.rs). Told once a random (a cookie exchange sends it twice).
    fn skipped_hello_random(&mut self, at: At, fragment: &handshake::Fragment, bytes: &[u8]) {
        if fragment.msg_type != CLIENT_HELLO || !at.from_client || fragment.fragment_offset != 0 {
            return;
        }
        let Some(random) = bytes.get(2..34).and_then(|b| <[u8; 32]>::try_from(b).ok()) else {
            return;
        };
        if self.client_random != Some(random) {
            self.client_random = Some(random);
            let frame = at.frame;
            self.events
                .push_back(DtlsEvent::HelloRandom { frame, random });
        }
    }

    /// A message the shared pool had no room for: the finding told once an association, the
    /// message lacking told for each.
    fn pooled(&mut self, at: At, offset: usize, (msg_type, message_seq): (u8, u16)) {
        let max_mib = self.pool.max() >> 20;
        if !std::mem::replace(&mut self.pooled, true) {
            let what = format!(
                "handshake message {message_seq} came in fragments and is not reassembled, nor \
                 any other in fragments while the capture's DTLS associations hold {max_mib} \
                 MiB of incomplete messages, their bound"
            );
            self.finding(at.frame, at.from_client, offset, what);
        }
        let why = lack::pooled(at.from_client, msg_type, max_mib);
        self.lacking((at.frame, at.from_client), message_seq, msg_type, why);
    }

    /// A whole message: `(message_seq, fragments)` it came in.
    fn message(
        &mut self,
        at: At,
        (message_seq, fragments): (u16, usize),
        msg_type: u8,
        tls: Vec<u8>,
    ) {
        let body = tls.get(4..).unwrap_or(&[]);
        let read = match msg_type {
            CLIENT_HELLO if at.from_client => {
                // A new transcript (or the same handshake's, after a cookie or a retry):
                // its messages lacking are told anew.
                self.told_lacking.clear();
                self.client_hello(at, message_seq, &tls)
            }
            handshake::SERVER_HELLO if !at.from_client => self.server_hello(at, body),
            HELLO_VERIFY_REQUEST if !at.from_client => {
                hello::read_hello_verify_request(body).map(|(version, cookie)| {
                    self.events.push_back(DtlsEvent::HelloVerifyRequest {
                        frame: at.frame,
                        version,
                        cookie,
                    });
                })
            }
            _ => Ok(()),
        };
        if let Err(e) = read {
            let what = format!("handshake message {message_seq} (type {msg_type}): {e}");
            self.finding(at.frame, at.from_client, at.base, what);
        }
        self.transcript(at, message_seq, &tls);
        self.events.push_back(DtlsEvent::Message {
            frame: at.frame,
            from_client: at.from_client,
            epoch: at.epoch,
            message_seq,
            msg_type,
            tls,
            fragments,
        });
    }

    /// The message into the transcript of its version; a CertificateVerify's or a
    /// Finished's check told before it.
    fn transcript(&mut self, at: At, message_seq: u16, tls: &[u8]) {
        let keys = self.keys.clone();
        let secrets = (keys.as_deref().zip(self.client_random))
            .and_then(|(keys, random)| keys.secrets.get(&random));
        let alg = self.suite.as_ref().map(|s| s.hash);
        let from = (at.frame, at.from_client);
        let event = match self.version {
            Some(DTLS13) => self.transcript.add(from, tls, alg, secrets),
            None => {
                // Before the ServerHello names the version, either given up is told.
                let kept13 = self.transcript.add(from, tls, alg, secrets);
                match self.transcript12.add(from, message_seq, tls, None) {
                    Added::Kept(event) if matches!(kept13, Added::Kept(_)) => Added::Kept(event),
                    Added::Kept(event) | Added::GivenUp(event) => Added::GivenUp(event),
                }
            }
            Some(version) => {
                let key = secrets.and_then(|s| s.master_secret.as_deref());
                let key = key.zip(alg).map(|(master, prf_hash)| FinishedKey {
                    tls_version: keys::tls_version(version),
                    prf_hash,
                    master,
                });
                self.transcript12.add(from, message_seq, tls, key)
            }
        };
        let event = match event {
            Added::Kept(event) => event,
            Added::GivenUp(event) => {
                self.transcript_given_up(at, message_seq, tls);
                event
            }
        };
        if let (Some(event), Some(_)) = (event, self.version) {
            self.events.push_back(event);
        }
    }

    /// The message at `at` took the handshake's transcript past its bound (the same for
    /// every version): a finding says it where it happened, and the handshake's Finished and
    /// CertificateVerify after it are not checked, said as a message it lacks (a Finished
    /// recomputed without the messages cannot match, whatever the secret).
    fn transcript_given_up(&mut self, at: At, message_seq: u16, tls: &[u8]) {
        const _: () = assert!(transcript12::MAX_TRANSCRIPT == transcript13::MAX_TRANSCRIPT);
        let most = transcript13::MAX_TRANSCRIPT;
        let msg_type = tls.first().copied().unwrap_or_default();
        let what = format!(
            "handshake message {}, message_seq {message_seq}, takes the handshake past the {} \
             MiB ({} bytes) of transcript tlslens keeps: the transcript is given up, and the \
             Finished and CertificateVerify messages after it are not checked",
            crate::handshake::type_text(msg_type),
            most >> 20,
            crate::capture::thousands(most as u64)
        );
        self.finding(at.frame, at.from_client, at.base, what);
        self.lacking(
            (at.frame, at.from_client),
            message_seq,
            msg_type,
            longer_than(most),
        );
    }

    fn client_hello(
        &mut self,
        at: At,
        message_seq: u16,
        message: &[u8],
    ) -> crate::codec::CodecResult<()> {
        let hello = hello::read_hello(CLIENT_HELLO, message.get(4..).unwrap_or(&[]))?;
        let tls =
            hello::without_cookie(message, hello.cookie_at, hello.cookie.len()).unwrap_or_default();
        self.client_random = Some(hello.random);
        // The ID the client asked for is carried by the server's records.
        self.sides[1].cid_len = hello.cid.as_ref().map_or(0, Vec::len);
        self.client_cid = hello.cid;
        self.draft_cid = hello.draft_cid;
        self.events.push_back(DtlsEvent::ClientHello {
            frame: at.frame,
            epoch: at.epoch,
            message_seq,
            random: hello.random,
            cookie: hello.cookie,
            tls,
        });
        Ok(())
    }

    fn server_hello(&mut self, at: At, body: &[u8]) -> crate::codec::CodecResult<()> {
        let hello = hello::read_hello(handshake::SERVER_HELLO, body)?;
        let version = hello.selected_version.unwrap_or(hello.version);
        self.version = Some(version);
        self.sides[0].cid_len = hello.cid.as_ref().map_or(0, Vec::len);
        if hello.cid.is_none() {
            // RFC 9146 §3: a server that omits the extension uses no connection IDs, and
            // the client's records towards it then carry none either.
            self.sides[1].cid_len = 0;
        }
        self.draft_cid |= hello.draft_cid;
        self.events.push_back(DtlsEvent::Negotiated {
            frame: at.frame,
            version,
            suite: hello.suite,
            client_cid: self.client_cid.clone(),
            server_cid: hello.cid.clone(),
        });
        let mut derived = Derivation::default();
        if let Err(what) = self.install(&hello, version, &mut derived) {
            self.finding(at.frame, at.from_client, at.base, what);
        }
        // A HelloRetryRequest opens no epoch: the ServerHello after it begins the handshake.
        if self.keys.is_some() && hello.random != HRR_RANDOM {
            self.new_derivation(derived);
        }
        Ok(())
    }

    /// Keys for the epochs the ServerHello opens, from the key log, and into `derived` the
    /// values made on the way; Err says why none.
    fn install(
        &mut self,
        hello: &hello::Hello,
        version: u16,
        derived: &mut Derivation,
    ) -> Result<(), String> {
        let Some(keys) = self.keys.clone() else {
            return Ok(());
        };
        let suite_id = hello.suite;
        let suite = keys.suites.get(&suite_id).ok_or_else(|| {
            format!(
                "suite 0x{suite_id:04x} has no record protection here: its records stay encrypted"
            )
        })?;
        let client_random = self.client_random.unwrap_or([0; 32]);
        // A key log without this connection is no fault of the capture: the connection's
        // decryption status says it (as over TCP), not a finding.
        let Some(secrets) = keys.secrets.get(&client_random) else {
            return Ok(());
        };
        self.suite = Some(suite.clone());
        derived.source.clone_from(&secrets.origin);
        if version == DTLS13 {
            // Epoch by epoch, the client's then the server's: the order they come into use.
            let epochs = [
                (
                    EPOCH_HANDSHAKE,
                    "handshake",
                    [&secrets.client_handshake, &secrets.server_handshake],
                ),
                (
                    EPOCH_APPLICATION,
                    "application",
                    [&secrets.client_application, &secrets.server_application],
                ),
            ];
            for (epoch, phase, secrets) in epochs {
                for (side, (sender, secret)) in ["client", "server"].iter().zip(secrets).enumerate()
                {
                    let Some(secret) = secret else {
                        continue;
                    };
                    let (k, values) = keys::dtls13(suite, secret, &format!("{sender}_{phase}"))?;
                    derived.values.extend(values);
                    let s = &mut self.sides[side];
                    s.epochs.insert(epoch, k);
                    if epoch == EPOCH_APPLICATION {
                        s.app_secret = Some((EPOCH_APPLICATION, secret.clone()));
                    }
                }
            }
            return Ok(());
        }
        let master = secrets
            .master_secret
            .as_ref()
            .ok_or("the key log has no master secret for this connection")?;
        let (client, server, values) = keys::dtls12(
            suite,
            (version, hello.encrypt_then_mac),
            master,
            (&client_random, &hello.random),
        )?;
        derived.values.extend(values);
        // A renegotiation's keys are the next epoch's.
        for (side, k) in [(0, client), (1, server)] {
            let s = &mut self.sides[side];
            let epoch = s
                .epochs
                .last_key_value()
                .map_or(1, |(e, _)| e.saturating_add(1));
            s.epochs.insert(epoch, k);
            while s.epochs.len() > self.limits.max_epochs {
                s.epochs.pop_first();
            }
        }
        Ok(())
    }
}
