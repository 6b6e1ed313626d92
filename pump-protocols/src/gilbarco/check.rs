//! What a neutral [`PumpCommand`] becomes on a Gilbarco loop, and the refusal of what a
//! pump cannot take (docs/protocols/gilbarco.md §2, §5).
//!
//! Owns the translation into a list of [`Action`]s and every check on the way: nozzles
//! the pump has, presets and prices that fit their digit words exactly (never rounded),
//! commands the protocol does not have. It never sends anything: the master does.

use super::controller_blocks::{ControllerBlock, PresetBlock, PresetKind};
use super::master::GilbarcoMasterSettings;
use super::{DigitMode, PriceLevel};
use crate::model::{Authorization, Preset, PumpCommand, PumpSetup};
use crate::units::NozzleId;

/// Grades a pump can report: the grade word carries one digit, 0..=9 (§4). Logical
/// nozzle n of the neutral model is the pump's grade n (wire word `E0 | (n − 1)`).
pub const MAX_GRADES: u8 = 10;

/// One step of a command, as the master carries it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// `2p` → `Dp`, the block, then `0p` to learn whether it was taken (§5).
    SendBlock(ControllerBlock),
    /// `1p`, no reply.
    Authorize,
    /// `3p`, no reply.
    Stop,
    /// `5p` and the totals of this grade index.
    ReadTotals(u8),
    /// `0p`, reporting the status even when it did not change.
    Status,
    /// Real-time money while busy; the transaction (reported as a completion, again if
    /// need be) while the pump shows a finished sale; nothing otherwise.
    FillingInfo,
}

/// Whether `command` can be sent to the pump `setup` with the default settings.
///
/// ```
/// use pump_protocols::gilbarco::check_command;
/// use pump_protocols::{Authorization, BusAddress, Decimals, GradeId, Money, NozzleId};
/// use pump_protocols::{Preset, PumpCommand, PumpSetup};
///
/// let setup = PumpSetup {
///     address: BusAddress(1),
///     decimals: Decimals::default(),
///     nozzles: vec![(NozzleId(1), GradeId(95))],
/// };
/// let preset = |cents| PumpCommand::Authorize(Authorization {
///     preset: Some(Preset::Amount(Money::from_raw(cents, 2))),
///     nozzles: vec![],
/// });
/// assert!(check_command(&setup, &preset(99_999)).is_ok());
/// // Five money words at two decimals stop at 999.99: refused, never rounded.
/// assert!(check_command(&setup, &preset(100_000)).is_err());
/// ```
pub fn check_command(setup: &PumpSetup, command: &PumpCommand) -> Result<(), String> {
    check_command_with(&GilbarcoMasterSettings::default(), setup, command)
}

/// Whether `command` can be sent to the pump `setup` by a master with `settings`.
pub fn check_command_with(
    settings: &GilbarcoMasterSettings,
    setup: &PumpSetup,
    command: &PumpCommand,
) -> Result<(), String> {
    plan(settings, setup, command).map(|_| ())
}

fn grade_index(setup: &PumpSetup, nozzle: NozzleId) -> Result<u8, String> {
    if setup.grade_of(nozzle).is_none() {
        return Err(format!(
            "nozzle {nozzle} is not configured on pump {}",
            setup.address
        ));
    }
    if !(1..=MAX_GRADES).contains(&nozzle.0) {
        return Err(format!(
            "nozzle {nozzle} is outside Gilbarco's grades 1..=10"
        ));
    }
    Ok(nozzle.0 - 1)
}

/// The actions carrying out `command`, or why it cannot be.
pub(crate) fn plan(
    settings: &GilbarcoMasterSettings,
    setup: &PumpSetup,
    command: &PumpCommand,
) -> Result<Vec<Action>, String> {
    Ok(match command {
        PumpCommand::ReturnStatus => vec![Action::Status],
        PumpCommand::ReturnFillingInfo => vec![Action::FillingInfo],
        // No reset on the loop: a pump leaves its end of sale when its sale is read, which
        // the master does by itself, and again on request here.
        PumpCommand::Reset => vec![Action::FillingInfo],
        PumpCommand::Stop => vec![Action::Stop],
        PumpCommand::Suspend | PumpCommand::Resume => {
            return Err("Gilbarco two-wire has no suspend or resume (§2)".into())
        }
        PumpCommand::SwitchOff => return Err("Gilbarco two-wire has no switch-off (§2)".into()),
        PumpCommand::Authorize(auth) => authorize(settings, setup, auth)?,
        PumpCommand::SetPrices(prices) => {
            if prices.is_empty() {
                return Err("no price to set".into());
            }
            let digits = settings.digits.price_digits();
            let mut actions = Vec::new();
            for &(nozzle, price) in prices {
                let grade = grade_index(setup, nozzle)?;
                let ppu = price
                    .to_raw(setup.decimals.price, digits as u8)
                    .map_err(|e| format!("price of nozzle {nozzle}: {e}"))?;
                if ppu == 0 {
                    return Err(format!("price of nozzle {nozzle} is zero"));
                }
                let mut levels = vec![PriceLevel::One];
                if settings.set_both_levels {
                    levels.push(PriceLevel::Two);
                }
                for level in levels {
                    actions.push(Action::SendBlock(ControllerBlock::PriceChange {
                        level,
                        grade,
                        ppu,
                        digits: digits as u8,
                    }));
                }
            }
            actions
        }
        PumpCommand::ReadTotals(nozzle) => vec![Action::ReadTotals(grade_index(setup, *nozzle)?)],
    })
}

fn authorize(
    settings: &GilbarcoMasterSettings,
    setup: &PumpSetup,
    auth: &Authorization,
) -> Result<Vec<Action>, String> {
    let mut grades = Vec::new();
    for &nozzle in &auth.nozzles {
        let grade = grade_index(setup, nozzle)?;
        if !grades.contains(&grade) {
            grades.push(grade);
        }
    }
    let every = setup.nozzles.len();
    let grade = match grades.len() {
        0 => None,
        n if n == every => None,
        1 => grades.first().copied(),
        _ => {
            return Err(
                "Gilbarco limits a dispatch to one grade or none, not to several (§5)".into(),
            )
        }
    };
    let Some(preset) = auth.preset else {
        if grade.is_some() {
            return Err("Gilbarco names a grade only in a preset block (§5)".into());
        }
        return Ok(vec![Action::Authorize]);
    };
    if grade.is_some() && !settings.preset_with_level {
        return Err("the short preset form cannot name a grade (§5)".into());
    }
    let d = setup.decimals;
    let (kind, value, digits) = match preset {
        Preset::Amount(money) => {
            let digits = match settings.digits {
                DigitMode::Six => settings.money_preset_digits,
                DigitMode::Eight => 8,
            };
            let raw = money
                .to_raw(d.amount, digits)
                .map_err(|e| format!("amount preset: {e}"))?;
            (PresetKind::Money, raw, digits)
        }
        Preset::Volume(volume) => {
            let digits = settings.digits.volume_preset_digits() as u8;
            let raw = volume
                .to_raw(d.volume, digits)
                .map_err(|e| format!("volume preset: {e}"))?;
            (PresetKind::Volume, raw, digits)
        }
    };
    if value == 0 {
        return Err("a preset of zero".into());
    }
    let block = PresetBlock {
        kind,
        level: settings.preset_with_level.then_some(settings.price_level),
        grade,
        value,
        digits,
    };
    Ok(vec![
        Action::SendBlock(ControllerBlock::Preset(block)),
        Action::Authorize,
    ])
}
