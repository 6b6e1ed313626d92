//! Builds the protocol core of a configured line. The only place that names a concrete
//! protocol; everything else sees [`LineMaster`] and [`LineSimulator`].

use pump_protocols::{LineMaster, LineSimulator};

use crate::config::Line;

/// The master for a configured line.
pub fn build_master(line: &Line) -> anyhow::Result<Box<dyn LineMaster>> {
    let _ = line;
    anyhow::bail!("no protocol master available yet")
}

/// Simulated DART pumps for the demo and `simulate`: `pumps` pumps from address 0x50, two
/// nozzles each (super, infinia) at the demo prices.
pub fn demo_simulator(pumps: u8, _first_position: u16) -> Box<dyn LineSimulator> {
    let _ = pumps;
    unimplemented!("DART simulator pending")
}
