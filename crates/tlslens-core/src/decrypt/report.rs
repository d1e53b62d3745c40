//! What a connection's secrets opened, and which key-log labels it lacked.
//!
//! A key log is often partial: a TLS 1.3 client that aborts its handshake logged the
//! handshake secrets and never the application ones. The `decryption` object of
//! `show --json` says which parts were read and names each secret that was missing, so
//! that "decrypted" never hides half a connection.

use super::keylog::{KeyLog, CLIENT_RANDOM, EARLY};
use super::{Decryptor, Dir, Lack, Status};

/// What opens a TLS 1.3 connection's records after the ServerHello, in the order used.
pub const TLS13_TRAFFIC_LABELS: [&str; 4] = [
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
];
/// The secrets of the application data, derived only once a TLS 1.3 handshake completes.
const TLS13_APPLICATION_LABELS: [&str; 2] = ["CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"];

/// No ServerHello read (lost, cut from the capture, skipped or dropped by tlslens: `lacks`,
/// or after tlslens stopped reading the connection): the version, the suite and the server random it names are unknown, so no
/// secret can become keys. The key log is not to blame, whatever it holds.
fn no_server_hello(random: &[u8], stopped: Option<&str>, lacks: Option<Lack>) -> String {
    let why = match (stopped, lacks) {
        (Some(stopped), _) => {
            format!("tlslens stopped reading the connection before its ServerHello, {stopped};")
        }
        (None, Some(lack)) => format!("{}, so", lack.text(Dir::S2C)),
        (None, None) => "the ServerHello was not captured (lost or cut), so".to_owned(),
    };
    format!(
        "{why} the cipher suite and the server random are unknown and the keys cannot be \
         used: the key log's secrets for client random {} are not at fault",
        random_text(random)
    )
}

pub(super) fn random_text(random: &[u8]) -> String {
    let shown: String = random.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{shown}…")
}

impl Decryptor {
    /// The key-log labels this connection's records need and the key log lacks: the four
    /// TLS 1.3 traffic secrets (and the early one where 0-RTT was sent), or CLIENT_RANDOM
    /// when no other source (RSA key, PSK, a resumed session) gave the master secret.
    ///
    /// A TLS 1.3 handshake that failed before it completed never reached its application
    /// traffic secrets (the aborting side never derived them, so no key log can hold them):
    /// they are not asked for then.
    pub fn missing_secrets(&self, keylog: &KeyLog, failed_in_handshake: bool) -> Vec<&'static str> {
        if self.client_random.is_empty() {
            return Vec::new();
        }
        let mut labels = Vec::new();
        if self.early_seen && self.early_offered {
            labels.push(EARLY);
        }
        if self.tls13 {
            labels.extend(
                TLS13_TRAFFIC_LABELS
                    .iter()
                    .filter(|l| !failed_in_handshake || !TLS13_APPLICATION_LABELS.contains(l)),
            );
        } else if self.version.is_some() && self.master_secret.is_none() {
            labels.push(CLIENT_RANDOM);
        }
        keylog.retain_missing(&self.client_random, &mut labels);
        labels
    }

    /// The reason `show --json` gives: the one kept, else why nothing (or not all) opened;
    /// `stopped`: where and why tlslens stopped reading the connection (a bound met), which
    /// then explains a ServerHello never read. A Finished not checked adds why (lack.rs), and
    /// each side's first gap what became of its records (resync.rs).
    pub fn reason_text(
        &self,
        keylog: &KeyLog,
        missing: &[&str],
        stopped: Option<&str>,
    ) -> Option<String> {
        let reason = self.reason.clone();
        let reason = reason.or_else(|| self.status_text(keylog, missing, stopped));
        // Secrets found without a ClientHello read say whose random found them; a Finished
        // not checked, and the records a gap of the capture took, are said whatever else
        // is: they are why a verdict is not there, or what it stands on.
        let clauses = [
            self.transport_random_text(),
            reason,
            self.unchecked_text(),
            self.by_handshake_text(),
            self.resync_text(),
        ];
        let said: Vec<String> = clauses.into_iter().flatten().collect();
        (!said.is_empty()).then(|| said.join("; "))
    }

    /// Why the status is what it is, when no reason was kept as it happened.
    fn status_text(
        &self,
        keylog: &KeyLog,
        missing: &[&str],
        stopped: Option<&str>,
    ) -> Option<String> {
        let random = &self.client_random;
        match self.status {
            Status::NoSecret if random.is_empty() => Some(self.no_client_hello()),
            Status::NoSecret if self.version.is_none() && keylog.knows(random) => {
                Some(no_server_hello(random, stopped, self.server_hello_lack))
            }
            // Application secrets are tried record by record: none opened.
            Status::NoSecret if keylog.knows(random) => Some(format!(
                "the key log's secrets for client random {} open no record of this connection",
                random_text(random)
            )),
            // An RSA key or a PSK alone opens only its own key exchange: no key log to
            // search is not "nothing usable given".
            Status::NoSecret if keylog.is_empty() && (self.rsa_keys || self.psk.is_some()) => {
                Some(format!(
                    "the RSA key or PSK given does not open this key exchange, and no key log \
                     holds client random {}",
                    random_text(random)
                ))
            }
            Status::NoSecret => {
                Some(keylog.holds_nothing_for(&format!("client random {}", random_text(random))))
            }
            Status::Decrypted if !missing.is_empty() => {
                // A renegotiation looks its secrets up by its own client random.
                let which = if self.handshakes > 1 {
                    format!(
                        "renegotiation {} (client random {})",
                        self.handshakes - 1,
                        random_text(random)
                    )
                } else {
                    "this session".to_owned()
                };
                Some(format!(
                    "the key log has no {} for {which}",
                    missing.join(", ")
                ))
            }
            // Secrets found, no record opened: a bound stopped the reading before any.
            Status::Decrypted if self.opened == 0 => stopped.map(|stopped| {
                format!(
                    "the secrets are there, and tlslens stopped reading the connection before \
                     any protected record, {stopped}"
                )
            }),
            _ => None,
        }
    }
}
