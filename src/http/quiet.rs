//! Giving memory back when a listener goes quiet.
//!
//! A flood of connections grows the allocator's heaps by their buffers; when the
//! connections close, glibc's malloc keeps the freed memory in its arenas for reuse, so
//! the resident set stays at the flood's size for as long as the daemon runs. This module
//! owns the one remedy: once a listener has had no open connection for [`QUIET_FOR`],
//! `malloc_trim` hands the free pages back to the kernel. A trim walks the heaps (about a
//! millisecond for this daemon's), so it runs on the blocking pool, at most once per
//! [`QUIET_FOR`] per listener, and never while connections are open. An idle daemon
//! never wakes for it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

/// How long a listener must have had no open connection before freed memory is given
/// back: long enough that a client reconnecting at once finds the heap as it left it.
pub const QUIET_FOR: Duration = Duration::from_millis(500);

/// Tells the trimmer when the last open connection of a listener closed.
#[derive(Debug, Clone)]
pub struct Quiet {
    slots: Arc<Semaphore>,
    capacity: usize,
    closed: Arc<Notify>,
}

impl Quiet {
    /// Watches `slots`, a semaphore of `capacity` permits, one held per open connection.
    pub fn new(slots: Arc<Semaphore>, capacity: usize) -> Self {
        Self {
            slots,
            capacity,
            closed: Arc::new(Notify::new()),
        }
    }

    fn idle(&self) -> bool {
        self.slots.available_permits() >= self.capacity
    }

    /// A connection closed (its permit given back).
    pub fn connection_closed(&self) {
        if self.idle() {
            self.closed.notify_one();
        }
    }

    /// Trims after every quiet spell until `shutdown`; returns how many trims it did.
    pub async fn run(self, shutdown: CancellationToken) -> u64 {
        let mut trims = 0;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return trims,
                _ = self.closed.notified() => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => return trims,
                _ = tokio::time::sleep(QUIET_FOR) => {}
            }
            if self.idle() {
                let _ = tokio::task::spawn_blocking(release_free_memory).await;
                trims += 1;
            }
        }
    }
}

/// Hands the allocator's free pages back to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks and shrinks glibc's own heaps under its own locks;
    // it takes no pointer and leaves every live allocation where it is.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Hands the allocator's free pages back to the kernel (nothing to do here: other
/// allocators return memory by themselves or offer no such call).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn trims_once_a_listener_has_been_quiet_and_never_while_a_connection_is_open() {
        let slots = Arc::new(Semaphore::new(2));
        let quiet = Quiet::new(slots.clone(), 2);
        let shutdown = CancellationToken::new();
        let trimmer = tokio::spawn(quiet.clone().run(shutdown.clone()));

        let a = slots.clone().try_acquire_owned().expect("a slot");
        let b = slots.clone().try_acquire_owned().expect("a slot");
        drop(a);
        // One connection still open: no trim however long it lasts.
        quiet.connection_closed();
        tokio::time::sleep(QUIET_FOR * 4).await;
        drop(b);
        quiet.connection_closed();
        // A connection opening during the quiet spell holds the trim off.
        let c = slots.clone().try_acquire_owned().expect("a slot");
        tokio::time::sleep(QUIET_FOR * 2).await;
        drop(c);
        quiet.connection_closed();
        tokio::time::sleep(QUIET_FOR * 2).await;
        shutdown.cancel();
        assert_eq!(trimmer.await.expect("trimmer"), 1);
    }
}
