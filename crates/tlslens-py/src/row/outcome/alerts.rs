//! Why a fatal alert failed the handshake, in words: a certificate alert with the chain
//! problem that explains it best, a server that found nothing in common with the ClientHello,
//! or the alert's own meaning.

use pyo3::intern;
use pyo3::prelude::*;

use super::{side, where_of, Outcome, ALERT_WORDS, FAILED};
use crate::row::hello::Hellos;
use crate::row::names::{self, Table};

/// Alerts about a certificate, and the chain problems that explain each best (first found).
const CERTIFICATE_ALERTS: [(&str, &[&str]); 6] = [
    ("certificate_expired", &["expired", "not_yet_valid"]),
    (
        "unknown_ca",
        &["missing_intermediate", "self_signed", "untrusted_root"],
    ),
    (
        "certificate_revoked",
        &["revoked", "ocsp_revoked", "crl_revoked"],
    ),
    ("bad_certificate", &[]),
    ("certificate_unknown", &[]),
    (
        "unsupported_certificate",
        &["bad_key_usage", "bad_extension"],
    ),
];

const LIKELY_CERTIFICATE_PROBLEMS: [&str; 9] = [
    "name_mismatch",
    "expired",
    "not_yet_valid",
    "revoked",
    "ocsp_revoked",
    "crl_revoked",
    "missing_intermediate",
    "self_signed",
    "untrusted_root",
];

/// A server that finds nothing it accepts in the ClientHello says one of these.
const NOTHING_IN_COMMON: [&str; 2] = ["handshake_failure", "insufficient_security"];

/// An alert's name (`registry.alert_name`) of a read alert event.
pub(super) fn alert_name(event: &Bound<'_, PyAny>) -> PyResult<String> {
    let description = event.getattr(intern!(event.py(), "description"))?;
    Ok(names::name_of(event.py(), Table::Alert, &description)?.to_string())
}

pub(super) fn failed_by_alert(
    conn: &Bound<'_, PyAny>,
    hellos: &Hellos<'_>,
    event: &Bound<'_, PyAny>,
    completed: bool,
) -> PyResult<Outcome> {
    let name = alert_name(event)?;
    let (frame, client) = where_of(event)?;
    let who = side(client);
    let after = if completed {
        ", after the handshake had completed"
    } else {
        ""
    };
    let reason = match certificate_alert(conn, hellos, client, &name)? {
        Some((validation, before, unseen)) => {
            format!(
                "{before}{}{after}",
                chain_evidence(&validation, &name, &unseen)?
            )
        }
        None => {
            let reason = match alert_reason(conn, hellos, client, &name)? {
                Some(reason) => reason,
                None => generic_alert_reason(who, frame, &name),
            };
            reason + after
        }
    };
    Ok(Outcome {
        status: FAILED,
        by: Some(who),
        alert: Some(name),
        reason,
        after_completion: completed,
    })
}

fn generic_alert_reason(who: &str, frame: u64, name: &str) -> String {
    let text = format!("the {who} sent a fatal {name} alert (frame {frame})");
    match ALERT_WORDS.iter().find(|(alert, _)| *alert == name) {
        Some((_, meaning)) => format!("{text}: {meaning}"),
        None => text,
    }
}

/// A side rejecting the other's certificate: the verdict on that chain (None where none was
/// checked), the reason's words before what the check found, and what is said when it was
/// not checked.
fn certificate_alert<'py>(
    conn: &Bound<'py, PyAny>,
    hellos: &Hellos<'_>,
    client: bool,
    name: &str,
) -> PyResult<Option<(Bound<'py, PyAny>, String, String)>> {
    let py = conn.py();
    let tls13 = hellos.tls13();
    if !CERTIFICATE_ALERTS.iter().any(|(alert, _)| *alert == name) {
        return Ok(None);
    }
    if client {
        let unseen = if hellos.resumed().is_some() {
            // An abbreviated handshake carries no certificate: the alert is about the one
            // of the session's first handshake, or about nothing this connection shows.
            "; the session was resumed: the server sent no certificate in this connection"
        } else if tls13 && !conn.getattr(intern!(py, "decryption"))?.is_none() {
            "; the certificate travelled encrypted and the secrets given did not open it"
        } else if tls13 {
            "; the certificate travelled encrypted (a key log opens it)"
        } else {
            "; no certificate was seen"
        };
        let before = format!("the client rejected the server's certificate: {name}");
        let validation = conn.getattr(intern!(py, "validation"))?;
        return Ok(Some((validation, before, unseen.to_owned())));
    }
    if conn
        .getattr(intern!(py, "client_certificates"))?
        .is_truthy()?
    {
        let before = format!("the server rejected the client's certificate: {name}");
        let validation = conn.getattr(intern!(py, "client_validation"))?;
        return Ok(Some((validation, before, String::new())));
    }
    Ok(None)
}

