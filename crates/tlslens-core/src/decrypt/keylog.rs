//! NSS key log files (SSLKEYLOGFILE): every label Wireshark reads, parsed once, here.
//!
//! Strategy: a `KeyLog` maps a client random to the secrets logged for it, one slot per
//! label, plus the RSA form keyed by the first 8 bytes of the encrypted premaster. Text from
//! any source (files, pcapng Decryption Secrets Blocks, the scanner's own shares) goes
//! through `add_text`; every line that cannot be used is kept (the first
//! [`MAX_PROBLEMS_KEPT`]) with its source and line number, and the good lines are used all
//! the same. Lines are cut and split as Python's `str.splitlines()` and `str.split()` do,
//! so that line numbers are the ones an editor shows.

use std::collections::HashMap;
use std::sync::Arc;

pub const CLIENT_RANDOM: &str = "CLIENT_RANDOM";
pub const RSA: &str = "RSA";
/// The labels keyed by client random, in the order Python's `LABELS` lists them.
pub const LABELS: [&str; 8] = [
    CLIENT_RANDOM,
    "CLIENT_EARLY_TRAFFIC_SECRET",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
    "EARLY_EXPORTER_SECRET",
    "EXPORTER_SECRET",
];
pub const EARLY: &str = "CLIENT_EARLY_TRAFFIC_SECRET";
/// Bad lines kept with their text: a garbage file must not cost memory per line.
pub const MAX_PROBLEMS_KEPT: usize = 20;
/// Secrets held at most (a key log of 4 million lines is far past any real one); lines past
/// it are problems, so that a huge file cannot take the memory.
pub const MAX_SECRETS: usize = 1 << 22;

/// A line that could not be used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub source: String,
    pub line: usize,
    pub message: String,
}

/// The secrets of one client random: one slot per label of [`LABELS`], with the index of
/// the origin ("keylog", "pcapng", ...) it came from.
type Slots = [Option<(Box<[u8]>, u8)>; LABELS.len()];

/// Cloned, a key log shares its secrets with the original until either adds one (the
/// maps are copied on that write): a capture reads with a copy of the run's, to which its
/// own Decryption Secrets Blocks add without touching the run's (`copy` in Python).
#[derive(Clone, Debug, Default)]
pub struct KeyLog {
    by_random: Arc<HashMap<[u8; 32], Slots>>,
    rsa: Arc<HashMap<[u8; 8], [u8; 48]>>,
    origins: Vec<String>,
    /// Usable lines each origin gave (by the index of `origins`): what the secrets given
    /// were, for the reason a client random found nothing.
    used_by_origin: Vec<usize>,
    secret_count: usize,
    pub problems: Vec<Problem>,
    /// Every bad line, kept in `problems` or not.
    pub problem_count: usize,
}

/// The index of `label` in [`LABELS`].
pub fn label_index(label: &str) -> Option<usize> {
    LABELS.iter().position(|known| *known == label)
}

/// Python's `bytes.fromhex` on a whitespace-free token: None unless even-length hex.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    let nibble = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|v| u8::try_from(v).ok())
    };
    digits
        .chunks_exact(2)
        .map(|pair| match pair {
            [high, low] => Some(nibble(*high)? << 4 | nibble(*low)?),
            _ => None,
        })
        .collect()
}

/// Python's line boundaries (`str.splitlines`): \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85,
/// U+2028 and U+2029.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let boundary = rest.char_indices().find(|(_, c)| {
            matches!(
                c,
                '\n' | '\r'
                    | '\x0b'
                    | '\x0c'
                    | '\x1c'
                    | '\x1d'
                    | '\x1e'
                    | '\u{85}'
                    | '\u{2028}'
                    | '\u{2029}'
            )
        });
        let Some((at, c)) = boundary else {
            let line = rest;
            rest = "";
            return Some(line);
        };
        let line = rest.get(..at).unwrap_or("");
        let mut next = at + c.len_utf8();
        if c == '\r' && rest.get(next..).is_some_and(|r| r.starts_with('\n')) {
            next += 1;
        }
        rest = rest.get(next..).unwrap_or("");
        Some(line)
    })
}

