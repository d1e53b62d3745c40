//! The decryptor on handshakes built here: TLS 1.3 with every secret, with the handshake
//! secret missing (the application keys on trial), TLS 1.2 with an RSA key exchange, and
//! the key log's parser on good and bad lines.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes128Gcm;

use super::fuzzing::suites;
use super::keylog::{KeyLog, Problem};
use super::store::MAX_SESSIONS;
use super::{Decryptor, Dir, Env, ExternalFactory, Opened, Part, SessionCache, Status};
use crate::keys::{hkdf, HashAlg};
use crate::protection::{xor_seq, ExternalCbc};

pub(super) const CR: [u8; 32] = [0xC1; 32];
pub(super) const SHTS: [u8; 32] = [0x22; 32];
const CHTS: [u8; 32] = [0x11; 32];
pub(super) const STS0: [u8; 32] = [0x33; 32];

pub(super) fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).unwrap().to_be_bytes();
    [&[msg_type], &len[1..], body].concat()
}

pub(super) fn client_hello(suite: u16) -> Vec<u8> {
    let body = [
        &[3, 3][..],
        &CR,
        &[0, 0, 2],
        &suite.to_be_bytes(),
        &[1, 0, 0, 0],
    ]
    .concat();
    message(1, &body)
}

pub(super) fn server_hello(suite: u16, tls13: bool) -> Vec<u8> {
    let exts: &[u8] = if tls13 {
        &[0, 6, 0, 0x2b, 0, 2, 3, 4]
    } else {
        &[0, 0]
    };
    let body = [
        &[3, 3][..],
        &[0x5E; 32],
        &[0],
        &suite.to_be_bytes(),
        &[0],
        exts,
    ]
    .concat();
    message(2, &body)
}

pub(super) fn line(label: &str, secret: &[u8]) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!("{label} {} {}\n", hex(&CR), hex(secret))
}

/// A TLS 1.3 record of `content` (its real type `ctype`) under a traffic secret.
pub(super) fn seal(secret: &[u8], seq: u64, ctype: u8, content: &[u8]) -> Vec<u8> {
    let (key, iv) = hkdf::traffic_keys(HashAlg::Sha256, secret, 16, 12).unwrap();
    let inner = [content, &[ctype]].concat();
    let len = u16::try_from(inner.len() + 16).unwrap().to_be_bytes();
    let aad = [&[23, 3, 3][..], &len].concat();
    let aead = Aes128Gcm::new_from_slice(&key).unwrap();
    let nonce = xor_seq(&iv, seq);
    aead.encrypt(
        (&nonce).into(),
        Payload {
            msg: &inner,
            aad: &aad,
        },
    )
    .unwrap()
}

/// TLS_RSA_WITH_SEED_CBC_SHA: a cipher the caller supplies.
const SEED_SUITE: u16 = 0x0096;

pub(super) struct Run {
    pub(super) keylog: KeyLog,
    sessions: SessionCache,
    pub(super) dec: Decryptor,
}

impl Run {
    pub(super) fn new(keylog_text: &str) -> Self {
        Self::with_external(keylog_text, None)
    }

    fn with_external(keylog_text: &str, external: Option<ExternalFactory>) -> Self {
        let mut keylog = KeyLog::new();
        keylog.add_text(keylog_text, "test.keys", "keylog");
        Self {
            keylog,
            sessions: SessionCache::new(),
            dec: Decryptor::new(None, true, external),
        }
    }

    pub(super) fn message(&mut self, dir: Dir, raw: &[u8]) -> Option<super::RsaRequest> {
        let suites = suites();
        let mut env = Env {
            keylog: &self.keylog,
            sessions: &mut self.sessions,
            suites: &suites,
        };
        self.dec.on_message(&mut env, dir, raw)
    }

    pub(super) fn change_cipher_spec(&mut self, dir: Dir) {
        let suites = suites();
        let mut env = Env {
            keylog: &self.keylog,
            sessions: &mut self.sessions,
            suites: &suites,
        };
        self.dec.on_change_cipher_spec(&mut env, dir);
    }

