//! Translation of neutral [`PumpCommand`]s into DART command blocks (docs/protocols/dart.md
//! §5.2, §5.3, §5.9), and the blocks waiting on a pump's queue.
//!
//! Owns the choice of transactions per command and the conversion of decimals into the
//! pump's raw BCD integers, refusing what does not fit. It never sends, retries or keeps
//! the TX#: the line scheduler in [`super`] does.

use crate::dart::app::{encode_master, Dcc, MasterTransaction, MAX_NOZZLE};
use crate::dart::frame::MAX_PAYLOAD_LEN;
use crate::dart::DartStatus;
use crate::model::{Preset, PumpCommand, PumpSetup, SubmitError};
use crate::units::NozzleId;

/// Digits of a DART volume or amount field (§5.8).
const QUANTITY_DIGITS: u8 = 8;
/// Digits of a DART unit price field (§5.8).
const PRICE_DIGITS: u8 = 6;
/// Total counters exist for logical nozzles 1..=8 only (COUN, §5.6).
const MAX_TOTALS_NOZZLE: u8 = 8;
/// COUN of a nozzle's amount total: 0x10 + the nozzle (§5.6); COUN n is its volume total.
pub(super) const AMOUNT_TOTALS: u8 = 0x10;

/// Why a block is on a pump's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    /// A command submitted by the daemon; its failure is reported with it.
    User(PumpCommand),
    /// The opening block of a session: RETURN STATUS + RETURN FILLING INFORMATION.
    Session,
    /// RETURN FILLING INFORMATION asked by the master itself at the end of a sale.
    CompletionInfo,
    /// A daemon's request sent again by the master with a new TX#: the pump ACKed it
    /// but its answer never came (§3.4: the pump may have taken it for a retransmission).
    /// Only requests that change nothing in the pump (RETURN STATUS, CD101) are resent.
    Again(PumpCommand),
}

impl Origin {
    /// The command a failure of this block is reported as.
    pub(super) fn command(&self) -> PumpCommand {
        match self {
            Origin::User(command) | Origin::Again(command) => command.clone(),
            Origin::Session => PumpCommand::ReturnStatus,
            Origin::CompletionInfo => PumpCommand::ReturnFillingInfo,
        }
    }
}

/// The payload of a block, ready to frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Payload {
    /// Always the same transactions.
    Fixed(Vec<u8>),
    /// An authorization: whether it opens with CD1 RESET depends on the pump's status
    /// when the block is first sent (§5.9: RESET only if the pump is not in RESET).
    Authorize {
        /// CD1 RESET, CD2, [CD3|CD4], CD1 AUTHORIZE.
        with_reset: Vec<u8>,
        /// CD2, [CD3|CD4], CD1 AUTHORIZE.
        without_reset: Vec<u8>,
    },
}

/// A command block on a pump's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct QueuedBlock {
    /// Why it is there.
    pub origin: Origin,
    /// What it says.
    pub payload: Payload,
    /// The payload as first sent; every resend repeats it byte for byte, so a pump that
    /// did receive it recognises the duplicate (§3.4).
    pub frozen: Option<Vec<u8>>,
    /// Sends that were NAKed, unanswered or answered otherwise than by ACK.
    pub failures: u32,
    /// True when an ACK of this block means the pump will answer with DC2 + DC3.
    pub requests_info: bool,
    /// How many times the request was already acknowledged without its answer: 0 for a
    /// first send, n for the n-th resend with a new TX#.
    pub round: u32,
}

impl QueuedBlock {
    fn new(origin: Origin, payload: Payload, requests_info: bool) -> Self {
        Self {
            origin,
            payload,
            frozen: None,
            failures: 0,
            requests_info,
            round: 0,
        }
    }

    /// The same request as a fresh block (new TX#, not frozen), for resend `round`.
    pub(super) fn again(&self, round: u32) -> Self {
        let origin = match &self.origin {
            Origin::User(command) => Origin::Again(command.clone()),
            other => other.clone(),
        };
        Self {
            origin,
            payload: self.payload.clone(),
            frozen: None,
            failures: 0,
            requests_info: self.requests_info,
            round,
        }
    }

    /// The session opening block (§6.6): CD1 RETURN STATUS + CD1 RETURN FILLING
    /// INFORMATION in one block, as the Mega162 firmware opens a session (dart.md B).
    pub(super) fn session() -> Self {
        let payload = fixed(&[
            MasterTransaction::Command(Dcc::ReturnStatus),
            MasterTransaction::Command(Dcc::ReturnFillingInfo),
        ]);
        Self::new(Origin::Session, payload, true)
    }

