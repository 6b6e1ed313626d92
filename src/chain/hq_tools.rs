//! Headquarters' tools for central prices: `forecourtd hq-keygen` makes the signing
//! identity, `forecourtd hq-price-plan` signs a plan and puts it in the bucket
//! (docs/chain.md "Central price plans").
//!
//! Owns the key files' format (the NKey seed as text, mode 0600; the public key beside
//! it) and the plan's publication. Stations read the plan from the bucket whenever they
//! are connected; the answer comes back through the outbox events.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use nkeys::KeyPair;

use super::nats::{connect_with_retries, NatsArgs};
use super::price_plan::{parse_price, Plan, PlanError, Target};
use super::price_plans::plan_bucket;

/// Headquarters' query of its price plans and their confirmation, per station: each
/// plan's price set, when it was recorded and activated, and how many pumps confirmed it
/// (docs/chain.md).
pub const PLAN_CONFIRMATIONS_SQL: &str = "\
SELECT a.store, a.payload->>'plan' AS plan, a.payload->>'price_set' AS price_set,
       a.created_at AS added_at, min(act.created_at) AS activated_at,
       count(DISTINCT c.payload->>'position') AS pumps_confirmed,
       max(c.created_at) AS last_confirmed_at
FROM chain_events a
LEFT JOIN chain_events act ON act.store = a.store AND act.kind = 'price_set_activated'
     AND act.payload->>'price_set' = a.payload->>'price_set'
LEFT JOIN chain_events c ON c.store = a.store AND c.kind = 'price_set_confirmed'
     AND c.payload->>'price_set' = a.payload->>'price_set'
WHERE a.kind = 'price_set_added' AND a.payload ? 'plan'
GROUP BY a.store, a.payload->>'plan', a.payload->>'price_set', a.created_at
ORDER BY a.store, a.created_at";

/// Headquarters' query of the plans stations refused, and why (docs/chain.md).
pub const PLAN_REFUSALS_SQL: &str = "\
SELECT store, payload->>'plan' AS plan, payload->>'key' AS key,
       payload->>'reason' AS reason, created_at
FROM chain_events WHERE kind = 'price_plan_refused'
ORDER BY store, seq";

/// Why a tool failed.
#[derive(Debug, thiserror::Error)]
pub enum HqToolError {
    /// A key file could not be written or read.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The secret key file does not hold an NKey seed.
    #[error("{}: not an NKey seed: {reason}", path.display())]
    Seed {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A command-line value is wrong.
    #[error("{0}")]
    Usage(String),
    /// A secret file (NKey seed, password) could not be read.
    #[error("{0}")]
    Secret(String),
    /// The plan could not be made.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// NATS connection.
    #[error(transparent)]
    Connect(#[from] super::nats::ConnectError),
    /// The bucket could not be found, created or written.
    #[error("JetStream: {0}")]
    JetStream(String),
}

/// `forecourtd hq-keygen` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct HqKeygenArgs {
    /// Where to write the secret key (the NKey seed, mode 0600; never overwritten). The
    /// public key goes to the same name with `.pub` added, and to stdout.
    #[arg(long)]
    pub out: PathBuf,
}

/// The public key file of secret key file `secret`.
pub fn public_file(secret: &Path) -> PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), HqToolError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file_err = |source| HqToolError::File {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(file_err)?;
    file.write_all(text.as_bytes()).map_err(file_err)?;
    file.sync_all().map_err(file_err)
}

/// Makes a new headquarters identity (an NKey account key pair): the seed in
/// `args.out` (mode 0600), the public key in `<out>.pub`. Returns the public key.
pub fn keygen(args: &HqKeygenArgs) -> Result<String, HqToolError> {
    let key = KeyPair::new_account();
    let seed = key.seed().map_err(|e| HqToolError::Seed {
        path: args.out.clone(),
        reason: e.to_string(),
    })?;
    let public = key.public_key();
    write_new(&args.out, &format!("{seed}\n"), 0o600)?;
    write_new(&public_file(&args.out), &format!("{public}\n"), 0o644)?;
    Ok(public)
}

