//! Dispatches limited to some grades: which nozzles of a position a grade limit allows,
//! and whether the position's pump can enforce it.
//!
//! A limit is given in grades (what attendants and the price book speak of) and reaches the
//! pump as nozzles, through the position's configured nozzle map. A limit the pump's
//! protocol cannot express is refused before anything is journaled or sent, never
//! silently widened to every grade (docs/protocols/gilbarco.md §8).

use pump_protocols::{Authorization, GradeId, NozzleId, PumpCommand};

use super::dispatch::{PositionSetup, RequestRefused};

/// The nozzles of the position that dispense `grades`, in nozzle order; empty when
/// `grades` is empty (every nozzle). A grade the position does not sell is refused.
pub fn nozzles_for(
    setup: &PositionSetup,
    grades: &[GradeId],
) -> Result<Vec<NozzleId>, RequestRefused> {
    if let Some(&grade) = grades
        .iter()
        .find(|g| !setup.nozzles.iter().any(|n| n.grade == **g))
    {
        return Err(RequestRefused::GradeNotHere {
            position: setup.position,
            grade,
        });
    }
    let mut nozzles: Vec<NozzleId> = setup
        .nozzles
        .iter()
        .filter(|n| grades.contains(&n.grade))
        .map(|n| n.nozzle)
        .collect();
    nozzles.sort_unstable();
    nozzles.dedup();
    Ok(nozzles)
}

/// The grades of `nozzles` on the position, each once, in nozzle order.
pub fn grades_of(setup: &PositionSetup, nozzles: &[NozzleId]) -> Vec<GradeId> {
    let mut grades = Vec::new();
    for nozzle in nozzles {
        if let Some(n) = setup.nozzles.iter().find(|n| n.nozzle == *nozzle) {
            if !grades.contains(&n.grade) {
                grades.push(n.grade);
            }
        }
    }
    grades
}

/// Checks an authorization against what the pump can take. When only its nozzle limit is
/// what the pump cannot take, the refusal says so ([`RequestRefused::GradeLimitUnsupported`]),
/// so the attendant knows the same dispatch without the limit would go through.
pub fn check_authorization(
    setup: &PositionSetup,
    authorization: &Authorization,
) -> Result<(), RequestRefused> {
    let position = setup.position;
    let check = |a: &Authorization| {
        setup
            .commands
            .check(&setup.pump, &PumpCommand::Authorize(a.clone()))
    };
    let Err(reason) = check(authorization) else {
        return Ok(());
    };
    let unlimited = Authorization {
        preset: authorization.preset,
        nozzles: Vec::new(),
    };
    if !authorization.nozzles.is_empty() && check(&unlimited).is_ok() {
        return Err(RequestRefused::GradeLimitUnsupported { position, reason });
    }
    Err(RequestRefused::NotForThisPump { position, reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecourt::dispatch::NozzlePrice;
    use pump_protocols::{Money, Preset, UnitPrice};
    use rust_decimal::Decimal;

    /// Position 3: nozzle 1 super (grade 1), nozzle 2 infinia (grade 2), nozzle 3 super
    /// again (a second hose of the same grade).
    fn setup(commands: crate::protocols::CommandRules) -> PositionSetup {
        let mut setup = crate::forecourt::dispatch::tests::setup();
        let map = [(1, 1), (2, 2), (3, 1)];
        setup.nozzles = map
            .iter()
            .map(|&(n, g)| NozzlePrice {
                nozzle: NozzleId(n),
                grade: GradeId(g),
                price: UnitPrice::new(Decimal::new(145_000, 2)),
            })
            .collect();
        setup.pump.nozzles = map
            .iter()
            .map(|&(n, g)| (NozzleId(n), GradeId(g)))
            .collect();
        setup.commands = commands;
        setup
    }

    fn gilbarco() -> crate::protocols::CommandRules {
        crate::protocols::CommandRules::Gilbarco(Box::default())
    }

    fn limited(preset: Option<Preset>, nozzles: &[u8]) -> Authorization {
        Authorization {
            preset,
            nozzles: nozzles.iter().map(|&n| NozzleId(n)).collect(),
        }
    }

    #[test]
    fn a_grade_allows_every_nozzle_that_dispenses_it() {
        let setup = setup(crate::protocols::CommandRules::Dart);
        assert_eq!(
            nozzles_for(&setup, &[GradeId(1)]),
            Ok(vec![NozzleId(1), NozzleId(3)])
        );
        assert_eq!(nozzles_for(&setup, &[GradeId(2)]), Ok(vec![NozzleId(2)]));
        assert_eq!(nozzles_for(&setup, &[]), Ok(vec![]), "no limit");
        assert_eq!(
            grades_of(&setup, &[NozzleId(1), NozzleId(2), NozzleId(3)]),
            vec![GradeId(1), GradeId(2)]
        );
    }

    #[test]
    fn a_grade_the_position_does_not_sell_is_refused() {
        let setup = setup(crate::protocols::CommandRules::Dart);
        assert_eq!(
            nozzles_for(&setup, &[GradeId(2), GradeId(4)]),
            Err(RequestRefused::GradeNotHere {
                position: setup.position,
                grade: GradeId(4)
            })
        );
    }

    #[test]
    fn dart_takes_any_grade_limit() {
        let setup = setup(crate::protocols::CommandRules::Dart);
        assert_eq!(check_authorization(&setup, &limited(None, &[2])), Ok(()));
        assert_eq!(check_authorization(&setup, &limited(None, &[1, 3])), Ok(()));
    }

    #[test]
    fn gilbarco_limits_to_one_grade_only_with_a_preset() {
        let setup = setup(gilbarco());
        let amount = Some(Preset::Amount(Money::new(Decimal::new(500, 0))));
        assert_eq!(check_authorization(&setup, &limited(amount, &[2])), Ok(()));
        assert_eq!(
            check_authorization(&setup, &limited(None, &[]),),
            Ok(()),
            "no limit needs no preset"
        );
        for refused in [limited(None, &[2]), limited(amount, &[1, 2])] {
            assert!(
                matches!(
                    check_authorization(&setup, &refused),
                    Err(RequestRefused::GradeLimitUnsupported { .. })
                ),
                "{refused:?} must be refused as a limit the pump cannot take"
            );
        }
    }

    #[test]
    fn a_preset_the_pump_cannot_take_is_not_blamed_on_the_limit() {
        let setup = setup(gilbarco());
        let huge = Some(Preset::Amount(Money::new(Decimal::new(1_000_000_000, 0))));
        assert!(matches!(
            check_authorization(&setup, &limited(huge, &[2])),
            Err(RequestRefused::NotForThisPump { .. })
        ));
    }
}
