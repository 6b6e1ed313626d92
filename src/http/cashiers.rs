//! The loyalty identity (document type and number) of every attendant, kept in step with
//! the journal's users so an attendant a manager adds or corrects is known to the next
//! order answer without a restart.
//!
//! Disabled attendants stay in the directory: a sale they made before being disabled still
//! names them in its loyalty block (docs/mercadopago.md §4.3).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::access::Role;
use crate::journal::{Journal, JournalError};

/// An attendant's identification for `cashier_identification`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cashier {
    /// Document type (DNI, INE…).
    pub document_type: String,
    /// Document number.
    pub document_number: String,
}

/// Shared, cheaply cloned directory of attendants' loyalty identities.
#[derive(Clone, Default)]
pub struct Cashiers {
    map: Arc<RwLock<Arc<HashMap<String, Cashier>>>>,
    version: Arc<AtomicU64>,
}

impl std::fmt::Debug for Cashiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cashiers")
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

impl Cashiers {
    /// A directory holding `map`.
    pub fn new(map: HashMap<String, Cashier>) -> Self {
        Self {
            map: Arc::new(RwLock::new(Arc::new(map))),
            version: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The identity of attendant `name`, if the journal knows one.
    pub fn get(&self, name: &str) -> Option<Cashier> {
        self.current().get(name).cloned()
    }

    /// Bumped on every replacement, so a cache of answers built from the directory can tell
    /// it is stale.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Replaces the whole directory.
    pub fn replace(&self, map: HashMap<String, Cashier>) {
        let fresh = Arc::new(map);
        // A poisoned lock only means a reader panicked mid-clone; the map itself is whole.
        match self.map.write() {
            Ok(mut guard) => *guard = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// Reloads the directory from the journal's users.
    pub async fn reload(&self, journal: &Journal) -> Result<(), JournalError> {
        self.replace(load(journal).await?);
        Ok(())
    }

    fn current(&self) -> Arc<HashMap<String, Cashier>> {
        match self.map.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}

/// Every attendant's loyalty identity from the journal (the source of truth once seeded).
pub async fn load(journal: &Journal) -> Result<HashMap<String, Cashier>, JournalError> {
    let users = journal.users().await?;
    Ok(users
        .into_iter()
        .filter(|u| u.role == Role::Attendant)
        .map(|u| {
            let cashier = Cashier {
                document_type: u.document_type.unwrap_or_else(|| "DNI".to_owned()),
                document_number: u.document_number.unwrap_or_else(|| "00000000".to_owned()),
            };
            (u.name, cashier)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_is_seen_by_every_clone_and_bumps_the_version() {
        let directory = Cashiers::default();
        let clone = directory.clone();
        assert_eq!(clone.get("ana"), None);
        let before = clone.version();
        let ana = Cashier {
            document_type: "DNI".to_owned(),
            document_number: "30111222".to_owned(),
        };
        directory.replace(HashMap::from([("ana".to_owned(), ana.clone())]));
        assert_eq!(clone.get("ana"), Some(ana));
        assert!(clone.version() > before);
    }
}
