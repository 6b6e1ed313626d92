//! One task per serial line: the I/O and timers around a sans-IO protocol master.
//!
//! The task owns the port and the [`LineMaster`]; it writes what the master wants sent,
//! feeds it what arrives, wakes it at its deadlines, passes attendants' commands in and
//! pump events out to the forecourt actor. It never decides anything about a dispatch.
//!
//! The transport is a type parameter (a tty, a pseudo-terminal, an in-memory duplex), so
//! tests run the same loop the daemon runs. When the port fails (adapter unplugged, device
//! gone), every pump is reported offline and the port is reopened with exponential
//! backoff, forever, until shutdown. A write that does not complete within
//! [`WRITE_DEADLINE`] (a wedged USB adapter, a tty whose output never drains) counts as a
//! lost port too.
//!
//! Every turn of the loop beats the line's [`Heartbeat`], promising the next turn, so the
//! service watchdog sees a stuck line (see [`crate::liveness`]).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pump_protocols::capture::Direction;
use pump_protocols::{CommandFailure, LineMaster, PumpEvent, PumpEventKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::capture::CaptureTap;
use crate::forecourt::{LineCommand, Message};
use crate::liveness::Heartbeat;
use crate::metrics::LineMetrics;

/// The time base of the daemon: tokio's clock (so paused-time tests drive it), as a std
/// `Instant` for the sans-IO cores.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// How often the line tells the actor which pumps answered. Stale limits are seconds, so
/// a quarter second keeps `timeout` answers accurate without flooding the actor.
const HEARD_INTERVAL: Duration = Duration::from_millis(250);

/// First delay before reopening a failed port.
const REOPEN_BACKOFF_MIN: Duration = Duration::from_millis(200);

/// Longest time one burst of writes (the frames the master has queued, and the flush)
/// may take. At 9600 baud a DART block of 256 bytes takes about 0.3 s; a write still
/// pending after this means the port will never take it.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(2);

/// Opens the line's transport; called again after every failure.
pub type Opener<T> = Box<dyn FnMut() -> io::Result<T> + Send>;

/// Everything a line task needs.
pub struct LineTask<T> {
    /// The line's name from the configuration.
    pub name: String,
    /// The protocol master for the pumps on this line.
    pub master: Box<dyn LineMaster>,
    /// Opens the port.
    pub opener: Opener<T>,
    /// Commands from the forecourt actor.
    pub commands: mpsc::Receiver<LineCommand>,
    /// Events to the forecourt actor.
    pub events: mpsc::Sender<Message>,
    /// Longest wait between reopen attempts.
    pub reopen_backoff_max: Duration,
    /// Beaten on every turn of the loop.
    pub heartbeat: Heartbeat,
    /// The line's metrics, fed from the master's counters.
    pub metrics: LineMetrics,
    /// The line's field capture switch (docs/captures.md).
    pub capture: Arc<CaptureTap>,
}

impl<T> LineTask<T>
where
    T: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// Runs the line until `shutdown` fires.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = REOPEN_BACKOFF_MIN;
        let mut buffer = vec![0u8; 1024];
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            match (self.opener)() {
                Ok(port) => {
                    tracing::info!(line = %self.name, "line open");
                    self.metrics.opened();
                    backoff = REOPEN_BACKOFF_MIN;
                    match self.drive(port, &mut buffer, &shutdown).await {
                        Ok(()) => return,
                        Err(e) => tracing::warn!(line = %self.name, error = %e, "line failed"),
                    }
                }
                Err(e) => {
                    tracing::warn!(line = %self.name, error = %e, ?backoff, "cannot open line")
                }
            }
            self.master.link_lost(now());
            if self.forward_events().await.is_err() {
                return;
            }
            // Retrying counts as progress: the next turn is after the backoff.
            self.heartbeat
                .beat_until(tokio::time::Instant::now() + backoff)
                .await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
                // Commands while the port is down fail at once instead of piling up.
                Some(command) = self.commands.recv() => {
                    if self.submit(command).await.is_err() {
                        return;
                    }
                }
            }
            backoff = (backoff * 2).min(self.reopen_backoff_max.max(REOPEN_BACKOFF_MIN));
        }
    }

    /// Drives the master over an open port. `Ok` only on shutdown.
    async fn drive(
        &mut self,
        mut port: T,
        buffer: &mut [u8],
        shutdown: &CancellationToken,
    ) -> io::Result<()> {
        let mut last_report = now();
        loop {
            let at = now();
            self.metrics.observe(&self.master.counters());
            self.heartbeat
                .beat_until(tokio::time::Instant::from_std(at) + WRITE_DEADLINE)
                .await;
            let wrote = self.write_queued(&mut port, at).await?;
            // Events go to the actor before the drain: a flush waits until the frames
            // have left the wire (a DART ACK takes 3.4 ms at 9600 baud), and a finished
            // sale must not wait for the ACK of its own figures to reach the pump.
            if self.forward_events().await.is_err() {
                return Ok(());
            }
            if wrote {
                self.flush(&mut port).await?;
            }
            if at.saturating_duration_since(last_report) >= HEARD_INTERVAL {
                last_report = at;
                self.report_heard().await;
            }
            let deadline = self
                .master
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + HEARD_INTERVAL);
            self.heartbeat
                .beat_until(deadline.max(tokio::time::Instant::now()))
                .await;
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                read = port.read(buffer) => {
                    let n = read?;
                    if n == 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "port closed"));
                    }
                    let data = buffer.get(..n).unwrap_or_default();
                    self.capture.record(Direction::Received, data);
                    self.master.handle_input(data, now());
                }
                command = self.commands.recv() => match command {
                    Some(command) => {
                        if self.submit(command).await.is_err() {
                            return Ok(());
                        }
                    }
                    None => return Ok(()),
                },
                _ = tokio::time::sleep_until(deadline) => self.master.handle_timeout(now()),
            }
        }
    }

    /// Writes every frame the master has queued, within [`WRITE_DEADLINE`]; true when
    /// there was one (then [`Self::flush`] is due).
    async fn write_queued(&mut self, port: &mut T, at: Instant) -> io::Result<bool> {
        let writes = async {
            let mut wrote = false;
            while let Some(bytes) = self.master.poll_transmit(at) {
                // Stamped before the write, at the time the master sent it (a replay
                // starts its answer deadline there).
                self.capture.record(Direction::Sent, &bytes);
                port.write_all(&bytes).await?;
                wrote = true;
            }
            Ok(wrote)
        };
        within_write_deadline(writes).await
    }

    /// Waits until what was written has left, within [`WRITE_DEADLINE`].
    async fn flush(&mut self, port: &mut T) -> io::Result<()> {
        within_write_deadline(port.flush()).await
    }

    /// Queues a command; one the master refuses is reported back as failed, so the
    /// actor never waits on a command that will not be sent.
    async fn submit(
        &mut self,
        command: LineCommand,
    ) -> Result<(), mpsc::error::SendError<Message>> {
        self.capture.command(command.address, &command.command);
        let Err(e) = self.master.submit(command.address, command.command.clone()) else {
            return Ok(());
        };
        tracing::warn!(line = %self.name, pump = %command.address, error = %e,
            ?command, "command not queued");
        let failure = match e {
            pump_protocols::SubmitError::Invalid(why) => CommandFailure::Invalid(why),
            other => CommandFailure::Invalid(other.to_string()),
        };
        self.send_event(PumpEvent {
            pump: command.address,
            at: now(),
            kind: PumpEventKind::CommandFailed {
                command: command.command,
                failure,
            },
        })
        .await
    }

    async fn forward_events(&mut self) -> Result<(), mpsc::error::SendError<Message>> {
        while let Some(event) = self.master.poll_event() {
            self.send_event(event).await?;
        }
        Ok(())
    }

    async fn send_event(
        &mut self,
        event: PumpEvent,
    ) -> Result<(), mpsc::error::SendError<Message>> {
        self.events
            .send(Message::Pump {
                line: self.name.clone(),
                event,
            })
            .await
    }

    async fn report_heard(&mut self) {
        let pumps: Vec<_> = self
            .master
            .pumps()
            .into_iter()
            .filter_map(|p| self.master.last_heard(p).map(|at| (p, at)))
            .collect();
        if pumps.is_empty() {
            return;
        }
        let _ = self
            .events
            .send(Message::Heard {
                line: self.name.clone(),
                pumps,
            })
            .await;
    }
}

