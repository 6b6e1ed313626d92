//! Grades in the admin API: reading the optional grade limit of an authorization, and
//! the grades each position sells as `/api/positions` shows them.
//!
//! A grade is named by its configured id (`2` or `"2"`), its configuration key
//! (`"infinia"`) or its display name (`"Infinia"`, any case). The refusals are 422 with
//! their own `error.type`: `unknown_grade` (not configured at the station),
//! `grade_not_at_position` (no nozzle of the position dispenses it) and
//! `grade_limit_unsupported` (the pump's protocol cannot enforce the limit).

use pump_protocols::GradeId;
use serde_json::{json, Value};

use super::admin::StationInfo;
use super::error::ApiError;
use crate::forecourt::dispatch::{PositionSetup, RequestRefused};

/// The grades of an authorization body's `grades` field, each once, in the order given;
/// absent, null or empty is no limit.
pub fn requested_grades(
    field: Option<&Value>,
    station: &StationInfo,
) -> Result<Vec<GradeId>, ApiError> {
    let items = match field {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "grades must be a list of grade numbers or names".to_owned(),
            ))
        }
    };
    let mut grades = Vec::with_capacity(items.len());
    for item in items {
        let text = match item {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_owned(),
            _ => {
                return Err(ApiError::BadRequest(
                    "grades must be a list of grade numbers or names".to_owned(),
                ))
            }
        };
        let grade = station
            .grades
            .iter()
            .find(|(id, key, name)| {
                id.0.to_string() == text || *key == text || name.eq_ignore_ascii_case(&text)
            })
            .map(|(id, _, _)| *id)
            .ok_or_else(|| ApiError::Unprocessable {
                kind: "unknown_grade",
                message: format!("no grade {text:?} is configured at this station"),
            })?;
        if !grades.contains(&grade) {
            grades.push(grade);
        }
    }
    Ok(grades)
}

/// The answer to a refused grade limit, when `refused` is one.
pub fn refusal(refused: &RequestRefused) -> Option<ApiError> {
    let kind = match refused {
        RequestRefused::GradeNotHere { .. } => "grade_not_at_position",
        RequestRefused::GradeLimitUnsupported { .. } => "grade_limit_unsupported",
        _ => return None,
    };
    Some(ApiError::Unprocessable {
        kind,
        message: refused.to_string(),
    })
}

/// The grades a position sells: `[{"grade": 2, "key": "infinia", "name": "Infinia",
/// "nozzles": [2]}]`, by grade id.
pub fn position_grades(setup: &PositionSetup, station: &StationInfo) -> Value {
    let mut ids: Vec<GradeId> = setup.nozzles.iter().map(|n| n.grade).collect();
    ids.sort_unstable();
    ids.dedup();
    Value::Array(
        ids.into_iter()
            .map(|grade| {
                let nozzles: Vec<u8> = setup
                    .nozzles
                    .iter()
                    .filter(|n| n.grade == grade)
                    .map(|n| n.nozzle.0)
                    .collect();
                json!({
                    "grade": grade.0,
                    "key": station.grade_key(grade),
                    "name": station.grade_name(grade),
                    "nozzles": nozzles,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn station() -> StationInfo {
        StationInfo {
            shift_role: crate::access::Role::Attendant,
            time_zone: jiff::tz::TimeZone::UTC,
            grades: vec![
                (GradeId(1), "super".to_owned(), "Super".to_owned()),
                (GradeId(2), "infinia".to_owned(), "Infinia".to_owned()),
            ],
        }
    }

    #[test]
    fn grades_are_named_by_number_key_or_name_and_kept_once() {
        let field = json!([2, "1", "infinia", "SUPER"]);
        assert_eq!(
            requested_grades(Some(&field), &station()),
            Ok(vec![GradeId(2), GradeId(1)])
        );
        assert_eq!(requested_grades(None, &station()), Ok(vec![]));
        assert_eq!(requested_grades(Some(&json!([])), &station()), Ok(vec![]));
    }

    #[test]
    fn an_unknown_grade_is_422_and_a_wrong_shape_400() {
        let unknown =
            requested_grades(Some(&json!([7])), &station()).expect_err("grade 7 is not configured");
        assert_eq!(unknown.status(), hyper::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(unknown.body()["error"]["type"], "unknown_grade");
        for wrong in [json!(2), json!([true]), json!({"grade": 2})] {
            assert_eq!(
                requested_grades(Some(&wrong), &station()),
                Err(ApiError::BadRequest(
                    "grades must be a list of grade numbers or names".to_owned()
                )),
                "{wrong}"
            );
        }
    }
}