/// Python's whitespace (`str.split()`/`strip()`): Unicode's, and \x1c-\x1f.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `repr()` of a short text: quoted, control characters escaped.
pub fn py_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if u32::from(c) < 0x20 || u32::from(c) == 0x7f => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

impl KeyLog {
    pub fn new() -> Self {
        Self::default()
    }

    fn problem(&mut self, source: &str, line: usize, message: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS_KEPT {
            self.problems.push(Problem {
                source: source.to_owned(),
                line,
                message,
            });
        }
    }

    fn origin_index(&mut self, origin: &str) -> u8 {
        if let Some(at) = self.origins.iter().position(|known| known == origin) {
            return u8::try_from(at).unwrap_or(u8::MAX);
        }
        // Origins are the callers' few names; past 255 of them the last one is reused.
        if self.origins.len() < usize::from(u8::MAX) {
            self.origins.push(origin.to_owned());
            self.used_by_origin.push(0);
        }
        u8::try_from(self.origins.len().saturating_sub(1)).unwrap_or(u8::MAX)
    }

    /// Secrets held (by label and client random) plus RSA premasters, as Python's `len()`.
    pub fn len(&self) -> usize {
        self.secret_count + self.rsa.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Secrets held by label and client random (the RSA form not counted).
    pub fn secret_count(&self) -> usize {
        self.secret_count
    }

    /// Add every usable line of `text`; returns how many were used.
    pub fn add_text(&mut self, text: &str, source: &str, origin: &str) -> usize {
        let origin = self.origin_index(origin);
        let mut used = 0;
        for (index, raw) in lines(text).enumerate() {
            let number = index + 1;
            let line = raw.trim_matches(is_space);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match self.add_line(line, origin) {
                Ok(()) => used += 1,
                Err(message) => self.problem(source, number, message),
            }
        }
        if let Some(count) = self.used_by_origin.get_mut(usize::from(origin)) {
            *count += used;
        }
        used
    }

    /// Why nothing was found for `what` ("client random …", "this connection"), naming
    /// what was searched: the key log given, the capture's own Decryption Secrets Blocks,
    /// both, or nothing usable at all (a key log refused or without a good line).
    pub fn holds_nothing_for(&self, what: &str) -> String {
        let gave = |origin: &str| {
            self.origins
                .iter()
                .zip(&self.used_by_origin)
                .any(|(known, used)| known == origin && *used > 0)
        };
        let others = self
            .origins
            .iter()
            .zip(&self.used_by_origin)
            .any(|(known, used)| *used > 0 && known != "keylog" && known != "pcapng");
        match (gave("keylog"), gave("pcapng")) {
            _ if others => format!("the secrets given hold nothing for {what}"),
            (true, true) => format!(
                "neither the key log given nor the capture's Decryption Secrets Blocks hold \
                 a secret for {what}"
            ),
            (true, false) => format!("the key log given holds nothing for {what}"),
            (false, true) => {
                format!("the capture's Decryption Secrets Blocks hold nothing for {what}")
            }
            (false, false) => format!(
                "no usable secret was given and the capture carries none: {what} cannot be \
                 looked up"
            ),
        }
    }

    fn add_line(&mut self, line: &str, origin: u8) -> Result<(), String> {
        let parts: Vec<&str> = line.split(is_space).filter(|p| !p.is_empty()).collect();
        let label = parts.first().copied().unwrap_or("");
        let index = label_index(label);
        if index.is_none() && label != RSA {
            let shown: String = label.chars().take(40).collect();
            return Err(format!("unknown label {}", py_repr(&shown)));
        }
        let [_, first, secret] = parts.as_slice() else {
            return Err(format!(
                "{label} needs 2 values, found {}",
                parts.len().saturating_sub(1)
            ));
        };
        let (Some(first), Some(secret)) = (from_hex(first), from_hex(secret)) else {
            return Err("a value is not even-length hex".to_owned());
        };
        let Some(index) = index else {
            let (Ok(prefix), Ok(premaster)) = (
                <[u8; 8]>::try_from(first.as_slice()),
                <[u8; 48]>::try_from(secret.as_slice()),
            ) else {
                return Err(
                    "RSA needs 8 bytes of encrypted premaster and a 48-byte premaster".to_owned(),
                );
            };
            if self.rsa.len() >= MAX_SECRETS && !self.rsa.contains_key(&prefix) {
                return Err(format!("more than {MAX_SECRETS} RSA lines: not kept"));
            }
            Arc::make_mut(&mut self.rsa).insert(prefix, premaster);
            return Ok(());
        };
        let Ok(random) = <[u8; 32]>::try_from(first.as_slice()) else {
            return Err(format!("client random has {} bytes, not 32", first.len()));
        };
        if label == CLIENT_RANDOM && secret.len() != 48 {
            return Err(format!("master secret has {} bytes, not 48", secret.len()));
        }
        let known = self
            .by_random
            .get(&random)
            .and_then(|slots| slots.get(index))
            .is_some_and(Option::is_some);
        if !known && self.secret_count >= MAX_SECRETS {
            return Err(format!("more than {MAX_SECRETS} secrets: not kept"));
        }
        let slots = Arc::make_mut(&mut self.by_random)
            .entry(random)
            .or_default();
        if let Some(slot) = slots.get_mut(index) {
            // The same secret from a second source (a key log given and the pcapng's own
            // Decryption Secrets Block both hold it) keeps the source that gave it first:
            // the one a user named is read before the capture is.
            let same = slot.as_ref().is_some_and(|(held, _)| **held == *secret);
            if !same {
                *slot = Some((secret.into_boxed_slice(), origin));
            }
        }
        if !known {
            self.secret_count += 1;
        }
        Ok(())
    }

    fn slot(&self, label: &str, client_random: &[u8]) -> Option<&(Box<[u8]>, u8)> {
        let random = <[u8; 32]>::try_from(client_random).ok()?;
        let slots = self.by_random.get(&random)?;
        slots.get(label_index(label)?)?.as_ref()
    }

    /// The secret logged under `label` for `client_random`.
    pub fn get(&self, label: &str, client_random: &[u8]) -> Option<&[u8]> {
        self.slot(label, client_random).map(|(secret, _)| &**secret)
    }

    /// Where the secret came from ("keylog" when it is not held, as before).
    pub fn origin(&self, label: &str, client_random: &[u8]) -> &str {
        self.slot(label, client_random)
            .and_then(|(_, at)| self.origins.get(usize::from(*at)))
            .map_or("keylog", String::as_str)
    }

    /// Keeps in `labels` those under which no secret is logged for `client_random`: the
    /// random is looked up once for them all, not once a label (as `get` would).
    pub fn retain_missing(&self, client_random: &[u8], labels: &mut Vec<&str>) {
        let slots = <[u8; 32]>::try_from(client_random)
            .ok()
            .and_then(|random| self.by_random.get(&random));
        labels.retain(|label| {
            let slot = slots.and_then(|slots| slots.get(label_index(label)?));
            !matches!(slot, Some(Some(_)))
        });
    }

    /// Whether any line of the key log is for this client random.
    pub fn knows(&self, client_random: &[u8]) -> bool {
        <[u8; 32]>::try_from(client_random).is_ok_and(|random| self.by_random.contains_key(&random))
    }

    /// The premaster an RSA line gives for an encrypted premaster (by its first 8 bytes).
    pub fn rsa_premaster(&self, encrypted: &[u8]) -> Option<&[u8; 48]> {
        let prefix = <[u8; 8]>::try_from(encrypted.get(..8)?).ok()?;
        self.rsa.get(&prefix)
    }

    /// Every (label, client random, secret), for the QUIC and DTLS tables.
    pub fn secrets(&self) -> impl Iterator<Item = (&'static str, &[u8; 32], &[u8])> {
        self.by_random.iter().flat_map(|(random, slots)| {
            LABELS
                .iter()
                .zip(slots.iter())
                .filter_map(move |(label, slot)| {
                    slot.as_ref().map(|(secret, _)| (*label, random, &**secret))
                })
        })
    }

    /// Every RSA line: (first 8 bytes of the encrypted premaster, premaster).
    pub fn rsa_premasters(&self) -> impl Iterator<Item = (&[u8; 8], &[u8; 48])> {
        self.rsa.iter()
    }
}
