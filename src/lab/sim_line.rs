//! Runs simulated pumps on the far end of a pseudo-terminal.
//!
//! The pump side of a line is a sans-IO [`LineSimulator`] from `pump-protocols`; this
//! module gives it a pseudo-terminal pair, so the daemon opens the slave path exactly as it
//! would open `/dev/ttyUSB0` and hears real protocol bytes. Used by `forecourtd simulate`,
//! `forecourtd demo` and the integration tests. It never decides anything about a sale.
//!
//! A pseudo-terminal moves bytes at once. With a [`Pacing`], the runner makes the link
//! take the time a real serial line takes: a master frame reaches the pumps only when its
//! last character would have crossed the wire, and their answer reaches the master the
//! same way, one direction at a time (half duplex). The pumps' own answer delay (DART's
//! `SimSettings::answer_delay`) comes on top. Benchmarks of the poll cycle see the real
//! wire time this way; [`WireStats`] counts what crossed, so the wire-time limit can be
//! computed from the bytes actually exchanged, and logs when each pump's turns ended, so
//! a latency bench can tell the wire's share from the daemon's.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pump_protocols::{BusAddress, LineSimulator, SimAction, SimPumpView, SubmitError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_serial::{SerialPort, SerialStream};
use tokio_util::sync::CancellationToken;

use crate::lines::now;

enum Request {
    Act {
        pump: BusAddress,
        action: SimAction,
        reply: oneshot::Sender<Result<(), SubmitError>>,
    },
    View {
        reply: oneshot::Sender<Vec<SimPumpView>>,
    },
    Inject {
        bytes: Vec<u8>,
    },
}

/// The speed of a paced link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Bits a second.
    pub baud: u32,
    /// Bits a character on the wire: 11 for 8E1 or 8O1 (start, 8 data, parity, stop).
    pub bits_per_char: u32,
}

impl Pacing {
    /// `baud` with 11 bits a character (8E1/8O1, as DART and most pump lines use).
    pub fn eleven_bit(baud: u32) -> Self {
        Self {
            baud,
            bits_per_char: 11,
        }
    }

    /// Time `bytes` characters take on the wire.
    pub fn wire_time(&self, bytes: usize) -> Duration {
        let bits = u64::try_from(bytes)
            .unwrap_or(u64::MAX)
            .saturating_mul(u64::from(self.bits_per_char));
        Duration::from_nanos(bits.saturating_mul(1_000_000_000) / u64::from(self.baud.max(1)))
    }
}

/// Turn ends kept per pump: enough to find the turn that carried a recent event.
const TURNS_KEPT: usize = 32;

/// What crossed a simulated line, counted as the pumps see it.
#[derive(Debug, Default)]
pub struct WireStats {
    from_master: AtomicU64,
    to_master: AtomicU64,
    answers: AtomicU64,
    turns: Mutex<TurnLog>,
}

/// The end of one turn of a pump, as the pumps' side of the wire saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnEnd {
    /// When the last character of the pump's last answer in the turn reached the master.
    pub at: Instant,
    /// Some answer of the turn was longer than a control frame (a DART data block).
    pub data: bool,
}

/// Turns as runs of master frames that start with the same byte (a DART frame's address).
#[derive(Debug, Default)]
struct TurnLog {
    /// The first byte of the current turn's frames, its last answer so far and whether
    /// any answer carried data.
    current: Option<(u8, Option<Instant>, bool)>,
    ends: HashMap<u8, VecDeque<TurnEnd>>,
}

impl TurnLog {
    fn master_sent(&mut self, first: u8) {
        if self.current.is_some_and(|(key, _, _)| key == first) {
            return;
        }
        if let Some((key, Some(at), data)) = self.current.take() {
            let ends = self.ends.entry(key).or_default();
            if ends.len() == TURNS_KEPT {
                ends.pop_front();
            }
            ends.push_back(TurnEnd { at, data });
        }
        self.current = Some((first, None, false));
    }

    fn answered(&mut self, done: Instant, bytes: usize) {
        if let Some((_, last, data)) = &mut self.current {
            *last = Some(done);
            // A DART control frame (ADR CTRL SF) is 3 bytes; a data block is longer.
            *data |= bytes > 3;
        }
    }
}

impl WireStats {
    /// Bytes the master sent.
    pub fn bytes_from_master(&self) -> u64 {
        self.from_master.load(Ordering::Relaxed)
    }