    /// The names of the current handshake's derived values, in order.
    fn names(&self) -> Vec<&str> {
        self.dec
            .derivation()
            .iter()
            .map(|(n, _)| n.as_str())
            .collect()
    }

    pub(super) fn open(&mut self, dir: Dir, body: &[u8]) -> Opened {
        let suites = suites();
        let env = Env {
            keylog: &self.keylog,
            sessions: &mut self.sessions,
            suites: &suites,
        };
        self.dec.open(&env, dir, 23, 0x0303, body)
    }
}

/// The caller's SEED cipher, broken (as Python's is when it raises an Exception).
struct Broken;

impl ExternalCbc for Broken {
    fn decrypt(&mut self, _: &[u8], _: &[u8]) -> Result<Vec<u8>, String> {
        Err("RuntimeError: SEED broke".to_owned())
    }
}

fn broken(_: &[u8]) -> Box<dyn ExternalCbc> {
    Box::new(Broken)
}

#[test]
fn a_failure_of_the_callers_cipher_is_a_fault_not_a_wrong_secret() {
    let text = format!("CLIENT_RANDOM {} {}\n", "c1".repeat(32), "11".repeat(48));
    let mut run = Run::with_external(&text, Some(broken));
    run.message(Dir::C2S, &client_hello(SEED_SUITE));
    run.message(Dir::S2C, &server_hello(SEED_SUITE, false));
    assert_eq!(run.dec.status, Status::Decrypted); // the keys are derived
    run.change_cipher_spec(Dir::S2C);
    let fault = "internal error in the SEED_CBC decryption (RuntimeError: SEED broke); this \
                 connection's records are not decrypted from here on";
    // Two blocks: a whole number of them, room for the IV and SHA-1's MAC (the record
    // protection's own checks pass, so that the cipher is called).
    assert_eq!(
        run.open(Dir::S2C, &[0; 48]),
        Opened::Fault(fault.to_owned())
    );
    assert_eq!(run.dec.reason.as_deref(), Some(fault));
    assert_eq!(run.dec.status, Status::Decrypted); // not the secret's fault
    assert_eq!(run.dec.results[1].records_failed_integrity, 0);
    // The decryption stopped there: the next records are not tried.
    assert_eq!(run.open(Dir::S2C, &[0; 48]), Opened::NoKey);
    run.change_cipher_spec(Dir::C2S);
    assert_eq!(run.open(Dir::C2S, &[0; 48]), Opened::NoKey);
}

/// The hellos of a TLS 1.3 connection (TLS_AES_128_GCM_SHA256) told to `run`, and the
/// server's EncryptedExtensions and Finished after them (its Finished over the transcript,
/// with `SHTS`), for the caller to seal and read.
pub(super) fn tls13_server_flight(run: &mut Run) -> [Vec<u8>; 2] {
    let (ch, sh) = (client_hello(0x1301), server_hello(0x1301, true));
    run.message(Dir::C2S, &ch);
    run.message(Dir::S2C, &sh);
    let ee = message(8, &[0, 0]);
    let transcript = HashAlg::Sha256.digest(&[&ch, &sh, &ee]);
    let verify = hkdf::finished_verify_data(HashAlg::Sha256, &SHTS, &transcript).unwrap();
    [ee, message(20, &verify)]
}