/// The alert tied to what the capture shows, where the capture shows something.
fn alert_reason(
    conn: &Bound<'_, PyAny>,
    hellos: &Hellos<'_>,
    client: bool,
    name: &str,
) -> PyResult<Option<String>> {
    let py = conn.py();
    if client {
        return Ok(None);
    }
    let required = name == "certificate_required"
        || (["handshake_failure", "bad_certificate"].contains(&name)
            && conn
                .getattr(intern!(py, "certificate_request"))?
                .is_truthy()?
            && !conn
                .getattr(intern!(py, "client_certificates"))?
                .is_truthy()?);
    if required {
        return Ok(Some(format!(
            "the server required a client certificate and the client sent none: {name}"
        )));
    }
    let answered = !conn.getattr(intern!(py, "server_hello"))?.is_none();
    if NOTHING_IN_COMMON.contains(&name) && !answered {
        return Ok(Some(format!(
            "the server found no cipher suite in common with the client's offer: {name}"
        )));
    }
    if name == "protocol_version" && !answered {
        let versions = hellos.client_versions();
        let offered = names::names(py, Table::Version, versions.into_iter().map(u32::from))?;
        return Ok(Some(format!(
            "the server accepts none of the versions the client offered ({}): {name}",
            offered.join(", ")
        )));
    }
    if name == "unrecognized_name" {
        if let Some(sni) = hellos.sni().map(|sni| sni.bind(py).to_string()) {
            if !sni.is_empty() {
                return Ok(Some(format!(
                    "the server does not serve the name {sni} the client asked for: {name}"
                )));
            }
        }
    }
    if name == "no_application_protocol" {
        let offered = hellos.alpn_offered().join(", ");
        return Ok(Some(format!(
            "the server serves none of the ALPN protocols the client offered ({offered}): {name}"
        )));
    }
    Ok(None)
}

/// What tlslens' own check of a chain found that explains `alert`; `unseen` when the chain
/// was not checked (`validation` None).
fn chain_evidence(validation: &Bound<'_, PyAny>, alert: &str, unseen: &str) -> PyResult<String> {
    let py = validation.py();
    if validation.is_none() {
        return Ok(unseen.to_owned());
    }
    let problems = validation.getattr(intern!(py, "problems"))?;
    let problems: Vec<(String, String)> = problems
        .try_iter()?
        .map(|problem| {
            let problem = problem?;
            Ok((
                problem.getattr(intern!(py, "code"))?.extract()?,
                problem.getattr(intern!(py, "message"))?.extract()?,
            ))
        })
        .collect::<PyResult<_>>()?;
    let Some(first) = problems.first() else {
        let store: String = validation.getattr(intern!(py, "trust_store"))?.extract()?;
        return Ok(format!(
            "; tlslens finds the chain trusted ({store}): the client trusts other roots, or \
             checks what tlslens does not"
        ));
    };
    let best = CERTIFICATE_ALERTS
        .iter()
        .find(|(name, _)| *name == alert)
        .map_or(&[][..], |(_, codes)| *codes);
    let found = best
        .iter()
        .chain(LIKELY_CERTIFICATE_PROBLEMS.iter())
        .find_map(|code| problems.iter().find(|(own, _)| own == code));
    let (_, message) = found.unwrap_or(first);
    Ok(format!("; {}", message.trim_end_matches('.')))
}
