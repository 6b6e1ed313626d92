//! The sandbox's POS (one QR per pump face) and their validation rules (docs/mercadopago.md §5).
//!
//! Bodies are checked field by field from raw JSON so each mistake gets MP's own code
//! (`NAME_TOO_LONG`, `INVALID_EXTERNAL_ID`, `FIXED_AMOUNT_FALSE`, 409 on a duplicate
//! `external_id`…). Pure: no I/O, `now` passed in.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::mercadopago::types::{Paging, Pos, PosList, PosQr};

use super::state::{mp_date, ApiFailure};

/// MCC codes MP accepts for a POS `category` (fuel station, gastronomy).
pub const KNOWN_MCC: [u32; 2] = [473000, 621102];

const FIELDS: [&str; 7] = [
    "name",
    "fixed_amount",
    "category",
    "store_id",
    "external_store_id",
    "external_id",
    "url",
];

/// Strict upper bounds (§5: "< 45", "< 40", "< 300" characters).
const NAME_LIMIT: usize = 45;
const EXTERNAL_ID_LIMIT: usize = 40;
const URL_LIMIT: usize = 300;

/// The POS of the one seller.
#[derive(Debug)]
pub struct PosStore {
    collector_id: i64,
    base_url: String,
    enabled_url_hosts: Option<Vec<String>>,
    next_id: i64,
    by_id: BTreeMap<i64, Pos>,
}

/// Fields of a POS body after validation; `None` = not given.
#[derive(Debug, Default)]
struct PosFields {
    name: Option<String>,
    fixed_amount: Option<bool>,
    category: Option<Option<u32>>,
    store_id: Option<String>,
    external_store_id: Option<String>,
    external_id: Option<String>,
    url: Option<String>,
}

fn bad(code: &str, message: impl Into<String>) -> ApiFailure {
    ApiFailure::bad_request(code, message)
}

fn is_alphanumeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The host of a URL, with or without scheme, port or userinfo.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    host_port.split(':').next().unwrap_or("")
}

fn parse_fields(body: &Value) -> Result<PosFields, ApiFailure> {
    let obj: &Map<String, Value> = match body {
        Value::Object(o) if !o.is_empty() => o,
        _ => return Err(bad("MISSING_BODY", "The body is required")),
    };
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(bad(
            "UNKNOWN_FIELD_EXCEPTION",
            format!("Unknown field: {unknown}"),
        ));
    }
    let mut f = PosFields::default();
    if let Some(v) = obj.get("name") {
        let name = v
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| bad("INVALID_NAME", "name must be a non-empty string"))?;
        if name.chars().count() >= NAME_LIMIT {
            return Err(bad(
                "NAME_TOO_LONG",
                "name must be shorter than 45 characters",
            ));
        }
        f.name = Some(name.to_owned());
    }
    if let Some(v) = obj.get("fixed_amount") {
        f.fixed_amount = Some(
            v.as_bool()
                .ok_or_else(|| bad("INVALID_FIXED_AMOUNT", "fixed_amount must be a boolean"))?,
        );
    }
    if let Some(v) = obj.get("category") {
        f.category = Some(match v {
            Value::Null => None,
            Value::Number(n) => {
                let mcc = n
                    .as_u64()
                    .and_then(|m| u32::try_from(m).ok())
                    .ok_or_else(|| bad("INVALID_CATEGORY", "category must be an MCC code"))?;
                if !KNOWN_MCC.contains(&mcc) {
                    return Err(bad(
                        "UNKNOWN_MCC",
                        format!("Unknown MCC {mcc} for the site"),
                    ));
                }
                Some(mcc)
            }
            _ => {
                return Err(bad(
                    "INVALID_CATEGORY",
                    "category must be an MCC code or null",
                ))
            }
        });
    }
    if let Some(v) = obj.get("store_id") {
        let id = match v {
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.clone(),
            Value::Number(n) if n.as_u64().is_some() => n.to_string(),
            _ => return Err(bad("INVALID_STORE_ID", "store_id must be numeric")),
        };
        f.store_id = Some(id);
    }
    if let Some(v) = obj.get("external_store_id") {
        let id = v
            .as_str()
            .filter(|s| is_alphanumeric(s) && s.len() < EXTERNAL_ID_LIMIT)
            .ok_or_else(|| {
                bad(
                    "INVALID_EXTERNAL_STORE_ID",
                    "external_store_id must be letters and digits, under 40",
                )
            })?;
        f.external_store_id = Some(id.to_owned());
    }
    if let Some(v) = obj.get("external_id") {
        let id = v.as_str().filter(|s| is_alphanumeric(s)).ok_or_else(|| {
            bad(
                "INVALID_EXTERNAL_ID",
                "external_id must be letters and digits only, no spaces or specials",
            )
        })?;
        if id.len() >= EXTERNAL_ID_LIMIT {
            return Err(bad(
                "EXTERNAL_ID_TOO_LONG",
                "external_id must be shorter than 40 characters",
            ));
        }
        f.external_id = Some(id.to_owned());
    }
    if let Some(v) = obj.get("url") {
        let url = v
            .as_str()
            .filter(|s| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control()))
            .filter(|s| !url_host(s).is_empty())
            .ok_or_else(|| bad("INVALID_URL", "url must be a URL"))?;
        if url.chars().count() >= URL_LIMIT {
            return Err(bad(
                "URL_TOO_LONG",
                "url must be shorter than 300 characters",
            ));
        }
        f.url = Some(url.to_owned());
    }
    Ok(f)
}

