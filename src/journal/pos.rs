//! The Mercado Pago POS of each position, with the QR images to print.
//!
//! Owns the `pos` table: one row per position, replaced on every sync. It stores what
//! Mercado Pago answered; creating or finding the POS is `forecourtd pos sync`'s job.

use jiff::Timestamp;
use pump_protocols::PositionId;
use rusqlite::{params, Connection};

use super::error::Result;
use super::row::{time_text, RowReader};

/// A position's POS as last synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PosRecord {
    /// The position.
    pub position: PositionId,
    /// Mercado Pago's POS id.
    pub mp_pos_id: String,
    /// The POS `external_id`.
    pub external_id: String,
    /// The order URL Mercado Pago calls.
    pub url: Option<String>,
    /// The bare QR code image.
    pub qr_image: Option<String>,
    /// The printable sticker (PDF).
    pub qr_template_document: Option<String>,
    /// The printable sticker (PNG).
    pub qr_template_image: Option<String>,
    /// When it was synced.
    pub synced_at: Timestamp,
}

pub(crate) fn upsert(conn: &Connection, pos: &PosRecord) -> Result<()> {
    conn.execute(
        "INSERT INTO pos (position, mp_pos_id, external_id, url, qr_image, \
         qr_template_document, qr_template_image, synced_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (position) DO UPDATE SET mp_pos_id = excluded.mp_pos_id, \
         external_id = excluded.external_id, url = excluded.url, qr_image = excluded.qr_image, \
         qr_template_document = excluded.qr_template_document, \
         qr_template_image = excluded.qr_template_image, synced_at = excluded.synced_at",
        params![
            i64::from(pos.position.0),
            pos.mp_pos_id,
            pos.external_id,
            pos.url,
            pos.qr_image,
            pos.qr_template_document,
            pos.qr_template_image,
            time_text(pos.synced_at),
        ],
    )?;
    Ok(())
}

pub(crate) fn all(conn: &Connection) -> Result<Vec<PosRecord>> {
    let mut statement = conn.prepare(
        "SELECT position, mp_pos_id, external_id, url, qr_image, qr_template_document, \
         qr_template_image, synced_at FROM pos ORDER BY position",
    )?;
    let mut rows = statement.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let r = RowReader::new(row, "pos", "position")?;
        out.push(PosRecord {
            position: PositionId(r.int("position")?),
            mp_pos_id: r.get("mp_pos_id")?,
            external_id: r.get("external_id")?,
            url: r.opt_text("url")?,
            qr_image: r.opt_text("qr_image")?,
            qr_template_document: r.opt_text("qr_template_document")?,
            qr_template_image: r.opt_text("qr_template_image")?,
            synced_at: r.time("synced_at")?,
        });
    }
    Ok(out)
}
