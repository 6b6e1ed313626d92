//! `forecourtd pos sync`: one Mercado Pago POS per position, with its order URL.
//!
//! For each position it looks the POS up by `external_id`, creates it when missing
//! (category 473000, fuel station; `fixed_amount` because it has a `url`), and stores the
//! QR data Mercado Pago returned in the journal, so staff can print the stickers. Running
//! it again finds the same POS: it never creates duplicates.

use jiff::Timestamp;
use pump_protocols::PositionId;
use serde_json::{json, Value};

use crate::config::Config;
use crate::journal::{Journal, PosRecord};
use crate::mercadopago::types::{Pos, PosRequest};
use crate::mercadopago::MercadoPagoClient;

/// Mercado Pago's category code (MCC) for fuel stations.
pub const FUEL_STATION_CATEGORY: u32 = 473000;

/// What one position's POS should be.
#[derive(Debug, Clone, PartialEq)]
pub struct PosPlan {
    /// The position.
    pub position: PositionId,
    /// What to create when it is missing.
    pub request: PosRequest,
}

/// The POS every position needs, from the configuration. Fails when the configuration has
/// no `public_base_url` to build order URLs from.
pub fn plans(config: &Config) -> Result<Vec<PosPlan>, String> {
    let mp = config.mercadopago();
    config
        .positions()
        .map(|position| {
            let url = config.order_url(position).ok_or_else(|| {
                "mercadopago.public_base_url is needed to build the POS order URLs".to_owned()
            })?;
            Ok(PosPlan {
                position,
                request: PosRequest {
                    name: config.pos_name(position),
                    fixed_amount: true,
                    category: Some(FUEL_STATION_CATEGORY),
                    store_id: mp.pos_store_id.clone(),
                    external_store_id: mp.pos_external_store_id.clone(),
                    external_id: Some(config.pos_external_id(position)),
                    url: Some(url),
                },
            })
        })
        .collect()
}

/// What happened to one position.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncResult {
    /// The position.
    pub position: PositionId,
    /// `created`, `found`, or `failed`.
    pub outcome: &'static str,
    /// The POS, when there is one.
    pub pos: Option<Pos>,
    /// A problem worth a person's look (a failure, or a POS whose URL differs).
    pub note: Option<String>,
}

impl SyncResult {
    /// As JSON for the admin API; the order URL is left out because it may carry the
    /// endpoint's token.
    pub fn to_json(&self) -> Value {
        let qr = self
            .pos
            .as_ref()
            .and_then(|p| p.qr.clone())
            .unwrap_or_default();
        json!({
            "position": self.position.0,
            "outcome": self.outcome,
            "mp_pos_id": self.pos.as_ref().map(|p| p.id),
            "external_id": self.pos.as_ref().and_then(|p| p.external_id.clone()),
            "qr": { "image": qr.image, "template_document": qr.template_document,
                    "template_image": qr.template_image },
            "note": self.note,
        })
    }
}

/// Creates or finds every planned POS and journals its QR data.
pub async fn sync(
    client: &MercadoPagoClient,
    journal: &Journal,
    plans: &[PosPlan],
) -> Vec<SyncResult> {
    let mut results = Vec::new();
    for plan in plans {
        let result = sync_one(client, journal, plan).await;
        match &result.note {
            Some(note) => {
                tracing::warn!(position = %plan.position, outcome = result.outcome, note, "POS sync")
            }
            None => tracing::info!(position = %plan.position, outcome = result.outcome, "POS sync"),
        }
        results.push(result);
    }
    results
}

async fn sync_one(client: &MercadoPagoClient, journal: &Journal, plan: &PosPlan) -> SyncResult {
    let failed = |note: String| SyncResult {
        position: plan.position,
        outcome: "failed",
        pos: None,
        note: Some(note),
    };
    let external_id = plan.request.external_id.clone().unwrap_or_default();
    let existing = match client.list_pos(Some(&external_id)).await {
        Ok(list) => list.results.into_iter().find(|p| {
            p.external_id
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(&external_id))
        }),
        Err(e) => return failed(format!("looking up {external_id}: {e}")),
    };
    let (outcome, pos, note) = match existing {
        Some(pos) => {
            let note = (pos.url != plan.request.url).then(|| {
                format!(
                    "POS {} exists with another order URL; update it in Mercado Pago",
                    pos.id
                )
            });
            ("found", pos, note)
        }
        None => match client.create_pos(&plan.request).await {
            Ok(pos) => ("created", pos, None),
            Err(e) => return failed(format!("creating {external_id}: {e}")),
        },
    };
    let qr = pos.qr.clone().unwrap_or_default();
    let record = PosRecord {
        position: plan.position,
        mp_pos_id: pos.id.to_string(),
        external_id: pos.external_id.clone().unwrap_or(external_id),
        url: pos.url.clone(),
        qr_image: qr.image,
        qr_template_document: qr.template_document,
        qr_template_image: qr.template_image,
        synced_at: Timestamp::now(),
    };
    if let Err(e) = journal.upsert_pos(record).await {
        return SyncResult {
            position: plan.position,
            outcome,
            pos: Some(pos),
            note: Some(format!("not journaled: {e}")),
        };
    }
    SyncResult {
        position: plan.position,
        outcome,
        pos: Some(pos),
        note,
    }
}
