//! The daemon SIGKILLed at chosen moments of real sales and restarted on the same journal,
//! checked against the pumps' and Mercado Pago's ground truth (see `support/crash.rs`).

use crate::support::crash::{run, Knobs};

/// At least 20 kills, a couple of minutes on two cores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_safety_ci() {
    let report = run(Knobs::from_env(20)).await;
    println!("{report}");
    assert!(report.violations.is_empty(), "{report}");
}

/// The long run behind `bench/crash-soak.sh` (`CRASH_KILLS`, default 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long soak: run through bench/crash-soak.sh"]
async fn crash_safety_soak() {
    let report = run(Knobs::from_env(200)).await;
    println!("{report}");
    assert!(report.violations.is_empty(), "{report}");
}
