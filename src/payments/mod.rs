//! Payments: turning Mercado Pago's notifications and searches into paid sales.
//!
//! [`decide`] holds the rules as a pure function; the processing around it reads the
//! payment from the API (never from a notification body), asks the journal, and applies
//! the decision.

pub mod decide;
pub mod pos_sync;
pub mod preference;
pub mod processor;
pub mod reconcile;
pub mod served;
