//! Builds the protocol core of a configured line. The only place that names a concrete
//! protocol; everything else sees [`LineMaster`] and [`LineSimulator`].

use pump_protocols::dart::{self, DartMaster, DartMasterSettings, SerialSettings};
use pump_protocols::{LineMaster, LineSimulator};

use crate::config::{DataBits, Line, Parity, Protocol, StopBits};

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
                serial: SerialSettings {
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
                },
                ..DartMasterSettings::default()
            };
            Ok(Box::new(DartMaster::new(settings, line.pump_setups())?))
        }
    }
}

/// Simulated DART pumps for the demo and `simulate`: `pumps` pumps from address 0x50, two
/// nozzles each (super, infinia) at the demo prices.
pub fn demo_simulator(pumps: u8, _first_position: u16) -> Box<dyn LineSimulator> {
    let _ = pumps;
    unimplemented!("DART simulator pending")
}
