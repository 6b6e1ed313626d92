//! Acknowledged is not applied (docs/protocols/dart.md §3.4, §5.5): the requests a pump ACKed
//! whose effect has not shown yet, for one pump.
//!
//! A pump ACKs a block it takes for a retransmission of the last one it accepted and
//! applies nothing, so an ACK alone proves nothing. This module owns the waits that
//! follow an ACK — RETURN STATUS for a DC1, a totals request for its two DC101, AUTHORIZE
//! for DC1 AUTHORIZED/FILLING/SUSPENDED, STOP and RESET for a DC1 leaving the status they
//! end — counts the EOTs that bring nothing, and decides when to ask again with a new TX#
//! and when to give up. It never emits events or touches
//! the queue itself: [`super::session`] does, with what it returns.

use super::command::{Origin, QueuedBlock, AMOUNT_TOTALS};
use crate::dart::DartStatus;
use crate::model::PumpCommand;

/// How long the master waits for applications and how often it asks again.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    /// Resends of an unanswered request ([`super::DartMasterSettings::retries`]).
    pub retries: u32,
    /// EOTs to wait for an answer ([`super::DartMasterSettings::apply_patience`]).
    pub patience: u32,
}

/// An acknowledged request whose answer has not come yet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Awaited {
    /// The block as acknowledged, to send again with a new TX#.
    block: QueuedBlock,
    /// EOT answers since the acknowledgement.
    eots: u32,
    /// True while a resend is queued or on the wire: its ACK starts the count again.
    resent: bool,
}

/// What an EOT means for an awaited answer.
enum Patience {
    /// Keep waiting.
    Wait,
    /// Ask again with this block (a new TX#).
    Resend(QueuedBlock),
    /// Every round was acknowledged and none answered.
    GiveUp,
}

impl Awaited {
    fn new(block: QueuedBlock) -> Self {
        Self {
            block,
            eots: 0,
            resent: false,
        }
    }

    /// One more EOT without the answer.
    fn tick(&mut self, policy: Policy) -> Patience {
        if self.resent {
            return Patience::Wait;
        }
        self.eots += 1;
        if self.eots < policy.patience {
            Patience::Wait
        } else if self.block.round < policy.retries {
            self.resent = true;
            Patience::Resend(self.block.again(self.block.round + 1))
        } else {
            Patience::GiveUp
        }
    }

    /// The resend `block` was acknowledged: wait for its answer from scratch.
    fn acked(&mut self, block: QueuedBlock) {
        self.block = block;
        self.eots = 0;
        self.resent = false;
    }

    fn command(&self) -> PumpCommand {
        self.block.origin.command()
    }
}

/// The two DC101 answering one [`PumpCommand::ReadTotals`] (§5.6).
#[derive(Debug, Clone, PartialEq, Eq)]
struct TotalsAnswer {
    /// The logical nozzle, 1..=8.
    nozzle: u8,
    /// TOTVAL of COUN n.
    volume: Option<u64>,
    /// TOTVAL and TOTM1 (fillings) of COUN 0x10 + n.
    amount: Option<(u64, Option<u64>)>,
    wait: Awaited,
}

/// The DC1 that shows a command applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    /// AUTHORIZE: AUTHORIZED, or already FILLING or SUSPENDED (§5.5).
    Authorized,
    /// STOP or RESET: any status other than this one, the status the command leaves.
    Left(DartStatus),
}

impl Shown {
    fn by(self, status: DartStatus) -> bool {
        match self {
            Shown::Authorized => matches!(
                status,
                DartStatus::Authorized | DartStatus::Filling | DartStatus::Suspended
            ),
            Shown::Left(from) => status != from,
        }
    }
}

/// An acknowledged command that changes the pump's status, not shown applied yet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Watch {
    command: PumpCommand,
    shown: Shown,
    /// EOT answers since the acknowledgement.
    eots: u32,
}

/// What DC1 would show `command` applied, when the pump was last in `status` (§5.3
/// "normally accepted in"); `None` when the command is not watched or the pump may
/// rightly ignore it there (a RESET in RESET changes nothing).
fn shown_by(command: &PumpCommand, status: Option<DartStatus>) -> Option<Shown> {
    use DartStatus::*;
    match (command, status?) {
        (PumpCommand::Authorize(_), _) => Some(Shown::Authorized),
        (PumpCommand::Stop, s @ (Reset | Authorized | Filling | Suspended | MaxReached)) => {
            Some(Shown::Left(s))
        }
        (PumpCommand::Reset, s @ (FillingCompleted | MaxReached | SwitchedOff)) => {
            Some(Shown::Left(s))
        }
        _ => None,
    }
}

/// Raw totals of one nozzle, both halves read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TotalsRead {
    /// The logical nozzle.
    pub nozzle: u8,
    /// Volume total, raw.
    pub volume: u64,
    /// Amount total, raw.
    pub amount: u64,
    /// Number of fillings, when the pump sent TOTM1.
    pub fillings: Option<u64>,
}

/// The waits of one pump.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Confirmations {
    /// An acknowledged RETURN STATUS whose DC1 has not come.
    status: Option<Awaited>,
    /// Acknowledged AUTHORIZE, STOP and RESET not shown applied yet, in the order sent.
    watches: Vec<Watch>,
    /// Acknowledged totals requests, in the order sent.
    totals: Vec<TotalsAnswer>,
}

