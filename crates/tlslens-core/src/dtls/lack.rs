//! What a DTLS handshake lacks when the reassembly gives a message up, said as the clause of
//! a reason ([`super::DtlsEvent::Lacking`]): a Finished recomputed without that message
//! cannot match, and the reason says why it was not checked instead of blaming the secret.
//! A message skipped past `--max-message` is said in the words the TCP path uses
//! (`decrypt::Lack`), since it is the same fact.

use super::handshake::Refusal;
use crate::capture::thousands;
use crate::decrypt::{Dir, Lack};
use crate::handshake::type_name;

fn side(from_client: bool) -> &'static str {
    if from_client {
        "client"
    } else {
        "server"
    }
}

/// "the server's handshake message type 11 (Certificate)".
fn message(from_client: bool, msg_type: u8) -> String {
    let side = side(from_client);
    match type_name(msg_type) {
        Some(name) => format!("the {side}'s handshake message type {msg_type} ({name})"),
        None => format!("the {side}'s handshake message type {msg_type}"),
    }
}

/// The message of `msg_type` the reassembly refused (or refused a fragment of), and why.
pub fn refused(from_client: bool, msg_type: u8, why: &Refusal) -> String {
    let what = message(from_client, msg_type);
    match *why {
        Refusal::TooLong { length, limit } => {
            let dir = if from_client { Dir::C2S } else { Dir::S2C };
            let skipped = Lack::Skipped {
                msg_type,
                length: u32::try_from(length).unwrap_or(u32::MAX),
                limit: u32::try_from(limit).unwrap_or(u32::MAX),
            };
            skipped.text(dir)
        }
        Refusal::Held { messages, bytes } => format!(
            "tlslens did not reassemble {what}: it would exceed the {messages} messages or {} \
             bytes a direction holds for reassembly",
            thousands(bytes as u64)
        ),
        Refusal::Disagrees { .. } => {
            format!("{what} came in fragments that disagree on its type or length")
        }
        Refusal::Scattered => format!(
            "{what} came in more than {} separate pieces, more than tlslens reassembles",
            super::handshake::MAX_RANGES
        ),
        Refusal::Overlaps { .. } => {
            format!("{what} came in fragments that overlap with different bytes")
        }
    }
}

/// A message in fragments not reassembled because the shared pool held `max_mib`.
pub fn pooled(from_client: bool, msg_type: u8, max_mib: usize) -> String {
    format!(
        "tlslens did not reassemble {}: the capture's DTLS associations held {max_mib} MiB of \
         incomplete messages, their bound",
        message(from_client, msg_type)
    )
}

/// A message whose fragments the capture does not all hold.
pub fn incomplete(from_client: bool, msg_type: u8, have: usize, length: usize) -> String {
    format!(
        "{} never completed: {} of its {} bytes are in the capture",
        message(from_client, msg_type),
        thousands(have as u64),
        thousands(length as u64)
    )
}