#[test]
fn tls13_handshake_opens_and_its_finished_verifies() {
    let text = [
        line("SERVER_HANDSHAKE_TRAFFIC_SECRET", &SHTS),
        line("CLIENT_HANDSHAKE_TRAFFIC_SECRET", &CHTS),
        line("SERVER_TRAFFIC_SECRET_0", &STS0),
    ]
    .concat();
    let mut run = Run::new(&text);
    let [ee, fin] = tls13_server_flight(&mut run);
    let flight = [ee.clone(), fin.clone()].concat();
    let opened = run.open(Dir::S2C, &seal(&SHTS, 0, 22, &flight));
    assert_eq!(opened, Opened::Plain(22, flight));
    run.message(Dir::S2C, &ee);
    run.message(Dir::S2C, &fin);
    assert_eq!(run.dec.results[1].finished_verified, Some(true));
    let opened = run.open(Dir::S2C, &seal(&STS0, 0, 23, b"hello"));
    assert_eq!(opened, Opened::Plain(23, b"hello".to_vec()));
    assert_eq!(run.dec.status, Status::Decrypted);
    assert_eq!(run.dec.source.as_deref(), Some("keylog"));
    assert!(run.dec.opened(Part::Handshake, Dir::S2C));
    assert!(run.dec.opened(Part::ApplicationData, Dir::S2C));
    assert_eq!(run.dec.results[1].plaintext_bytes, 5);
    let names = run.names();
    assert_eq!(
        names[..3],
        [
            "client_handshake_traffic_secret",
            "client_handshake_write_key",
            "client_handshake_write_iv"
        ]
    );
    assert_eq!(names.last(), Some(&"server_application_write_iv"));
    // The client's application secret is the one missing.
    assert_eq!(
        run.dec.missing_secrets(&run.keylog, false),
        ["CLIENT_TRAFFIC_SECRET_0"]
    );
    let reason = run
        .dec
        .reason_text(&run.keylog, &["CLIENT_TRAFFIC_SECRET_0"], None);
    assert_eq!(
        reason.as_deref(),
        Some("the key log has no CLIENT_TRAFFIC_SECRET_0 for this session")
    );
}

#[test]
fn without_the_handshake_secret_the_application_keys_are_tried_per_record() {
    let mut run = Run::new(&line("SERVER_TRAFFIC_SECRET_0", &STS0));
    run.message(Dir::C2S, &client_hello(0x1301));
    run.message(Dir::S2C, &server_hello(0x1301, true));
    assert_eq!(
        run.open(Dir::S2C, &seal(&SHTS, 0, 22, b"flight")),
        Opened::NoKey
    );
    assert_eq!(run.dec.status, Status::NoSecret);
    let opened = run.open(Dir::S2C, &seal(&STS0, 0, 23, b"data"));
    assert_eq!(opened, Opened::Plain(23, b"data".to_vec()));
    assert_eq!(run.dec.status, Status::Decrypted);
    assert!(!run.dec.opened(Part::Handshake, Dir::S2C));
    assert!(run.dec.opened(Part::ApplicationData, Dir::S2C));
    assert!(!run.dec.transcript_complete());
    // A second record is under the same keys, now in force: its sequence number is 1.
    let opened = run.open(Dir::S2C, &seal(&STS0, 1, 23, b"more"));
    assert_eq!(opened, Opened::Plain(23, b"more".to_vec()));
}

#[test]
fn a_record_of_another_session_fails_and_says_so() {
    let mut run = Run::new(&line("SERVER_HANDSHAKE_TRAFFIC_SECRET", &SHTS));
    run.message(Dir::C2S, &client_hello(0x1301));
    run.message(Dir::S2C, &server_hello(0x1301, true));
    let Opened::Failed(reason) = run.open(Dir::S2C, &seal(&STS0, 0, 22, b"x")) else {
        panic!("a record under other keys opened");
    };
    assert_eq!(reason, "record 0: the AEAD tag does not verify");
    assert_eq!(run.dec.status, Status::WrongSecret);
    assert_eq!(run.dec.results[1].records_failed_integrity, 1);
}

#[test]
fn an_rsa_key_exchange_is_asked_of_the_caller_once() {
    let mut run = Run::new("");
    run.message(Dir::C2S, &client_hello(0x002F));
    run.message(Dir::S2C, &server_hello(0x002F, false));
    let cke = message(16, &[0, 4, 0xAA, 0xBB, 0xCC, 0xDD]);
    let request = run.message(Dir::C2S, &cke).expect("an RSA request");
    assert_eq!(request.encrypted, [0xAA, 0xBB, 0xCC, 0xDD]);
    assert_eq!(request.versions, (0x0303, 0x0303));
    let premaster = [[3u8, 3].as_slice(), &[7; 46]].concat();
    run.dec.rsa_premaster(Some(&premaster));
    run.dec.rsa_premaster(None); // a second answer is not asked for: ignored
    assert_eq!(run.dec.status, Status::Decrypted);
    assert_eq!(run.dec.source.as_deref(), Some("rsa_key"));
    assert_eq!(run.dec.reason, None);
    let names = run.names();
    assert_eq!(
        names,
        [
            "pre_master_secret",
            "master_secret",
            "client_write_mac_key",
            "server_write_mac_key",
            "client_write_key",
            "server_write_key"
        ]
    );
    assert_eq!(
        run.dec.missing_secrets(&run.keylog, false),
        Vec::<&str>::new()
    );
}

