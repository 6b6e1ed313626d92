//! Points of sale (docs/mercadopago.md §5): the body the station sends to create or update the
//! POS of a pump face, and the POS and POS list MP answers.
//!
//! Shapes only, as the parent module says; it never creates or syncs a POS.

use serde::{Deserialize, Serialize};

use super::{string_from_number_or_string, Paging};

/// Body of `POST /pos` and `PUT /pos/{id}` (docs/mercadopago.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosRequest {
    /// Display name, under 45 characters.
    pub name: String,
    /// `true` whenever `url` is set.
    pub fixed_amount: bool,
    /// MCC: 473000 fuel station, 621102 gastronomy, `None` general.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<u32>,
    /// MP's numeric store id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    /// The integrator's store id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_store_id: Option<String>,
    /// The pump face: letters and digits only, under 40 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The order URL MP calls on a scan (unattended model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `qr` of a POS: the printable images.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosQr {
    /// The bare code.
    #[serde(default)]
    pub image: Option<String>,
    /// Printable sticker, PDF.
    #[serde(default)]
    pub template_document: Option<String>,
    /// Printable sticker, PNG.
    #[serde(default)]
    pub template_image: Option<String>,
}

/// A POS as MP returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pos {
    /// POS id.
    pub id: i64,
    /// `active`.
    #[serde(default)]
    pub status: Option<String>,
    /// MP's uuid of the QR.
    #[serde(default)]
    pub uuid: Option<String>,
    /// Owner (collector).
    #[serde(default)]
    pub user_id: Option<i64>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Fixed amount flag.
    #[serde(default)]
    pub fixed_amount: Option<bool>,
    /// MCC.
    #[serde(default)]
    pub category: Option<u32>,
    /// MP store id.
    #[serde(default, deserialize_with = "string_from_number_or_string")]
    pub store_id: Option<String>,
    /// Integrator's store id.
    #[serde(default)]
    pub external_store_id: Option<String>,
    /// Integrator's POS id.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Order URL.
    #[serde(default)]
    pub url: Option<String>,
    /// QR images.
    #[serde(default)]
    pub qr: Option<PosQr>,
    /// Creation time.
    #[serde(default)]
    pub date_created: Option<String>,
    /// Last change.
    #[serde(default)]
    pub date_last_updated: Option<String>,
}

/// `GET /pos` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosList {
    /// Paging.
    #[serde(default)]
    pub paging: Paging,
    /// POS on this page.
    #[serde(default)]
    pub results: Vec<Pos>,
}
