//! Runs simulated pumps on the far end of a pseudo-terminal.
//!
//! The pump side of a line is a sans-IO [`LineSimulator`] from `pump-protocols`; this
//! module gives it a pseudo-terminal pair, so the daemon opens the slave path exactly as it
//! would open `/dev/ttyUSB0` and hears real protocol bytes. Used by `forecourtd simulate`,
//! `forecourtd demo` and the integration tests. It never decides anything about a sale.

use std::io;
use std::path::PathBuf;

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

/// A handle to a running simulated line.
#[derive(Clone)]
pub struct SimLineHandle {
    path: PathBuf,
    tx: mpsc::Sender<Request>,
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
    let (master, slave) = SerialStream::pair().map_err(io::Error::other)?;
    let path = slave
        .name()
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::other("pseudo-terminal has no slave path"))?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(run(simulator, master, Some(slave), rx, shutdown));
    Ok(SimLineHandle { path, tx })
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
    tokio::spawn(run(simulator, port, None, rx, shutdown));
    SimLineHandle {
        path: PathBuf::new(),
        tx,
    }
}

async fn run<T>(
    mut simulator: Box<dyn LineSimulator>,
    mut master: T,
    // Held open for the life of the simulator: while any slave descriptor is open, the
    // master side keeps working across daemon restarts instead of failing with EIO.
    _slave: Option<SerialStream>,
    mut requests: mpsc::Receiver<Request>,
    shutdown: CancellationToken,
) where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut buffer = vec![0u8; 1024];
    // The pumps keep running when every handle is gone (a script that only needed the
    // path); only shutdown or a closed port stops them.
    let mut requests_open = true;
    loop {
        let at = now();
        while let Some(bytes) = simulator.poll_transmit(at) {
            if let Err(e) = master.write_all(&bytes).await {
                tracing::warn!(error = %e, "simulator write failed");
            }
        }
        let deadline = simulator
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + std::time::Duration::from_secs(1));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            read = master.read(&mut buffer) => match read {
                Ok(0) => return,
                Ok(n) => {
                    let data = buffer.get(..n).unwrap_or_default();
                    simulator.handle_input(data, now());
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
            _ = tokio::time::sleep_until(deadline) => simulator.handle_timeout(now()),
        }
    }
}