    /// The end-of-sale request (§6.7): CD1 RETURN FILLING INFORMATION.
    pub(super) fn completion_info() -> Self {
        let payload = fixed(&[MasterTransaction::Command(Dcc::ReturnFillingInfo)]);
        Self::new(Origin::CompletionInfo, payload, true)
    }

    /// True once the block has been on the wire: it then keeps its place at the head of
    /// the queue.
    pub(super) fn started(&self) -> bool {
        self.frozen.is_some()
    }

    /// The payload to send now, frozen on first use. `status` is the pump's last DC1.
    pub(super) fn payload_for(&mut self, status: Option<DartStatus>) -> Vec<u8> {
        if let Some(frozen) = &self.frozen {
            return frozen.clone();
        }
        let bytes = match &self.payload {
            Payload::Fixed(bytes) => bytes.clone(),
            // An unknown status gets the RESET: harmless in RESET, needed anywhere else.
            Payload::Authorize { without_reset, .. } if status == Some(DartStatus::Reset) => {
                without_reset.clone()
            }
            Payload::Authorize { with_reset, .. } => with_reset.clone(),
        };
        self.frozen = Some(bytes.clone());
        bytes
    }
}

/// Encodes transactions the translation has already checked.
fn fixed(transactions: &[MasterTransaction]) -> Payload {
    Payload::Fixed(encode_checked(transactions))
}

fn encode_checked(transactions: &[MasterTransaction]) -> Vec<u8> {
    // Only called with values checked against their field widths and a non-empty list.
    encode_master(transactions).expect("transactions are range-checked before encoding")
}

fn invalid(message: impl Into<String>) -> SubmitError {
    SubmitError::Invalid(message.into())
}

/// Checks `command` against what the pump `setup` can take, as
/// [`LineMaster::submit`](crate::LineMaster::submit) of a [`super::DartMaster`] does, but
/// without a master: the daemon refuses a command before it accepts it from a user.
///
/// Refused, with a message for the attendant: presets with more digits than the 8-digit
/// field holds at the pump's decimals (1000000.00 at 2 decimals) or more decimals than
/// the pump's (1.005 at 2 decimals is refused, never rounded), so also volumes too small
/// to express (0.0001 at 2 decimals); zero or negative presets; prices that are zero,
/// negative, too precise or beyond the 6-digit field, and price lists that miss a nozzle
/// or name one the pump does not have; nozzles not configured on the pump (an
/// [`Authorization`](crate::Authorization)'s nozzles, totals); a pump configuration DART
/// cannot carry. Everything it accepts encodes into one DART block.
pub fn check_command(setup: &PumpSetup, command: &PumpCommand) -> Result<(), String> {
    super::settings::validate_pump(setup).map_err(|e| e.to_string())?;
    translate(command, setup).map(drop).map_err(|e| match e {
        SubmitError::Invalid(message) => message,
        other => other.to_string(),
    })
}

/// Translates `command` for the pump `setup`, refusing what the pump cannot be told
/// exactly.
pub(super) fn translate(
    command: &PumpCommand,
    setup: &PumpSetup,
) -> Result<QueuedBlock, SubmitError> {
    let cd1 = |dcc| fixed(&[MasterTransaction::Command(dcc)]);
    let (payload, requests_info) = match command {
        PumpCommand::ReturnStatus => (cd1(Dcc::ReturnStatus), false),
        PumpCommand::ReturnFillingInfo => (cd1(Dcc::ReturnFillingInfo), true),
        PumpCommand::Reset => (cd1(Dcc::Reset), false),
        PumpCommand::Stop => (cd1(Dcc::Stop), false),
        PumpCommand::Suspend => (cd1(Dcc::Suspend), false),
        PumpCommand::Resume => (cd1(Dcc::Resume), false),
        PumpCommand::SwitchOff => (cd1(Dcc::SwitchOff), false),
        PumpCommand::Authorize(auth) => (authorize(setup, &auth.nozzles, auth.preset)?, false),
        PumpCommand::SetPrices(prices) => (set_prices(setup, prices)?, false),
        PumpCommand::ReadTotals(nozzle) => (read_totals(setup, *nozzle)?, false),
    };
    let too_long = |bytes: &Vec<u8>| bytes.len() > MAX_PAYLOAD_LEN;
    let fits = match &payload {
        Payload::Fixed(bytes) => !too_long(bytes),
        Payload::Authorize { with_reset, .. } => !too_long(with_reset),
    };
    if !fits {
        return Err(invalid("command does not fit one DART block"));
    }
    Ok(QueuedBlock::new(
        Origin::User(command.clone()),
        payload,
        requests_info,
    ))
}

