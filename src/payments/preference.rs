//! Preference mode (seed 000, docs/mercadopago.md §4.4): the order endpoint answers
//! `{"preference_id": …}`, one preference per sale, created through the API the first time
//! the sale is scanned (or as soon as it is ready) and reused for every later scan, also
//! across restarts (its id is journaled). The creation's idempotency key derives from the
//! sale ([`preference_key`]), so a crash between creating and journaling it costs no
//! second preference.
//!
//! This is the only place where an answer to the phone depends on another system, so it is
//! bounded: a creation that does not finish within the configured time answers `timeout`
//! while it goes on in the background, and the next scan finds its result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::journal::Journal;
use crate::mercadopago::types::{Item, PreferenceRequest};
use crate::mercadopago::{IdempotencyKey, MercadoPagoClient};
use crate::sale::{Sale, SaleId};

/// Why no preference id could be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreferenceError {
    /// The API did not answer within the bound; creation continues in the background.
    #[error("Mercado Pago did not create the preference in time")]
    Slow,
    /// The API refused or failed.
    #[error("Mercado Pago could not create the preference: {0}")]
    Failed(String),
}

type Pending = Arc<tokio::sync::Mutex<()>>;

/// The idempotency key of a sale's preference, derived from the sale as refund keys are
/// (`S<sale>PREF<reference>`): a creation retried after a crash between Mercado Pago's
/// answer and the journal write gets the same preference back, never a second one.
pub fn preference_key(sale: &Sale) -> IdempotencyKey {
    IdempotencyKey::new(format!("S{}PREF{}", sale.id, sale.external_reference))
        // A reference too long (or damaged) for a key: the sale id alone is still unique.
        .or_else(|_| IdempotencyKey::new(format!("S{}PREF", sale.id)))
        .expect("S, digits and PREF always make a valid key")
}

/// Creates and remembers preferences.
#[derive(Clone)]
pub struct Preferences {
    client: MercadoPagoClient,
    journal: Journal,
    notification_url: String,
    currency: String,
    bound: Duration,
    known: Arc<Mutex<HashMap<SaleId, String>>>,
    creating: Arc<Mutex<HashMap<SaleId, Pending>>>,
}

impl Preferences {
    /// A service answering within `bound`.
    pub fn new(
        client: MercadoPagoClient,
        journal: Journal,
        notification_url: String,
        currency: String,
        bound: Duration,
    ) -> Self {
        Self {
            client,
            journal,
            notification_url,
            currency,
            bound,
            known: Arc::default(),
            creating: Arc::default(),
        }
    }

    fn known(&self, sale: SaleId) -> Option<String> {
        self.known.lock().ok().and_then(|k| k.get(&sale).cloned())
    }

    /// The preference id of `sale`, creating it if needed, within the bound.
    pub async fn preference_for(
        &self,
        sale: &Sale,
        title: String,
    ) -> Result<String, PreferenceError> {
        if let Some(id) = self.known(sale.id).or_else(|| sale.preference_id.clone()) {
            return Ok(id);
        }
        let this = self.clone();
        let sale = sale.clone();
        let task = tokio::spawn(async move { this.create(&sale, title).await });
        match tokio::time::timeout(self.bound, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(PreferenceError::Failed(format!("task failed: {e}"))),
            Err(_) => Err(PreferenceError::Slow),
        }
    }

    /// One creation per sale at a time; later callers get the first one's id.
    async fn create(&self, sale: &Sale, title: String) -> Result<String, PreferenceError> {
        let gate = {
            let mut creating = self
                .creating
                .lock()
                .map_err(|_| PreferenceError::Failed("state poisoned".to_owned()))?;
            creating.entry(sale.id).or_default().clone()
        };
        let _turn = gate.lock().await;
        if let Some(id) = self.known(sale.id) {
            return Ok(id);
        }
        // A preference made before a restart is in the journal.
        if let Ok(Some(stored)) = self.journal.sale(sale.id).await {
            if let Some(id) = stored.preference_id {
                self.remember(sale.id, &id);
                return Ok(id);
            }
        }
        let request = PreferenceRequest {
            items: vec![Item {
                id: Some(sale.external_reference.clone()),
                title,
                currency_id: Some(self.currency.clone()),
                description: None,
                quantity: rust_decimal::Decimal::ONE,
                unit_price: sale.amount.value(),
            }],
            external_reference: Some(sale.external_reference.clone()),
            notification_url: Some(self.notification_url.clone()),
            expires: None,
            expiration_date_from: None,
            expiration_date_to: None,
            date_of_expiration: None,
            binary_mode: Some(true),
            metadata: None,
        };
        let created = self
            .client
            .create_preference(&request, &preference_key(sale))
            .await
            .map_err(|e| PreferenceError::Failed(e.to_string()))?;
        let id = self
            .journal
            .set_preference(sale.id, created.id)
            .await
            .map_err(|e| PreferenceError::Failed(format!("journal: {e}")))?;
        tracing::info!(sale = sale.id, preference = %id, "preference created");
        self.remember(sale.id, &id);
        Ok(id)
    }

    /// Creates the preference of every sale as soon as it becomes payable, so the first
    /// scan usually finds it ready instead of waiting on the API. Failures are left to the
    /// scan, which tries again within its bound.
    pub async fn prefetch(
        self,
        mut snapshots: tokio::sync::watch::Receiver<Arc<crate::forecourt::Snapshot>>,
        title: impl Fn(&Sale) -> String + Send + 'static,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        loop {
            let missing: Vec<Sale> = snapshots
                .borrow_and_update()
                .positions
                .values()
                .flat_map(|p| p.payable.iter())
                .filter(|sale| sale.preference_id.is_none() && self.known(sale.id).is_none())
                .cloned()
                .collect();
            for sale in missing {
                if let Err(e) = self.create(&sale, title(&sale)).await {
                    tracing::info!(sale = sale.id, error = %e, "preference not created ahead of the scan");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = snapshots.changed() => if changed.is_err() { return },
            }
        }
    }

    fn remember(&self, sale: SaleId, id: &str) {
        if let Ok(mut known) = self.known.lock() {
            known.insert(sale, id.to_owned());
        }
        if let Ok(mut creating) = self.creating.lock() {
            creating.remove(&sale);
        }
    }
}