impl PosStore {
    /// No POS yet.
    pub fn new(
        collector_id: i64,
        base_url: String,
        enabled_url_hosts: Option<Vec<String>>,
    ) -> Self {
        PosStore {
            collector_id,
            base_url,
            enabled_url_hosts,
            next_id: 2_711_381,
            by_id: BTreeMap::new(),
        }
    }

    fn check_rules(&self, pos: &Pos, own_id: Option<i64>) -> Result<(), ApiFailure> {
        if let Some(url) = &pos.url {
            if pos.fixed_amount != Some(true) {
                return Err(bad(
                    "FIXED_AMOUNT_FALSE",
                    "A POS with url needs fixed_amount: true",
                ));
            }
            if let Some(enabled) = &self.enabled_url_hosts {
                let host = url_host(url);
                if !enabled.iter().any(|h| h.eq_ignore_ascii_case(host)) {
                    return Err(ApiFailure::new(
                        403,
                        "forbidden",
                        format!("The url host {host} is not enabled for this integration"),
                    ));
                }
            }
        }
        if let Some(ext) = &pos.external_id {
            let taken = self.by_id.values().any(|p| {
                Some(p.id) != own_id
                    && p.external_id
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
            });
            if taken {
                return Err(ApiFailure::new(
                    409,
                    "conflict",
                    format!("A POS with external_id {ext} already exists"),
                ));
            }
        }
        Ok(())
    }

    /// `POST /pos`.
    pub fn create(&mut self, body: &Value, now: jiff::Timestamp) -> Result<Pos, ApiFailure> {
        let f = parse_fields(body)?;
        let name = f
            .name
            .ok_or_else(|| bad("INVALID_NAME", "name is required"))?;
        let id = self.next_id + 1;
        let uuid = uuid::Uuid::new_v4().simple().to_string();
        let qr_base = format!("{}/instore/merchant/qr/{id}", self.base_url);
        let date = mp_date(now);
        let pos = Pos {
            id,
            status: Some("active".to_owned()),
            uuid: Some(uuid.clone()),
            user_id: Some(self.collector_id),
            name: Some(name),
            fixed_amount: Some(f.fixed_amount.unwrap_or(false)),
            category: f.category.flatten(),
            store_id: f.store_id,
            external_store_id: f.external_store_id,
            external_id: f.external_id,
            url: f.url,
            qr: Some(PosQr {
                image: Some(format!("{qr_base}/{uuid}.png")),
                template_document: Some(format!("{qr_base}/template_{uuid}.pdf")),
                template_image: Some(format!("{qr_base}/template_{uuid}.png")),
            }),
            date_created: Some(date.clone()),
            date_last_updated: Some(date),
        };
        self.check_rules(&pos, None)?;
        self.next_id = id;
        self.by_id.insert(id, pos.clone());
        Ok(pos)
    }