/// §5.6: one block `CD101 COUN n` + `CD101 COUN 0x10+n`, the volume total and the amount
/// total (with the number of fillings) of logical nozzle n, answered by two DC101.
fn read_totals(setup: &PumpSetup, nozzle: NozzleId) -> Result<Payload, SubmitError> {
    if !(1..=MAX_TOTALS_NOZZLE).contains(&nozzle.0) {
        return Err(invalid(format!(
            "total counters exist for nozzles 1..=8, not {nozzle}"
        )));
    }
    if setup.grade_of(nozzle).is_none() {
        return Err(invalid(format!(
            "nozzle {nozzle} is not configured on pump {}",
            setup.address
        )));
    }
    Ok(fixed(&[
        MasterTransaction::RequestTotals(nozzle.0),
        MasterTransaction::RequestTotals(AMOUNT_TOTALS + nozzle.0),
    ]))
}

/// §5.9: one block `[CD1 RESET] CD2 [CD3|CD4] CD1 AUTHORIZE`; the preset follows the
/// RESET because RESET clears presets.
fn authorize(
    setup: &PumpSetup,
    nozzles: &[NozzleId],
    preset: Option<Preset>,
) -> Result<Payload, SubmitError> {
    let allowed: Vec<u8> = if nozzles.is_empty() {
        let mut all: Vec<u8> = setup.nozzles.iter().map(|(n, _)| n.0).collect();
        all.sort_unstable();
        all
    } else {
        let mut seen = Vec::with_capacity(nozzles.len());
        for nozzle in nozzles {
            if setup.grade_of(*nozzle).is_none() {
                return Err(invalid(format!(
                    "nozzle {nozzle} is not configured on pump {}",
                    setup.address
                )));
            }
            if seen.contains(&nozzle.0) {
                return Err(invalid(format!("nozzle {nozzle} is listed twice")));
            }
            seen.push(nozzle.0);
        }
        seen
    };
    if allowed.is_empty() {
        return Err(invalid(format!(
            "pump {} has no nozzle configured to authorize",
            setup.address
        )));
    }
    let preset = match preset {
        None => None,
        Some(Preset::Volume(volume)) => {
            let raw = volume
                .to_raw(setup.decimals.volume, QUANTITY_DIGITS)
                .map_err(|e| invalid(format!("preset volume: {e}")))?;
            Some(MasterTransaction::PresetVolume(nonzero(raw)?))
        }
        Some(Preset::Amount(amount)) => {
            let raw = amount
                .to_raw(setup.decimals.amount, QUANTITY_DIGITS)
                .map_err(|e| invalid(format!("preset amount: {e}")))?;
            Some(MasterTransaction::PresetAmount(nonzero(raw)?))
        }
    };
    let mut tail = vec![MasterTransaction::AllowedNozzles(allowed)];
    tail.extend(preset);
    tail.push(MasterTransaction::Command(Dcc::Authorize));
    let mut full = vec![MasterTransaction::Command(Dcc::Reset)];
    full.extend(tail.iter().cloned());
    Ok(Payload::Authorize {
        with_reset: encode_checked(&full),
        without_reset: encode_checked(&tail),
    })
}

/// A zero preset would stop the pump before it starts (§5.9 "if already exceeded, stop
/// at once"): refused as a mistake rather than sent.
fn nonzero(raw: u64) -> Result<u32, SubmitError> {
    match u32::try_from(raw) {
        Ok(0) => Err(invalid("a preset of zero allows no fuel")),
        Ok(value) => Ok(value),
        // `to_raw` with 8 digits never exceeds 99 999 999.
        Err(_) => Err(invalid("preset does not fit 8 digits")),
    }
}