#[test]
fn an_rsa_key_that_does_not_open_is_the_reason() {
    let mut run = Run::new("");
    run.message(Dir::C2S, &client_hello(0x002F));
    run.message(Dir::S2C, &server_hello(0x002F, false));
    assert!(run.message(Dir::C2S, &message(16, &[0, 2, 1, 2])).is_some());
    run.dec.rsa_premaster(None);
    assert_eq!(run.dec.status, Status::NoSecret);
    assert!(run
        .dec
        .reason
        .as_deref()
        .unwrap()
        .starts_with("the RSA key given does not open"));
    assert_eq!(
        run.dec.missing_secrets(&run.keylog, false),
        ["CLIENT_RANDOM"]
    );
}

#[test]
fn key_log_lines_are_used_or_told_with_their_number() {
    let cr = "aa".repeat(32);
    let text = [
        "# a comment".to_owned(),
        String::new(),
        format!("CLIENT_RANDOM {cr} {}", "11".repeat(48)),
        format!("CLIENT_HANDSHAKE_TRAFFIC_SECRET {cr} {}", "22".repeat(32)),
        format!("SERVER_TRAFFIC_SECRET_0 {cr} {}", "33".repeat(48)),
        format!("RSA {} {}", "44".repeat(8), "55".repeat(48)),
        "SOMETHING_NEW aa bb".to_owned(),
        format!("CLIENT_RANDOM {cr} 123"),
        format!("CLIENT_RANDOM {} {}", "aa".repeat(31), "11".repeat(48)),
        "garbage".to_owned(),
        format!("EXPORTER_SECRET {cr}"),
    ]
    .join("\r\n");
    let mut log = KeyLog::new();
    assert_eq!(log.add_text(&text, "test.keys", "pcapng"), 4);
    let random = [0xAA; 32];
    assert_eq!(log.get("CLIENT_RANDOM", &random), Some(&[0x11; 48][..]));
    assert_eq!(log.origin("CLIENT_RANDOM", &random), "pcapng");
    assert_eq!(log.rsa_premaster(&[0x44; 9]), Some(&[0x55; 48]));
    assert!(log.knows(&random) && !log.knows(&[0; 32]));
    assert_eq!((log.len(), log.secret_count()), (4, 3));
    let problem = |line, message: &str| Problem {
        source: "test.keys".to_owned(),
        line,
        message: message.to_owned(),
    };
    assert_eq!(
        log.problems,
        [
            problem(7, "unknown label 'SOMETHING_NEW'"),
            problem(8, "a value is not even-length hex"),
            problem(9, "client random has 31 bytes, not 32"),
            problem(10, "unknown label 'garbage'"),
            problem(11, "EXPORTER_SECRET needs 2 values, found 1"),
        ]
    );
}

#[test]
fn a_secret_given_twice_keeps_the_source_that_gave_it_first() {
    // A key log given for a pcapng whose Decryption Secrets Block holds the same line: the
    // user's file is read first and is the one used (it was said to be the pcapng's).
    let same = format!("CLIENT_RANDOM {} {}", "aa".repeat(32), "11".repeat(48));
    let other = format!("CLIENT_RANDOM {} {}", "bb".repeat(32), "11".repeat(48));
    let mut log = KeyLog::new();
    log.add_text(&same, "user.keys", "keylog");
    log.add_text(&format!("{same}\n{other}"), "x.pcapng (DSB)", "pcapng");
    assert_eq!(log.origin("CLIENT_RANDOM", &[0xAA; 32]), "keylog");
    assert_eq!(log.origin("CLIENT_RANDOM", &[0xBB; 32]), "pcapng");
    assert_eq!(log.secret_count(), 2);
    // A different secret for the same random replaces it, with its own source.
    let changed = format!("CLIENT_RANDOM {} {}", "aa".repeat(32), "22".repeat(48));
    log.add_text(&changed, "x.pcapng (DSB)", "pcapng");
    assert_eq!(log.get("CLIENT_RANDOM", &[0xAA; 32]), Some(&[0x22; 48][..]));
    assert_eq!(log.origin("CLIENT_RANDOM", &[0xAA; 32]), "pcapng");
}