    /// `PUT /pos/{id}`: the given fields replace the stored ones.
    pub fn update(
        &mut self,
        id: i64,
        body: &Value,
        now: jiff::Timestamp,
    ) -> Result<Pos, ApiFailure> {
        let f = parse_fields(body)?;
        let mut pos = self.get(id)?.clone();
        if let Some(v) = f.name {
            pos.name = Some(v);
        }
        if let Some(v) = f.fixed_amount {
            pos.fixed_amount = Some(v);
        }
        if let Some(v) = f.category {
            pos.category = v;
        }
        if let Some(v) = f.store_id {
            pos.store_id = Some(v);
        }
        if let Some(v) = f.external_store_id {
            pos.external_store_id = Some(v);
        }
        if let Some(v) = f.external_id {
            pos.external_id = Some(v);
        }
        if let Some(v) = f.url {
            pos.url = Some(v);
        }
        pos.date_last_updated = Some(mp_date(now));
        self.check_rules(&pos, Some(id))?;
        self.by_id.insert(id, pos.clone());
        Ok(pos)
    }

    /// `DELETE /pos/{id}`.
    pub fn delete(&mut self, id: i64) -> Result<Pos, ApiFailure> {
        self.by_id.remove(&id).ok_or_else(|| not_found(id))
    }

    /// `GET /pos/{id}`.
    pub fn get(&self, id: i64) -> Result<&Pos, ApiFailure> {
        self.by_id.get(&id).ok_or_else(|| not_found(id))
    }

    /// The POS with this `external_id` (case-insensitive).
    pub fn by_external_id(&self, external_id: &str) -> Option<&Pos> {
        self.by_id.values().find(|p| {
            p.external_id
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(external_id))
        })
    }

    /// The POS whose `url` is exactly this one.
    pub fn by_url(&self, url: &str) -> Option<&Pos> {
        self.by_id.values().find(|p| p.url.as_deref() == Some(url))
    }

    /// Every POS.
    pub fn all(&self) -> Vec<Pos> {
        self.by_id.values().cloned().collect()
    }

    /// `GET /pos` with the filters `external_id`, `external_store_id`, `store_id`,
    /// `category` and paging `offset`/`limit` (default 50).
    pub fn list(&self, params: &[(String, String)]) -> Result<PosList, ApiFailure> {
        let mut offset = 0usize;
        let mut limit = 50usize;
        let mut matching: Vec<&Pos> = self.by_id.values().collect();
        for (key, value) in params {
            let eq = |field: Option<&str>| field.is_some_and(|f| f.eq_ignore_ascii_case(value));
            match key.as_str() {
                "external_id" => matching.retain(|p| eq(p.external_id.as_deref())),
                "external_store_id" => matching.retain(|p| eq(p.external_store_id.as_deref())),
                "store_id" => matching.retain(|p| eq(p.store_id.as_deref())),
                "category" => {
                    matching.retain(|p| p.category.map(|c| c.to_string()).as_deref() == Some(value))
                }
                "offset" => {
                    offset = value
                        .parse()
                        .map_err(|_| bad("bad_request", "offset must be a number"))?
                }
                "limit" => {
                    limit = value
                        .parse()
                        .map_err(|_| bad("bad_request", "limit must be a number"))?
                }
                _ => {}
            }
        }
        let total = matching.len();
        Ok(PosList {
            paging: Paging {
                total: total as u64,
                offset: offset as u64,
                limit: limit as u64,
            },
            results: matching
                .into_iter()
                .skip(offset)
                .take(limit)
                .cloned()
                .collect(),
        })
    }
}