/// §5.2 CD5: one price per logical nozzle 1..=highest configured, in nozzle order; the
/// pump ignores a block that leaves one out, so every one of them must be given.
fn set_prices(
    setup: &PumpSetup,
    prices: &[(NozzleId, crate::units::UnitPrice)],
) -> Result<Payload, SubmitError> {
    let highest = setup.nozzles.iter().map(|(n, _)| n.0).max().unwrap_or(0);
    if highest == 0 {
        return Err(invalid(format!(
            "pump {} has no nozzle configured to price",
            setup.address
        )));
    }
    let mut raw: Vec<Option<u32>> = vec![None; usize::from(highest)];
    for (nozzle, price) in prices {
        if !(1..=highest.min(MAX_NOZZLE)).contains(&nozzle.0) {
            return Err(invalid(format!(
                "nozzle {nozzle} is beyond the highest configured nozzle {highest}"
            )));
        }
        let slot = &mut raw[usize::from(nozzle.0 - 1)];
        if slot.is_some() {
            return Err(invalid(format!("nozzle {nozzle} is priced twice")));
        }
        let value = price
            .to_raw(setup.decimals.price, PRICE_DIGITS)
            .map_err(|e| invalid(format!("price of nozzle {nozzle}: {e}")))?;
        if value == 0 {
            return Err(invalid(format!(
                "a price of zero for nozzle {nozzle} would give fuel away"
            )));
        }
        // `to_raw` with 6 digits never exceeds 999 999.
        *slot = Some(u32::try_from(value).map_err(|_| invalid("price does not fit 6 digits"))?);
    }
    let mut list = Vec::with_capacity(raw.len());
    for (index, price) in raw.into_iter().enumerate() {
        match price {
            Some(price) => list.push(price),
            None => {
                return Err(invalid(format!(
                    "nozzle {} has no price; the pump ignores a price block that misses one",
                    index + 1
                )))
            }
        }
    }
    Ok(fixed(&[MasterTransaction::PriceUpdate(list)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Authorization;
    use crate::units::{BusAddress, Decimals, GradeId, Money, UnitPrice, Volume};
    use rust_decimal::Decimal;

    fn setup(nozzles: &[u8], decimals: Decimals) -> PumpSetup {
        PumpSetup {
            address: BusAddress(0x50),
            decimals,
            nozzles: nozzles
                .iter()
                .map(|&n| (NozzleId(n), GradeId(n.into())))
                .collect(),
        }
    }

    fn fixed_bytes(block: &QueuedBlock) -> Vec<u8> {
        match &block.payload {
            Payload::Fixed(bytes) => bytes.clone(),
            other => panic!("not fixed: {other:?}"),
        }
    }

    fn dec(text: &str) -> Decimal {
        text.parse().expect("decimal literal")
    }

    #[test]
    fn single_cd1_commands() {
        let s = setup(&[1], Decimals::default());
        let cases = [
            (PumpCommand::ReturnStatus, 0x00),
            (PumpCommand::ReturnFillingInfo, 0x04),
            (PumpCommand::Reset, 0x05),
            (PumpCommand::Stop, 0x08),
            (PumpCommand::SwitchOff, 0x0A),
            (PumpCommand::Suspend, 0x0D),
            (PumpCommand::Resume, 0x0E),
        ];
        for (command, dcc) in cases {
            let block = translate(&command, &s).expect("valid command");
            assert_eq!(fixed_bytes(&block), [0x01, 0x01, dcc], "{command:?}");
            assert_eq!(block.requests_info, dcc == 0x04);
        }
    }

    #[test]
    fn authorize_all_configured_nozzles_with_and_without_reset() {
        let s = setup(&[3, 1, 2], Decimals::default());
        let auth = Authorization {
            preset: Some(Preset::Amount(Money::new(dec("100.00")))),
            nozzles: vec![],
        };
        let mut block = translate(&PumpCommand::Authorize(auth), &s).expect("valid");
        let Payload::Authorize {
            with_reset,
            without_reset,
        } = block.payload.clone()
        else {
            panic!("authorize payload");
        };
        // dart.md D: CD2 1,2,3 + CD4 00010000 + CD1 AUTHORIZE.
        let tail = [2, 3, 1, 2, 3, 4, 4, 0x00, 0x01, 0x00, 0x00, 1, 1, 6];
        assert_eq!(without_reset, tail);
        assert_eq!(with_reset[..3], [1, 1, 5]);
        assert_eq!(with_reset[3..], tail);
        // The choice is made once, on first send, and kept for every resend.
        assert_eq!(
            block.payload_for(Some(DartStatus::FillingCompleted)),
            with_reset
        );
        assert_eq!(block.payload_for(Some(DartStatus::Reset)), with_reset);
    }

    #[test]
    fn authorize_limited_to_a_nozzle_allows_only_that_nozzle() {
        let s = setup(&[1, 2], Decimals::default());
        let auth = Authorization {
            preset: None,
            nozzles: vec![NozzleId(2)],
        };
        let block = translate(&PumpCommand::Authorize(auth), &s).expect("valid");
        let Payload::Authorize { without_reset, .. } = block.payload else {
            panic!("authorize payload");
        };
        // docs/protocols/dart.md "Test vectors", the MG capture `51 34 02 01 02 01 01 06 …`:
        // CD2 nozzle 2 + CD1 AUTHORIZE.
        assert_eq!(without_reset, [2, 1, 2, 1, 1, 6]);
    }

    #[test]
    fn authorize_refusals() {
        let s = setup(&[1, 2], Decimals::default());
        let with = |preset, nozzles| {
            translate(
                &PumpCommand::Authorize(Authorization { preset, nozzles }),
                &s,
            )
        };
        assert!(matches!(
            with(None, vec![NozzleId(3)]),
            Err(SubmitError::Invalid(_))
        ));
        assert!(matches!(
            with(None, vec![NozzleId(1), NozzleId(1)]),
            Err(SubmitError::Invalid(_))
        ));
        let too_big = Preset::Volume(Volume::new(dec("1000000.00")));
        assert!(matches!(
            with(Some(too_big), vec![]),
            Err(SubmitError::Invalid(_))
        ));
        let too_precise = Preset::Amount(Money::new(dec("1.005")));
        assert!(matches!(
            with(Some(too_precise), vec![]),
            Err(SubmitError::Invalid(_))
        ));
        let zero = Preset::Amount(Money::ZERO);
        assert!(matches!(
            with(Some(zero), vec![]),
            Err(SubmitError::Invalid(_))
        ));
        let max = Preset::Volume(Volume::new(dec("999999.99")));
        assert!(with(Some(max), vec![NozzleId(2)]).is_ok());
        let none = setup(&[], Decimals::default());
        assert!(matches!(
            translate(&PumpCommand::Authorize(Authorization::default()), &none),
            Err(SubmitError::Invalid(_))
        ));
    }

    #[test]
    fn prices_cover_every_nozzle_in_order() {
        let d = Decimals {
            volume: 2,
            amount: 2,
            price: 3,
        };
        let s = setup(&[1, 3], d);
        let price = |n, text| (NozzleId(n), UnitPrice::new(dec(text)));
        let block = translate(
            &PumpCommand::SetPrices(vec![
                price(3, "1.659"),
                price(1, "1.459"),
                price(2, "1.559"),
            ]),
            &s,
        )
        .expect("every nozzle priced");
        // dart.md D: CD5 001459/001559/001659.
        assert_eq!(
            fixed_bytes(&block),
            [0x05, 0x09, 0x00, 0x14, 0x59, 0x00, 0x15, 0x59, 0x00, 0x16, 0x59]
        );
        for bad in [
            vec![price(1, "1.459"), price(3, "1.659")],
            vec![
                price(1, "1.459"),
                price(2, "1.559"),
                price(3, "1.659"),
                price(4, "1"),
            ],
            vec![price(1, "1.459"), price(1, "1.459"), price(3, "1.659")],
            vec![price(1, "1000"), price(2, "1"), price(3, "1")],
            vec![price(1, "1.4591"), price(2, "1"), price(3, "1")],
        ] {
            assert!(
                matches!(
                    translate(&PumpCommand::SetPrices(bad.clone()), &s),
                    Err(SubmitError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn totals_ask_volume_and_amount_of_configured_counted_nozzles() {
        let s = setup(&[1, 2], Decimals::default());
        let block = translate(&PumpCommand::ReadTotals(NozzleId(2)), &s).expect("valid");
        // CD101 COUN 2 (volume total) + CD101 COUN 0x12 (amount total), §5.6.
        assert_eq!(fixed_bytes(&block), [0x65, 0x01, 0x02, 0x65, 0x01, 0x12]);
        let wide = setup(&[1, 9], Decimals::default());
        for n in [0, 3, 9, 15] {
            assert!(matches!(
                translate(&PumpCommand::ReadTotals(NozzleId(n)), &s),
                Err(SubmitError::Invalid(_))
            ));
            assert!(translate(&PumpCommand::ReadTotals(NozzleId(n)), &wide).is_err());
        }
    }
}
