//! Builds the protocol core of a configured line. The only place that names a concrete
//! protocol; everything else sees [`LineMaster`] and [`LineSimulator`].

use pump_protocols::dart::{self, DartMaster, DartMasterSettings, DartSimulator, SerialSettings};
use pump_protocols::gilbarco::{GilbarcoMaster, GilbarcoMasterSettings};
use pump_protocols::{
    BusAddress, Decimals, LineMaster, LineSimulator, NozzleId, PumpCommand, PumpSetup, UnitPrice,
};

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

/// The master for a configured line.
pub fn build_master(line: &Line) -> anyhow::Result<Box<dyn LineMaster>> {
    match line.protocol {
        Protocol::Dart => {
            let settings = DartMasterSettings {
                response_timeout: line.response_timeout,
                poll_interval: line.poll_interval,
                offline_after_misses: line.offline_after_misses,
                retries: line.retries,
                tx_wrap: line.tx_wrap,
                on_nak: line.on_nak,
                serial: serial(line),
                ..DartMasterSettings::default()
            };
            Ok(Box::new(DartMaster::new(settings, line.pump_setups())?))
        }
        Protocol::Gilbarco => {
            let settings = GilbarcoMasterSettings {
                status_timeout: line.response_timeout,
                poll_interval: line.poll_interval,
                offline_after_misses: line.offline_after_misses,
                retries: line.retries,
                echo: line.echo,
                digits: line.digits,
                serial: serial(line),
                ..GilbarcoMasterSettings::default()
            };
            Ok(Box::new(GilbarcoMaster::new(settings, line.pump_setups())?))
        }
    }
}

/// Checks a command against what the pump can take, before it is accepted from an
/// attendant: a preset with more digits or decimals than the pump's fields, or a nozzle it
/// does not have, is refused here with the reason, never rounded or dropped later.
pub fn check_command(
    protocol: Protocol,
    pump: &PumpSetup,
    command: &PumpCommand,
) -> Result<(), String> {
    match protocol {
        Protocol::Dart => dart::check_command(pump, command),
        Protocol::Gilbarco => pump_protocols::gilbarco::check_command(pump, command),
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
    let price = |text: &str| -> anyhow::Result<UnitPrice> {
        Ok(UnitPrice::new(text.parse::<rust_decimal::Decimal>()?))
    };
    let nozzles = [
        (NozzleId(1), price(DEMO_PRICE_SUPER)?),
        (NozzleId(2), price(DEMO_PRICE_INFINIA)?),
    ];
    let simulator =
        DartSimulator::with_pumps(pumps, BusAddress(0x50), Decimals::default(), &nozzles)
            .map_err(|e| anyhow::anyhow!("simulated pumps: {e}"))?;
    Ok(simulator)
}