/// Reads the secret key written by [`keygen`].
pub fn read_key(path: &Path) -> Result<KeyPair, HqToolError> {
    let text = std::fs::read_to_string(path).map_err(|source| HqToolError::File {
        path: path.to_owned(),
        source,
    })?;
    KeyPair::from_seed(text.trim()).map_err(|e| HqToolError::Seed {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// `forecourtd hq-price-plan` arguments.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["store", "group"])))]
pub struct HqPricePlanArgs {
    /// Headquarters' secret key file (from `hq-keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// How to reach NATS.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// The station (its `[chain] store`).
    #[arg(long)]
    pub store: Option<String>,
    /// A group of stations (listed in their `[chain] groups`).
    #[arg(long)]
    pub group: Option<String>,
    /// A grade's new unit price, `GRADE=PRICE` (the grade's key in the station's
    /// `[grades]`); repeat for more grades.
    #[arg(long = "price", required = true, value_name = "GRADE=PRICE")]
    pub prices: Vec<String>,
    /// When the prices take effect (RFC 3339 with an offset); default: on arrival.
    #[arg(long)]
    pub at: Option<String>,
}

impl HqPricePlanArgs {
    /// The plan these arguments describe, issued `now` with a new UUIDv7 id.
    pub fn plan(&self, now: Timestamp) -> Result<Plan, HqToolError> {
        let target = match (&self.store, &self.group) {
            (Some(store), None) => Target::Store(store.clone()),
            (None, Some(group)) => Target::Group(group.clone()),
            _ => return Err(HqToolError::Usage("give --store or --group".to_owned())),
        };
        if Target::from_key(&target.key()).as_ref() != Some(&target) {
            return Err(HqToolError::Usage(format!(
                "{} is not a valid target (1 to 32 letters, digits, '-' or '_')",
                target.key()
            )));
        }
        let mut prices = BTreeMap::new();
        for item in &self.prices {
            let (grade, price) = item.split_once('=').ok_or_else(|| {
                HqToolError::Usage(format!("--price {item:?}: write GRADE=PRICE"))
            })?;
            prices.insert(grade.trim().to_owned(), parse_price(grade, price)?);
        }
        let effective_at = self
            .at
            .as_deref()
            .map(|t| {
                t.parse::<Timestamp>()
                    .map_err(|_| HqToolError::Usage(format!("--at {t:?} is not an RFC 3339 time")))
            })
            .transpose()?;
        Ok(Plan {
            plan_id: uuid::Uuid::now_v7().to_string(),
            target,
            effective_at,
            prices,
            issued_at: now,
        })
    }
}

/// Attempts at connecting to NATS before `hq-price-plan` gives up.
pub const CONNECT_TRIES: u32 = 3;

/// The wait after the first failed attempt (doubled after each next one).
pub const CONNECT_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Signs the plan of `args` and puts it under its target's key; returns the plan and
/// the key-value revision. The connection is tried [`CONNECT_TRIES`] times.
pub async fn publish(args: &HqPricePlanArgs) -> Result<(Plan, u64), HqToolError> {
    let key = read_key(&args.key)?;
    let plan = args.plan(Timestamp::now())?;
    let message = plan.sign(&key)?;
    let settings = args.nats.settings().map_err(HqToolError::Secret)?;
    let client = connect_with_retries(
        &settings,
        "forecourtd hq-price-plan",
        CONNECT_TRIES,
        CONNECT_PAUSE,
    )
    .await?;
    let bucket = plan_bucket(&async_nats::jetstream::new(client.clone()))
        .await
        .map_err(HqToolError::JetStream)?;
    let revision = bucket
        .put(plan.target.key(), message.into())
        .await
        .map_err(|e| HqToolError::JetStream(e.to_string()))?;
    client
        .flush()
        .await
        .map_err(|e| HqToolError::JetStream(e.to_string()))?;
    Ok((plan, revision))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keygen_writes_a_private_seed_and_its_public_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = HqKeygenArgs {
            out: dir.path().join("hq.nk"),
        };
        let public = keygen(&args).expect("keygen");
        let mode = std::fs::metadata(&args.out)
            .expect("secret")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let key = read_key(&args.out).expect("reads back");
        assert_eq!(key.public_key(), public);
        let written = std::fs::read_to_string(public_file(&args.out)).expect("public");
        assert_eq!(written.trim(), public);
        assert!(
            keygen(&args).is_err(),
            "an existing key is never overwritten"
        );
    }

    #[test]
    fn plan_arguments_are_checked() {
        let args = |store: Option<&str>, prices: &[&str], at: Option<&str>| HqPricePlanArgs {
            key: PathBuf::from("k"),
            nats: NatsArgs {
                nats: "nats://x:4222".to_owned(),
                credentials: None,
                tls_ca: None,
                tls_required: false,
                nkey_seed_file: None,
                user: None,
                password_file: None,
            },
            store: store.map(str::to_owned),
            group: None,
            prices: prices.iter().map(|p| (*p).to_owned()).collect(),
            at: at.map(str::to_owned),
        };
        let now: Timestamp = "2026-12-03T12:00:00Z".parse().expect("time");
        let plan = args(
            Some("29"),
            &["super=1500.50"],
            Some("2026-12-04T06:00:00-03:00"),
        )
        .plan(now)
        .expect("plan");
        assert_eq!(plan.target, Target::Store("29".to_owned()));
        assert_eq!(plan.prices["super"].to_string(), "1500.50");
        assert_eq!(
            plan.effective_at.map(|t| t.to_string()).as_deref(),
            Some("2026-12-04T09:00:00Z")
        );
        assert!(args(Some("29"), &["super:1500"], None).plan(now).is_err());
        assert!(args(Some("29"), &["super=-1"], None).plan(now).is_err());
        assert!(args(Some("a.b"), &["super=1"], None).plan(now).is_err());
        assert!(args(Some("29"), &["super=1"], Some("tomorrow"))
            .plan(now)
            .is_err());
    }
}
