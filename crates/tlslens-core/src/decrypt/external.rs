//! Ciphers the caller supplies (SEED-CBC, which no vetted crate here offers): their failures
//! are their own, not the record's. The record protection checks a record's lengths before
//! it calls one, so an error from it is a bug of the caller's cipher (an exception in the
//! Python that decrypts), never a record that does not authenticate: it must not call the
//! secret wrong. Each cipher made here keeps its error where the decryptor finds it after
//! the record, which it then tells as a fault of the connection's decryption.

use std::sync::{Arc, Mutex, PoisonError};

use super::ExternalFactory;
use crate::protection::ExternalCbc;

/// The caller's cipher factory and what its ciphers failed with.
#[derive(Default)]
pub(super) struct External {
    make: Option<ExternalFactory>,
    /// The error of the last call that failed, shared with every cipher made.
    kept: Arc<Mutex<Option<String>>>,
    /// The decryption stopped at a fault (its message): no record is opened after it.
    pub(super) fault: Option<String>,
}

/// One cipher made by the caller's factory, its errors kept.
struct Watched {
    cipher: Box<dyn ExternalCbc>,
    kept: Arc<Mutex<Option<String>>>,
}

impl ExternalCbc for Watched {
    fn decrypt(&mut self, iv: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        self.cipher.decrypt(iv, data).inspect_err(|error| {
            let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            *kept = Some(error.clone());
        })
    }
}

impl External {
    pub(super) fn new(make: Option<ExternalFactory>) -> Self {
        External {
            make,
            ..External::default()
        }
    }

    /// The caller's cipher for `key`, when it supplies `cipher` (only SEED-CBC).
    pub(super) fn cipher(&self, cipher: &str, key: &[u8]) -> Option<Box<dyn ExternalCbc>> {
        let make = self.make.filter(|_| cipher == "SEED_CBC")?;
        Some(Box::new(Watched {
            cipher: make(key),
            kept: Arc::clone(&self.kept),
        }))
    }

    /// After a record: the fault of the caller's cipher if it failed on it (`cipher` names
    /// it), which stops the decryption; None when it did not fail.
    pub(super) fn failed(&mut self, cipher: &str) -> Option<String> {
        let error = self
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        let fault = format!(
            "internal error in the {cipher} decryption ({error}); this connection's records \
             are not decrypted from here on"
        );
        self.fault = Some(fault.clone());
        Some(fault)
    }
}
