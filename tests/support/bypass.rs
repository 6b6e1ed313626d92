//! Simulated DART pumps the test can also drive as another controller would: a fill the
//! daemon never authorized (a pump run by hand, or by a second controller, while the
//! daemon was down), the fuel a shift report must flag.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use forecourtd::protocols;
use pump_protocols::dart::app::{encode_master, Dcc, MasterTransaction};
use pump_protocols::dart::frame::Frame;
use pump_protocols::dart::DartSimulator;
use pump_protocols::{BusAddress, LineSimulator, SimAction, SimPumpView, SubmitError};
use rust_decimal::Decimal;

use super::PATIENCE;

/// The demo's DART pumps behind a lock the test shares with the simulated line.
#[derive(Clone)]
pub struct SharedSimulator {
    inner: Arc<Mutex<DartSimulator>>,
}

impl SharedSimulator {
    /// `pumps` demo pumps from address 0x50.
    pub fn demo(pumps: u8) -> SharedSimulator {
        let inner = protocols::demo_dart(pumps).expect("simulated pumps");
        SharedSimulator {
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DartSimulator> {
        self.inner.lock().expect("simulator lock")
    }

    /// The figures of the pump's current or last filling.
    pub fn filling_volume(&self, pump: BusAddress) -> Decimal {
        self.lock()
            .pump(pump)
            .expect("simulated pump")
            .volume
            .value()
    }

    /// Authorizes `pump` as another controller would (RESET, allowed nozzles, AUTHORIZE),
    /// in two blocks of different TX# so the pump takes one whatever block it took last.
    /// Only while the daemon is stopped: nobody else talks on the line.
    pub fn authorize_behind_the_daemon(&self, pump: BusAddress) {
        let payload = encode_master(&[
            MasterTransaction::Command(Dcc::Reset),
            MasterTransaction::AllowedNozzles(vec![1, 2]),
            MasterTransaction::Command(Dcc::Authorize),
        ])
        .expect("authorize block");
        let mut sim = self.lock();
        for tx in [0x9, 0xA] {
            let frame = Frame::data(pump, tx, payload.clone())
                .encode()
                .expect("frame");
            sim.handle_input(&frame, Instant::now());
        }
    }

    /// Waits until the pump's current filling reached `litres`.
    pub async fn wait_for_volume(&self, pump: BusAddress, litres: Decimal) {
        let deadline = Instant::now() + PATIENCE;
        while self.filling_volume(pump) < litres {
            assert!(
                Instant::now() < deadline,
                "the pump never dispensed {litres} l"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl LineSimulator for SharedSimulator {
    fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        self.lock().handle_input(bytes, now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.lock().handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.lock().poll_transmit(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.lock().poll_timeout()
    }

    fn act(
        &mut self,
        pump: BusAddress,
        action: SimAction,
        now: Instant,
    ) -> Result<(), SubmitError> {
        self.lock().act(pump, action, now)
    }

    fn view(&self) -> Vec<SimPumpView> {
        self.lock().view()
    }
}