    /// Bytes the pumps sent.
    pub fn bytes_to_master(&self) -> u64 {
        self.to_master.load(Ordering::Relaxed)
    }

    /// Frames the pumps sent (each one followed an answer delay).
    pub fn answers(&self) -> u64 {
        self.answers.load(Ordering::Relaxed)
    }

    /// The last turns (at most 32) that ended for the pump whose master frames start with
    /// `first` (a DART address), oldest first. A turn ends when the master's next frame
    /// goes to another pump; its end is when its last answer reached the master.
    pub fn turn_ends(&self, first: u8) -> Vec<TurnEnd> {
        let log = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        log.ends
            .get(&first)
            .map(|ends| ends.iter().copied().collect())
            .unwrap_or_default()
    }

    fn log(&self) -> std::sync::MutexGuard<'_, TurnLog> {
        self.turns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A handle to a running simulated line.
#[derive(Clone)]
pub struct SimLineHandle {
    path: PathBuf,
    tx: mpsc::Sender<Request>,
    stats: Arc<WireStats>,
}

/// Why a simulator request failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The simulator refused the action.
    #[error(transparent)]
    Refused(#[from] SubmitError),
    /// The simulator task has stopped.
    #[error("the simulator has stopped")]
    Stopped,
}

impl SimLineHandle {
    /// What has crossed the line so far.
    pub fn stats(&self) -> &WireStats {
        &self.stats
    }

    /// The device path the daemon must open (the pseudo-terminal's slave side).
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Applies a physical action or fault switch to a pump.
    pub async fn act(&self, pump: BusAddress, action: SimAction) -> Result<(), SimError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request::Act {
                pump,
                action,
                reply,
            })
            .await
            .map_err(|_| SimError::Stopped)?;
        Ok(answer.await.map_err(|_| SimError::Stopped)??)
    }

    /// Writes raw bytes onto the line, as line noise or a broken device would.
    pub async fn inject(&self, bytes: Vec<u8>) -> Result<(), SimError> {
        self.tx
            .send(Request::Inject { bytes })
            .await
            .map_err(|_| SimError::Stopped)
    }

    /// The state of every simulated pump.
    pub async fn view(&self) -> Result<Vec<SimPumpView>, SimError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request::View { reply })
            .await
            .map_err(|_| SimError::Stopped)?;
        answer.await.map_err(|_| SimError::Stopped)
    }
}

/// Starts `simulator` on a new pseudo-terminal and returns the handle with the slave
/// path. The task runs until `shutdown` fires.
pub fn spawn_sim_line(
    simulator: Box<dyn LineSimulator>,
    shutdown: CancellationToken,
) -> io::Result<SimLineHandle> {
    spawn_paced_sim_line(simulator, None, shutdown)
}

/// As [`spawn_sim_line`], with the link paced as a serial line at `pacing` (`None`: as
/// fast as the pseudo-terminal goes).
pub fn spawn_paced_sim_line(
    simulator: Box<dyn LineSimulator>,
    pacing: Option<Pacing>,
    shutdown: CancellationToken,
) -> io::Result<SimLineHandle> {
    let (master, slave) = SerialStream::pair().map_err(io::Error::other)?;
    let path = slave
        .name()
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::other("pseudo-terminal has no slave path"))?;
    let (tx, rx) = mpsc::channel(64);
    let stats = Arc::new(WireStats::default());
    let link = Link::new(pacing, stats.clone());
    tokio::spawn(run(simulator, master, Some(slave), rx, link, shutdown));
    Ok(SimLineHandle { path, tx, stats })
}

/// Starts `simulator` on any byte stream (an in-memory duplex in tests). The handle's
/// path is empty: there is no device to open.
pub fn spawn_sim_on<T>(
    simulator: Box<dyn LineSimulator>,
    port: T,
    shutdown: CancellationToken,
) -> SimLineHandle
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    let stats = Arc::new(WireStats::default());
    let link = Link::new(None, stats.clone());
    tokio::spawn(run(simulator, port, None, rx, link, shutdown));
    SimLineHandle {
        path: PathBuf::new(),
        tx,
        stats,
    }
}

/// The wire between the master and the pumps: bytes in flight each way, due when their
/// last character has crossed.
struct Link {
    pacing: Option<Pacing>,
    /// When the half-duplex wire is free again.
    free_at: Instant,
    to_pumps: VecDeque<(Instant, Vec<u8>)>,
    to_master: VecDeque<(Instant, Vec<u8>)>,
    stats: Arc<WireStats>,
}