fn not_found(id: i64) -> ApiFailure {
    ApiFailure::not_found(
        "pos_obtainment_error",
        format!("Point of sale not found: {id}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store() -> PosStore {
        PosStore::new(446566691, "http://127.0.0.1:1".to_owned(), None)
    }

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_763_800_000).expect("in range")
    }

    fn code(r: Result<Pos, ApiFailure>) -> (u16, String) {
        let e = r.expect_err("must fail");
        (e.status, e.error)
    }

    #[test]
    fn each_field_rule_has_its_code() {
        let mut s = store();
        let cases = [
            (json!({}), "MISSING_BODY"),
            (json!(null), "MISSING_BODY"),
            (json!({"name": "a", "colour": 1}), "UNKNOWN_FIELD_EXCEPTION"),
            (json!({"name": ""}), "INVALID_NAME"),
            (json!({"fixed_amount": true}), "INVALID_NAME"),
            (json!({"name": "x".repeat(45)}), "NAME_TOO_LONG"),
            (
                json!({"name": "a", "fixed_amount": "yes"}),
                "INVALID_FIXED_AMOUNT",
            ),
            (json!({"name": "a", "category": "fuel"}), "INVALID_CATEGORY"),
            (json!({"name": "a", "category": 123}), "UNKNOWN_MCC"),
            (json!({"name": "a", "store_id": "12a"}), "INVALID_STORE_ID"),
            (
                json!({"name": "a", "external_store_id": "ST-29"}),
                "INVALID_EXTERNAL_STORE_ID",
            ),
            (
                json!({"name": "a", "external_id": "pos_1"}),
                "INVALID_EXTERNAL_ID",
            ),
            (
                json!({"name": "a", "external_id": "a b"}),
                "INVALID_EXTERNAL_ID",
            ),
            (
                json!({"name": "a", "external_id": "A".repeat(40)}),
                "EXTERNAL_ID_TOO_LONG",
            ),
            (
                json!({"name": "a", "fixed_amount": true, "url": "has space"}),
                "INVALID_URL",
            ),
            (
                json!({"name": "a", "fixed_amount": true, "url": format!("https://h/{}", "p".repeat(300))}),
                "URL_TOO_LONG",
            ),
            (
                json!({"name": "a", "url": "https://h/pay"}),
                "FIXED_AMOUNT_FALSE",
            ),
            (
                json!({"name": "a", "fixed_amount": false, "url": "https://h/pay"}),
                "FIXED_AMOUNT_FALSE",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(
                code(s.create(&body, now())),
                (400, want.to_owned()),
                "{body}"
            );
        }
        assert!(s.all().is_empty());
    }

    #[test]
    fn limits_are_strict_and_ids_are_case_insensitive() {
        let mut s = store();
        let ok = json!({"name": "x".repeat(44), "fixed_amount": true, "category": 473000,
                        "store_id": 1234567, "external_store_id": "ST29",
                        "external_id": "A".repeat(39), "url": "https://station.example/pay-mp?apies=29&pos=3"});
        let pos = s.create(&ok, now()).expect("valid POS");
        assert_eq!(pos.store_id.as_deref(), Some("1234567"));
        assert_eq!(pos.user_id, Some(446566691));
        let dup = json!({"name": "b", "external_id": "a".repeat(39)});
        assert_eq!(code(s.create(&dup, now())), (409, "conflict".to_owned()));
        // The duplicate's rule also holds on update, but not against itself.
        let other = s
            .create(&json!({"name": "c", "external_id": "ST29P04"}), now())
            .expect("ok");
        assert_eq!(
            code(s.update(other.id, &json!({"external_id": "A".repeat(39)}), now())),
            (409, "conflict".to_owned())
        );
        assert!(s
            .update(other.id, &json!({"external_id": "st29p04"}), now())
            .is_ok());
        assert_eq!(code(s.update(99, &json!({"name": "z"}), now())).0, 404);
    }

    #[test]
    fn hosts_must_be_enabled_when_a_list_is_given() {
        let mut s = PosStore::new(1, String::new(), Some(vec!["station.example".to_owned()]));
        let body = |url: &str| json!({"name": "a", "fixed_amount": true, "url": url});
        assert!(s
            .create(&body("https://station.example:8443/pay-mp?pos=1"), now())
            .is_ok());
        assert!(s
            .create(&body("station.example?apies=1&pos=1"), now())
            .is_ok());
        assert_eq!(
            code(s.create(&body("https://evil.example/p"), now())).0,
            403
        );
    }

    #[test]
    fn list_filters_and_pages() {
        let mut s = store();
        for i in 1..=5 {
            let body = json!({"name": format!("Surtidor {i}"), "external_id": format!("ST29P0{i}"),
                              "external_store_id": if i <= 3 { "ST29" } else { "ST30" },
                              "category": 473000});
            s.create(&body, now()).expect("ok");
        }
        let q = |pairs: &[(&str, &str)]| {
            let owned: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            s.list(&owned).expect("lists")
        };
        let one = q(&[("external_id", "st29p02")]);
        assert_eq!(one.paging.total, 1);
        assert_eq!(one.results[0].external_id.as_deref(), Some("ST29P02"));
        let page = q(&[
            ("external_store_id", "ST29"),
            ("offset", "1"),
            ("limit", "1"),
        ]);
        assert_eq!(page.paging.total, 3);
        assert_eq!(page.results.len(), 1);
        assert_eq!(page.results[0].external_id.as_deref(), Some("ST29P02"));
        assert_eq!(q(&[("category", "621102")]).paging.total, 0);
    }
}