#[test]
fn a_copy_of_a_key_log_adds_and_replaces_secrets_of_its_own() {
    // A capture's copy of the run's key log takes its Decryption Secrets Blocks; the run's
    // key log, read by the next capture, keeps only what the user gave.
    let user = format!("CLIENT_RANDOM {} {}", "aa".repeat(32), "11".repeat(48));
    let rsa = format!("RSA {} {}", "0102030405060708", "44".repeat(48));
    let mut log = KeyLog::new();
    log.add_text(&format!("{user}\n{rsa}"), "user.keys", "keylog");
    let mut capture = log.clone();
    let block = [
        format!("CLIENT_RANDOM {} {}", "aa".repeat(32), "22".repeat(48)),
        format!("CLIENT_RANDOM {} {}", "bb".repeat(32), "33".repeat(48)),
        format!("RSA {} {}", "1112131415161718", "77".repeat(48)),
    ]
    .join("\n");
    assert_eq!(capture.add_text(&block, "x.pcapng (DSB)", "pcapng"), 3);
    assert_eq!(
        capture.get("CLIENT_RANDOM", &[0xAA; 32]),
        Some(&[0x22; 48][..])
    );
    assert_eq!(capture.origin("CLIENT_RANDOM", &[0xBB; 32]), "pcapng");
    assert_eq!((capture.secret_count(), capture.len()), (2, 4));
    assert_eq!(log.get("CLIENT_RANDOM", &[0xAA; 32]), Some(&[0x11; 48][..]));
    assert_eq!(log.origin("CLIENT_RANDOM", &[0xAA; 32]), "keylog");
    assert!(!log.knows(&[0xBB; 32]));
    assert_eq!(
        log.rsa_premaster(&[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]),
        None
    );
    assert_eq!((log.secret_count(), log.len()), (1, 2));
}

#[test]
fn the_labels_missing_for_a_random_are_those_get_finds_nothing_under() {
    let cr = "aa".repeat(32);
    let text = [
        format!("CLIENT_HANDSHAKE_TRAFFIC_SECRET {cr} {}", "22".repeat(32)),
        format!("SERVER_TRAFFIC_SECRET_0 {cr} {}", "33".repeat(48)),
    ]
    .join("\n");
    let mut log = KeyLog::new();
    log.add_text(&text, "test.keys", "keylog");
    let labels = [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_TRAFFIC_SECRET_0",
        "NO_SUCH_LABEL",
    ];
    for random in [&[0xAA; 32][..], &[0xBB; 32], &[0xAA; 31], &[]] {
        let mut missing = labels.to_vec();
        log.retain_missing(random, &mut missing);
        let by_get: Vec<&str> = labels
            .iter()
            .copied()
            .filter(|label| log.get(label, random).is_none())
            .collect();
        assert_eq!(missing, by_get);
    }
    let mut missing = labels.to_vec();
    log.retain_missing(&[0xAA; 32], &mut missing);
    assert_eq!(
        missing,
        ["SERVER_HANDSHAKE_TRAFFIC_SECRET", "NO_SUCH_LABEL"]
    );
}

#[test]
fn the_session_cache_forgets_the_oldest_past_its_bound() {
    let mut cache = SessionCache::new();
    for n in 0..=MAX_SESSIONS {
        cache.remember_session(&n.to_be_bytes(), b"master");
    }
    assert_eq!(cache.len(), (MAX_SESSIONS, 0));
    assert_eq!(cache.session(&0usize.to_be_bytes()), None);
    assert_eq!(
        cache.session(&MAX_SESSIONS.to_be_bytes()),
        Some(&b"master"[..])
    );
}