impl Link {
    fn new(pacing: Option<Pacing>, stats: Arc<WireStats>) -> Self {
        Self {
            pacing,
            free_at: now(),
            to_pumps: VecDeque::new(),
            to_master: VecDeque::new(),
            stats,
        }
    }

    /// When `bytes` sent at `at` have crossed; takes the wire until then.
    fn cross(&mut self, bytes: usize, at: Instant) -> Instant {
        let Some(pacing) = self.pacing else {
            return at;
        };
        let due = at.max(self.free_at) + pacing.wire_time(bytes);
        self.free_at = due;
        due
    }

    fn master_sent(&mut self, bytes: &[u8], at: Instant) {
        self.stats
            .from_master
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if let Some(&first) = bytes.first() {
            self.stats.log().master_sent(first);
        }
        let due = self.cross(bytes.len(), at);
        self.to_pumps.push_back((due, bytes.to_vec()));
    }

    fn pumps_sent(&mut self, bytes: Vec<u8>, at: Instant) {
        self.stats
            .to_master
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.stats.answers.fetch_add(1, Ordering::Relaxed);
        let len = bytes.len();
        if self.pacing.is_none() {
            self.stats.log().answered(at, len);
            self.to_master.push_back((at, bytes));
            return;
        }
        // Character by character, as a UART hands them over: the master sees a long
        // answer arriving (and stretches its deadline) instead of silence, then all of it.
        let mut done = at;
        for byte in bytes {
            done = self.cross(1, at);
            self.to_master.push_back((done, vec![byte]));
        }
        self.stats.log().answered(done, len);
    }

    fn next_due(&self) -> Option<Instant> {
        let pumps = self.to_pumps.front().map(|(due, _)| *due);
        let master = self.to_master.front().map(|(due, _)| *due);
        pumps.into_iter().chain(master).min()
    }

    fn arrived(
        queue: &mut VecDeque<(Instant, Vec<u8>)>,
        now: Instant,
    ) -> Option<(Instant, Vec<u8>)> {
        if queue.front().is_some_and(|(due, _)| *due <= now) {
            queue.pop_front()
        } else {
            None
        }
    }
}

/// Waits until `deadline`. A paced link cannot use the timer alone: tokio's timer ticks
/// in whole milliseconds, a tenth of a DART exchange at 9600 baud, so the last
/// millisecond is waited out by yielding.
async fn wait_until(deadline: Instant, precise: bool) {
    let coarse = if precise {
        deadline
            .checked_sub(Duration::from_millis(1))
            .unwrap_or(deadline)
    } else {
        deadline
    };
    tokio::time::sleep_until(tokio::time::Instant::from_std(coarse)).await;
    while precise && now() < deadline {
        tokio::task::yield_now().await;
    }
}

