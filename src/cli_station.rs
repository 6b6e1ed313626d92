//! The command line of shifts and prices: `forecourtd shift …` and `forecourtd prices …`.
//!
//! Each command is one admin API call (made by `main` with the CLI's token); this module
//! only turns arguments into requests, so the CLI has no path the console lacks.

use serde_json::{json, Map, Value};

use crate::cli_access::{get, post, ApiRequest};

/// `forecourtd shift …`.
#[derive(Debug, clap::Subcommand)]
pub enum ShiftAction {
    /// Read every pump's totalizers and open a shift.
    Open {
        /// The shift's one-character loyalty code (default: the day's count of shifts).
        #[arg(long)]
        code: Option<String>,
    },
    /// Read the totalizers again and close the open shift; prints its report.
    Close,
    /// The open shift, if any.
    Show,
    /// A shift's report (default: the latest shift) (manager).
    Report {
        /// The shift id.
        id: Option<i64>,
        /// CSV instead of JSON.
        #[arg(long)]
        csv: bool,
    },
}

impl ShiftAction {
    /// The API request.
    pub fn request(&self) -> ApiRequest {
        match self {
            ShiftAction::Open { code } => {
                let body = match code {
                    Some(code) => json!({ "code": code }),
                    None => json!({}),
                };
                post("/api/shifts/open".to_owned(), body)
            }
            ShiftAction::Close => post("/api/shifts/close".to_owned(), json!({})),
            ShiftAction::Show => get("/api/shifts/current".to_owned()),
            ShiftAction::Report { id, csv } => {
                let id = id.map_or_else(|| "latest".to_owned(), |id| id.to_string());
                let suffix = if *csv { ".csv" } else { "" };
                get(format!("/api/shifts/{id}/report{suffix}"))
            }
        }
    }

    /// True when the answer is CSV text, not JSON.
    pub fn wants_csv(&self) -> bool {
        matches!(self, ShiftAction::Report { csv: true, .. })
    }
}

/// `forecourtd prices …`.
#[derive(Debug, clap::Subcommand)]
pub enum PricesAction {
    /// The prices in force, the scheduled sets, and each pump's confirmation.
    Show,
    /// Set grade prices (manager): `super=1500.00 infinia=1780`.
    Set {
        /// `GRADE=PRICE`, grade by key or id.
        #[arg(required = true)]
        prices: Vec<String>,
        /// When they take effect (RFC 3339 with an offset); default now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Cancel a price set scheduled for later (manager); it never takes effect.
    Cancel {
        /// The price set's id (`prices show` lists the scheduled ones).
        id: i64,
    },
}

impl PricesAction {
    /// The API request, or why the arguments are malformed.
    pub fn request(&self) -> Result<ApiRequest, String> {
        Ok(match self {
            PricesAction::Show => get("/api/prices".to_owned()),
            PricesAction::Set { prices, at } => {
                let mut grades = Map::new();
                for item in prices {
                    let (grade, price) = item
                        .split_once('=')
                        .ok_or_else(|| format!("{item:?}: expected GRADE=PRICE"))?;
                    grades.insert(grade.to_owned(), Value::String(price.to_owned()));
                }
                let mut body = json!({ "grades": grades });
                if let Some(at) = at {
                    body["at"] = json!(at);
                }
                post("/api/prices".to_owned(), body)
            }
            PricesAction::Cancel { id } => post(format!("/api/prices/{id}/cancel"), json!({})),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_arguments_become_one_request() {
        let action = PricesAction::Set {
            prices: vec!["super=1500.00".into(), "2=1780".into()],
            at: Some("2026-12-03T06:00:00-03:00".into()),
        };
        let request = action.request().expect("well formed");
        assert_eq!(request.path, "/api/prices");
        assert_eq!(
            request.body,
            Some(json!({"grades": {"super": "1500.00", "2": "1780"},
                        "at": "2026-12-03T06:00:00-03:00"}))
        );
        let bad = PricesAction::Set {
            prices: vec!["super".into()],
            at: None,
        };
        assert!(bad.request().is_err());
    }

    #[test]
    fn cancelling_a_price_set_posts_to_its_route() {
        let request = PricesAction::Cancel { id: 7 }
            .request()
            .expect("well formed");
        assert_eq!(request.path, "/api/prices/7/cancel");
        assert_eq!(request.body, Some(json!({})));
    }

    #[test]
    fn a_report_without_id_is_the_latest() {
        let action = ShiftAction::Report {
            id: None,
            csv: true,
        };
        assert!(action.wants_csv());
        assert_eq!(action.request().path, "/api/shifts/latest/report.csv");
    }
}
