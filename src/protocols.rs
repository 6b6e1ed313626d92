//! Builds the protocol core of a configured line. The only place that names a concrete
//! protocol; everything else sees [`LineMaster`] and [`LineSimulator`].

use pump_protocols::dart::{self, DartMaster, DartMasterSettings, DartSimulator, SerialSettings};
use pump_protocols::gilbarco::{
    DigitMode, GilbarcoMaster, GilbarcoMasterSettings, GilbarcoSimulator, SimPumpSetup, SimSettings,
};
use pump_protocols::{
    BusAddress, Decimals, LineMaster, LineSimulator, NozzleId, PumpCommand, PumpSetup, UnitPrice,
};

use std::time::Duration;

use crate::config::{DataBits, Line, Parity, Protocol, StopBits};

/// The character format and speed of a configured line.
fn serial(line: &Line) -> SerialSettings {
    SerialSettings {
        baud_rate: line.baud,
        data_bits: match line.data_bits {
            DataBits::Seven => 7,
            DataBits::Eight => 8,
        },
        parity: match line.parity {
            Parity::Odd => dart::Parity::Odd,
            Parity::Even => dart::Parity::Even,
            Parity::None => dart::Parity::None,
        },
        stop_bits: match line.stop_bits {
            StopBits::One => 1,
            StopBits::Two => 2,
        },
    }
}

/// The Gilbarco master settings of a configured line.
fn gilbarco_settings(line: &Line) -> GilbarcoMasterSettings {
    GilbarcoMasterSettings {
        status_timeout: line.response_timeout,
        poll_interval: line.poll_interval,
        offline_after_misses: line.offline_after_misses,
        busy_turn_every: line.busy_turn_every,
        retries: line.retries,
        echo: line.echo,
        digits: line.digits,
        serial: serial(line),
        ..GilbarcoMasterSettings::default()
    }
}

/// The DART master settings of a configured line.
fn dart_settings(line: &Line) -> DartMasterSettings {
    DartMasterSettings {
        response_timeout: line.response_timeout,
        poll_interval: line.poll_interval,
        offline_after_misses: line.offline_after_misses,
        busy_turn_every: line.busy_turn_every,
        retries: line.retries,
        tx_wrap: line.tx_wrap,
        on_nak: line.on_nak,
        serial: serial(line),
        ..DartMasterSettings::default()
    }
}

/// The master for a configured line.
pub fn build_master(line: &Line) -> anyhow::Result<Box<dyn LineMaster>> {
    match line.protocol {
        Protocol::Dart => Ok(Box::new(DartMaster::new(
            dart_settings(line),
            line.pump_setups(),
        )?)),
        Protocol::Gilbarco => Ok(Box::new(GilbarcoMaster::new(
            gilbarco_settings(line),
            line.pump_setups(),
        )?)),
    }
}

/// How long a pump of `line` that never answered takes to count as offline: the master
/// polls a pump not yet heard every `offline_poll_interval`, so this is the time its
/// `offline_after_misses` polls take, the same number of misses that makes a pump that
/// answered offline. The masters report no transition for a pump never heard; the
/// forecourt applies this instead (`forecourt::link`).
pub fn never_heard_offline_after(line: &Line) -> Duration {
    let every = match line.protocol {
        Protocol::Dart => dart_settings(line).offline_poll_interval,
        Protocol::Gilbarco => gilbarco_settings(line).offline_poll_interval,
    };
    every.saturating_mul(line.offline_after_misses)
}

/// What the pumps of one line can take: its protocol with the line's own settings (a
/// Gilbarco loop in 8-digit mode takes longer presets than one in 6-digit mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandRules {
    /// Wayne DART.
    Dart,
    /// Gilbarco two-wire, with the line's master settings.
    Gilbarco(Box<GilbarcoMasterSettings>),
}

impl CommandRules {
    /// The rules of a configured line.
    pub fn of(line: &Line) -> Self {
        match line.protocol {
            Protocol::Dart => CommandRules::Dart,
            Protocol::Gilbarco => CommandRules::Gilbarco(Box::new(gilbarco_settings(line))),
        }
    }

    /// Checks a command against what the pump can take, before it is accepted from an
    /// attendant: a preset with more digits or decimals than the pump's fields, or a
    /// nozzle it does not have, is refused here with the reason, never rounded or dropped
    /// later.
    pub fn check(&self, pump: &PumpSetup, command: &PumpCommand) -> Result<(), String> {
        match self {
            CommandRules::Dart => dart::check_command(pump, command),
            CommandRules::Gilbarco(settings) => {
                pump_protocols::gilbarco::check_command_with(settings, pump, command)
            }
        }
    }
}

/// Price of nozzle 1 (super) on simulated pumps, as the demo configuration sells it.
pub const DEMO_PRICE_SUPER: &str = "1450.00";
/// Price of nozzle 2 (infinia) on simulated pumps.
pub const DEMO_PRICE_INFINIA: &str = "1720.00";

/// Simulated DART pumps for the demo, `simulate` and the tests: `pumps` pumps (1..=32)
/// from address 0x50, two nozzles each (1 super, 2 infinia), two decimals everywhere.
/// They start unprogrammed, as real heads do after power-up, and take the prices the
/// daemon programs.
pub fn demo_simulator(pumps: u8) -> anyhow::Result<Box<dyn LineSimulator>> {
    Ok(Box::new(demo_dart(pumps)?))
}

/// The pumps of [`demo_simulator`] as their concrete type, for a harness that wraps them.
pub fn demo_dart(pumps: u8) -> anyhow::Result<DartSimulator> {
    let nozzles = demo_nozzles()?;
    let simulator =
        DartSimulator::with_pumps(pumps, BusAddress(0x50), Decimals::default(), &nozzles)
            .map_err(|e| anyhow::anyhow!("simulated pumps: {e}"))?;
    Ok(simulator)
}

/// Nozzle 1 super, nozzle 2 infinia, at the demo prices.
fn demo_nozzles() -> anyhow::Result<[(NozzleId, UnitPrice); 2]> {
    let price = |text: &str| -> anyhow::Result<UnitPrice> {
        Ok(UnitPrice::new(text.parse::<rust_decimal::Decimal>()?))
    };
    Ok([
        (NozzleId(1), price(DEMO_PRICE_SUPER)?),
        (NozzleId(2), price(DEMO_PRICE_INFINIA)?),
    ])
}

/// Field widths of the simulated Gilbarco loop: 8-digit ("extended") mode, whose 6-digit
/// prices and 8-digit sales carry the demo's peso prices with two decimals
/// (docs/protocols/gilbarco.md §4.1).
pub const DEMO_GILBARCO_DIGITS: DigitMode = DigitMode::Eight;

/// Simulated Gilbarco pumps for the demo and the tests: `pumps` pumps (1..=16) numbered
/// from 1, the same two nozzles, prices and decimals as [`demo_simulator`]'s, in
/// [`DEMO_GILBARCO_DIGITS`] mode.
pub fn demo_gilbarco_simulator(pumps: u8) -> anyhow::Result<Box<dyn LineSimulator>> {
    let nozzles = demo_nozzles()?;
    let setups = (1..=pumps)
        .map(|n| SimPumpSetup::new(BusAddress(n), Decimals::default(), nozzles.to_vec()))
        .collect();
    let settings = SimSettings {
        digits: DEMO_GILBARCO_DIGITS,
        ..SimSettings::default()
    };
    let simulator = GilbarcoSimulator::new(setups, settings)
        .map_err(|e| anyhow::anyhow!("simulated Gilbarco pumps: {e}"))?;
    Ok(Box::new(simulator))
}