async fn run<T>(
    mut simulator: Box<dyn LineSimulator>,
    mut master: T,
    // Held open for the life of the simulator: while any slave descriptor is open, the
    // master side keeps working across daemon restarts instead of failing with EIO.
    _slave: Option<SerialStream>,
    mut requests: mpsc::Receiver<Request>,
    mut link: Link,
    shutdown: CancellationToken,
) where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut buffer = vec![0u8; 1024];
    // The pumps keep running when every handle is gone (a script that only needed the
    // path); only shutdown or a closed port stops them.
    let mut requests_open = true;
    let precise = link.pacing.is_some();
    loop {
        let at = now();
        while let Some((due, bytes)) = Link::arrived(&mut link.to_pumps, at) {
            simulator.handle_input(&bytes, due);
        }
        while let Some(bytes) = simulator.poll_transmit(at) {
            link.pumps_sent(bytes, at);
        }
        let mut arrived = Vec::new();
        while let Some((_, bytes)) = Link::arrived(&mut link.to_master, at) {
            arrived.extend_from_slice(&bytes);
        }
        if !arrived.is_empty() {
            if let Err(e) = master.write_all(&arrived).await {
                tracing::warn!(error = %e, "simulator write failed");
            }
        }
        let deadline = simulator
            .poll_timeout()
            .into_iter()
            .chain(link.next_due())
            .min()
            .unwrap_or_else(|| now() + Duration::from_secs(1));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            read = master.read(&mut buffer) => match read {
                Ok(0) => return,
                Ok(n) => {
                    let data = buffer.get(..n).unwrap_or_default();
                    link.master_sent(data, now());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "simulator read failed");
                    return;
                }
            },
            request = requests.recv(), if requests_open => match request {
                Some(Request::Act { pump, action, reply }) => {
                    let _ = reply.send(simulator.act(pump, action, now()));
                }
                Some(Request::View { reply }) => {
                    let _ = reply.send(simulator.view());
                }
                Some(Request::Inject { bytes }) => {
                    if let Err(e) = master.write_all(&bytes).await {
                        tracing::warn!(error = %e, "simulator write failed");
                    }
                }
                None => requests_open = false,
            },
            _ = wait_until(deadline, precise) => simulator.handle_timeout(now()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eleven_bit_characters_at_9600_baud() {
        let pacing = Pacing::eleven_bit(9600);
        // A DART POLL (3 bytes) and its EOT (3 bytes): 66 bits.
        assert_eq!(pacing.wire_time(6), Duration::from_nanos(6_875_000));
        assert_eq!(pacing.wire_time(0), Duration::ZERO);
    }

    #[test]
    fn a_paced_link_carries_one_direction_at_a_time() {
        let stats = Arc::new(WireStats::default());
        let mut link = Link::new(Some(Pacing::eleven_bit(9600)), stats.clone());
        let t0 = link.free_at;
        link.master_sent(&[0x50, 0x20, 0xFA], t0);
        // The pumps answer before the poll has crossed: the answer waits for the wire.
        link.pumps_sent(vec![0x50, 0x70, 0xFA], t0);
        let poll = Link::arrived(&mut link.to_pumps, t0 + Duration::from_millis(4));
        assert!(poll.is_some_and(|(due, _)| due == t0 + Duration::from_nanos(3_437_500)));
        // Nothing of the answer before the poll has crossed.
        assert!(Link::arrived(&mut link.to_master, t0 + Duration::from_millis(3)).is_none());
        let mut eot = Vec::new();
        while let Some((due, bytes)) =
            Link::arrived(&mut link.to_master, t0 + Duration::from_millis(7))
        {
            eot.push((due - t0, bytes));
        }
        let poll = Duration::from_nanos(3_437_500);
        let character = Pacing::eleven_bit(9600).wire_time(1);
        assert_eq!(
            eot,
            vec![
                (poll + character, vec![0x50]),
                (poll + character * 2, vec![0x70]),
                (poll + character * 3, vec![0xFA]),
            ]
        );
        assert_eq!(stats.bytes_from_master() + stats.bytes_to_master(), 6);
        assert_eq!(stats.answers(), 1);
    }

    #[test]
    fn a_turn_ends_with_its_last_answer_when_the_master_turns_to_another_pump() {
        let stats = Arc::new(WireStats::default());
        let mut link = Link::new(Some(Pacing::eleven_bit(9600)), stats.clone());
        let t0 = link.free_at;
        let ms = Duration::from_millis;
        link.master_sent(&[0x50, 0x20, 0xFA], t0);
        link.pumps_sent(
            vec![0x50, 0x31, 0x01, 0x01, 0x05, 0x00, 0x00, 0x03, 0xFA],
            t0 + ms(5),
        );
        let block_done = link.free_at;
        link.master_sent(&[0x50, 0xC1, 0xFA], t0 + ms(20));
        assert!(
            stats.turn_ends(0x50).is_empty(),
            "the turn is still under way"
        );
        link.master_sent(&[0x51, 0x20, 0xFA], t0 + ms(25));
        link.pumps_sent(vec![0x51, 0x70, 0xFA], t0 + ms(30));
        link.master_sent(&[0x50, 0x20, 0xFA], t0 + ms(40));
        assert_eq!(
            stats.turn_ends(0x50),
            vec![TurnEnd {
                at: block_done,
                data: true
            }]
        );
        let eot_done = stats.turn_ends(0x51)[0];
        assert!(!eot_done.data && eot_done.at > t0 + ms(30));
    }

    #[test]
    fn an_unpaced_link_delivers_at_once() {
        let mut link = Link::new(None, Arc::new(WireStats::default()));
        let t0 = link.free_at;
        link.master_sent(&[1, 2, 3], t0);
        assert!(Link::arrived(&mut link.to_pumps, t0).is_some());
    }
}