/// `io` unless it takes longer than [`WRITE_DEADLINE`]: then a lost port.
async fn within_write_deadline<R>(
    io: impl std::future::Future<Output = io::Result<R>>,
) -> io::Result<R> {
    match tokio::time::timeout(WRITE_DEADLINE, io).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("a write took longer than {WRITE_DEADLINE:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use pump_protocols::dart::{DartMaster, DartMasterSettings};
    use pump_protocols::{Decimals, GradeId, NozzleId, PumpSetup, PumpStatus};
    use tokio::io::DuplexStream;

    use super::*;
    use crate::lab::sim_line::spawn_sim_on;
    use crate::protocols::demo_simulator;

    /// A port that can be unplugged: each open hands the far end to a fresh simulator,
    /// until `fail_opens` says the device is missing.
    struct Bench {
        fail_opens: Arc<Mutex<u32>>,
        far_ends: mpsc::UnboundedSender<DuplexStream>,
    }

    fn master() -> Box<dyn LineMaster> {
        let setup = PumpSetup {
            address: BusAddress(0x50),
            decimals: Decimals::default(),
            nozzles: vec![(NozzleId(1), GradeId(1)), (NozzleId(2), GradeId(2))],
        };
        Box::new(DartMaster::new(DartMasterSettings::default(), vec![setup]).expect("master"))
    }

    /// A line task on `opener` with one pump; its event receiver and command sender.
    fn line_task<T>(
        opener: Opener<T>,
        heartbeat: Heartbeat,
    ) -> (
        LineTask<T>,
        mpsc::Receiver<Message>,
        mpsc::Sender<LineCommand>,
    ) {
        let (events_tx, events) = mpsc::channel(256);
        let (commands_tx, commands) = mpsc::channel(8);
        let task = LineTask {
            name: "line1".into(),
            master: master(),
            opener,
            commands,
            events: events_tx,
            reopen_backoff_max: Duration::from_secs(5),
            heartbeat,
            metrics: LineMetrics::detached("line1"),
            capture: CaptureTap::disabled("line1"),
        };
        (task, events, commands_tx)
    }

    async fn next_status(events: &mut mpsc::Receiver<Message>) -> PumpStatus {
        loop {
            match events.recv().await.expect("line task running") {
                Message::Pump {
                    event:
                        PumpEvent {
                            kind: PumpEventKind::StatusChanged(status),
                            ..
                        },
                    ..
                } => return status,
                _ => continue,
            }
        }
    }

    use pump_protocols::BusAddress;

    #[tokio::test(start_paused = true)]
    async fn vanished_port_reports_pumps_offline_and_is_reopened_with_backoff() {
        let (far_tx, mut far_rx) = mpsc::unbounded_channel();
        let bench = Bench {
            fail_opens: Arc::new(Mutex::new(2)),
            far_ends: far_tx,
        };
        let fail_opens = bench.fail_opens.clone();
        let opens = Arc::new(Mutex::new(0u32));
        let opens_seen = opens.clone();
        let opener: Opener<DuplexStream> = Box::new(move || {
            *opens.lock().expect("count") += 1;
            let mut failing = bench.fail_opens.lock().expect("flag");
            if *failing > 0 {
                *failing -= 1;
                return Err(io::Error::new(io::ErrorKind::NotFound, "no such device"));
            }
            let (near, far) = tokio::io::duplex(4096);
            let _ = bench.far_ends.send(far);
            Ok(near)
        });
        let (task, mut events, _commands) = line_task(opener, Heartbeat::detached("line1"));
        let metrics = task.metrics.clone();
        let shutdown = CancellationToken::new();
        tokio::spawn(task.run(shutdown.clone()));

        // Two failed opens (backoff), then the port appears and the pump is heard.
        let sim_stop = CancellationToken::new();
        let far = far_rx.recv().await.expect("opened");
        spawn_sim_on(demo_simulator(1).expect("simulator"), far, sim_stop.clone());
        assert_eq!(next_status(&mut events).await, PumpStatus::NotProgrammed);
        assert_eq!(*opens_seen.lock().expect("count"), 3);

        // The adapter is unplugged: the pump is offline, the port reopened.
        *fail_opens.lock().expect("flag") = 1;
        sim_stop.cancel();
        assert_eq!(next_status(&mut events).await, PumpStatus::Offline);
        let far = far_rx.recv().await.expect("reopened");
        spawn_sim_on(
            demo_simulator(1).expect("simulator"),
            far,
            CancellationToken::new(),
        );
        assert_eq!(next_status(&mut events).await, PumpStatus::NotProgrammed);
        assert_eq!(*opens_seen.lock().expect("count"), 5);
        assert_eq!(metrics.reopens(), 1, "failed opens are not reopens");
        assert!(metrics.polls() > 0);
        shutdown.cancel();
    }

    /// A port that takes the open but never completes a read or a write, as a wedged USB
    /// adapter does.
    struct Wedged;

    impl AsyncRead for Wedged {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Pending
        }
    }

    impl AsyncWrite for Wedged {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            std::task::Poll::Pending
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Pending
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Pending
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_never_completes_counts_as_a_lost_port_and_the_port_is_reopened() {
        let (opened_tx, mut opened) = mpsc::unbounded_channel();
        let opener: Opener<Wedged> = Box::new(move || {
            let _ = opened_tx.send(tokio::time::Instant::now());
            Ok(Wedged)
        });
        let heartbeat = Heartbeat::detached("line1");
        let (task, _events, _commands) = line_task(opener, heartbeat.clone());
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(task.run(shutdown.clone()));
        let first = opened.recv().await.expect("opened");
        let second = opened
            .recv()
            .await
            .expect("reopened after the write deadline");
        assert!(second.duration_since(first) >= WRITE_DEADLINE);
        assert!(heartbeat.started());
        shutdown.cancel();
        running.await.expect("line task ends on shutdown");
    }
}