impl Confirmations {
    /// True while an acknowledged request still waits for its answer.
    pub(super) fn waiting(&self) -> bool {
        self.status.is_some() || !self.watches.is_empty() || !self.totals.is_empty()
    }

    /// The pump went offline: every wait ends. Returns the totals requests that will
    /// never be answered now. Whether an acknowledged AUTHORIZE was applied is for the
    /// next session's DC1 to say; the daemon sees the pump offline meanwhile.
    pub(super) fn drop_all(&mut self) -> Vec<PumpCommand> {
        let unanswered = self.totals.iter().map(|t| t.wait.command()).collect();
        *self = Self::default();
        unanswered
    }

    /// `block` was acknowledged while the pump's last DC1 was `status`: wait for what
    /// shows it applied.
    pub(super) fn acked(&mut self, block: QueuedBlock, status: Option<DartStatus>) {
        let command = block.origin.command();
        let resend = matches!(block.origin, Origin::Again(_));
        match command {
            PumpCommand::ReturnStatus => match &mut self.status {
                Some(wait) if wait.resent => wait.acked(block),
                _ => self.status = Some(Awaited::new(block)),
            },
            PumpCommand::Authorize(_) | PumpCommand::Stop | PumpCommand::Reset => {
                // An AUTHORIZE is watched even before the first DC1: it must show
                // AUTHORIZED whatever the pump was doing.
                let status = status.or(Some(DartStatus::Reset));
                if let Some(shown) = shown_by(&command, status) {
                    self.watches.push(Watch {
                        command,
                        shown,
                        eots: 0,
                    });
                }
            }
            PumpCommand::ReadTotals(nozzle) => {
                let resent = self
                    .totals
                    .iter_mut()
                    .find(|t| t.wait.resent && t.nozzle == nozzle.0);
                match resent {
                    Some(answer) if resend => answer.wait.acked(block),
                    _ => self.totals.push(TotalsAnswer {
                        nozzle: nozzle.0,
                        volume: None,
                        amount: None,
                        wait: Awaited::new(block),
                    }),
                }
            }
            _ => {}
        }
    }

    /// A resend of `command` failed for good (reported as a failure of the command):
    /// its wait ends with it.
    pub(super) fn resend_failed(&mut self, command: &PumpCommand) {
        match command {
            PumpCommand::ReturnStatus => self.status = None,
            PumpCommand::ReadTotals(nozzle) => self
                .totals
                .retain(|t| !(t.wait.resent && t.nozzle == nozzle.0)),
            _ => {}
        }
    }

    /// A DC1: the pump's real status, whether or not it answers our request.
    pub(super) fn on_status(&mut self, status: DartStatus) {
        self.status = None;
        self.watches.retain(|w| !w.shown.by(status));
    }

    /// An EOT: returns the blocks to send again and the commands now given up on.
    pub(super) fn on_eot(&mut self, policy: Policy) -> (Vec<QueuedBlock>, Vec<PumpCommand>) {
        let mut resends = Vec::new();
        let mut failed = Vec::new();
        if let Some(wait) = &mut self.status {
            match wait.tick(policy) {
                Patience::Wait => {}
                Patience::Resend(block) => resends.push(block),
                Patience::GiveUp => {
                    failed.push(wait.command());
                    self.status = None;
                }
            }
        }
        let mut kept = Vec::with_capacity(self.totals.len());
        for mut answer in std::mem::take(&mut self.totals) {
            match answer.wait.tick(policy) {
                Patience::Wait => kept.push(answer),
                Patience::Resend(block) => {
                    resends.push(block);
                    kept.push(answer);
                }
                Patience::GiveUp => failed.push(answer.wait.command()),
            }
        }
        self.totals = kept;
        // Not resent: a second AUTHORIZE is a new authorization, and whether to stop or
        // reset again is the daemon's call.
        for watch in &mut self.watches {
            watch.eots += 1;
        }
        let (expired, watching) = std::mem::take(&mut self.watches)
            .into_iter()
            .partition(|w| w.eots >= policy.patience);
        self.watches = watching;
        failed.extend(expired.into_iter().map(|w: Watch| w.command));
        (resends, failed)
    }

    /// DC101 (§5.6): COUN n (1..=8) is the volume total of nozzle n, COUN 0x10 + n its
    /// amount total with the number of fillings. Each half goes to the oldest waiting
    /// request of that nozzle that lacks it; returns the totals once a request has both.
    /// A DC101 that answers no waiting request (a late answer to a request already
    /// answered, the pump's sums 0x09/0x19) is dropped.
    pub(super) fn on_dc101(
        &mut self,
        coun: u8,
        totval: u64,
        totm1: Option<u64>,
    ) -> Option<TotalsRead> {
        let (nozzle, is_amount) = match coun {
            0x01..=0x08 => (coun, false),
            0x11..=0x18 => (coun - AMOUNT_TOTALS, true),
            _ => return None,
        };
        let index = self.totals.iter().position(|t| {
            t.nozzle == nozzle
                && if is_amount {
                    t.amount.is_none()
                } else {
                    t.volume.is_none()
                }
        })?;
        let answer = &mut self.totals[index];
        if is_amount {
            answer.amount = Some((totval, totm1));
        } else {
            answer.volume = Some(totval);
        }
        let (Some(volume), Some((amount, fillings))) = (answer.volume, answer.amount) else {
            return None;
        };
        self.totals.remove(index);
        Some(TotalsRead {
            nozzle,
            volume,
            amount,
            fillings,
        })
    }
}
