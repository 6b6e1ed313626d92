//! Configuration: the example, every class of error with its key path, secrets, and the
//! `check-config` / `example-config` commands run as the real binary.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use forecourtd::config::{
    Config, ConfigError, DigitMode, GradeUnit, LogFormat, MpMode, OnNak, Parity, Protocol, TxWrap,
    EXAMPLE,
};
use pump_protocols::{BusAddress, Decimals, GradeId, NozzleId, PositionId};

/// The smallest valid configuration; tests edit it with [`edit`].
const BASE: &str = r#"
[station]
store_id = "29"
name = "Test station"
time_zone = "America/Argentina/Buenos_Aires"

[mercadopago]
collector_id = 446566691
notification_url = "https://station.example/mp/notifications"

[grades.super]
name = "Super"
code = "1"
price = "800.00"

[[lines]]
name = "a"
device = "/dev/ttyUSB0"

[[lines.pumps]]
address = 0x50
position = 1
nozzles = { "1" = "super" }
"#;

/// A token shaped like Mercado Pago's, ending in the collector's user id.
const TOKEN: &str = "APP_USR-7719374626482201-112215-4f0a9c1b2e3d5f6a7b8c9d0e1f2a3b4c-446566691";

fn no_env(_: &str) -> Option<OsString> {
    None
}

/// `BASE` with `from` replaced by `to` (which must be present, so a test cannot silently
/// check the unedited file).
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in the config");
    text.replacen(from, to, 1)
}

fn load_in(dir: &Path, text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str_with_env(text, dir, &no_env)
}

fn load(text: &str) -> Result<Config, ConfigError> {
    load_in(Path::new("/etc/forecourtd"), text)
}

fn loaded(text: &str) -> Config {
    load(text).unwrap_or_else(|e| panic!("config should be valid:\n{e}"))
}

/// The issues as `path: message` lines.
fn issues(text: &str) -> Vec<String> {
    match load(text) {
        Ok(_) => panic!("config should be invalid"),
        Err(e) => e.issues().iter().map(ToString::to_string).collect(),
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn forecourtd(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_forecourtd"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run forecourtd: {e}"));
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `forecourtd check-config` on `text` written to a temporary `forecourtd.toml`,
/// with `files` written beside it.
fn check_config_with(text: &str, files: &[(&str, &str)], env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap_or_else(|e| panic!("write: {e}"));
    }
    let path = dir.path().join("forecourtd.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write: {e}"));
    forecourtd(&["check-config".as_ref(), path.as_os_str()], env)
}

fn check_config(text: &str) -> Run {
    check_config_with(text, &[], &[])
}

/// Asserts `check-config` refuses `text` with exit status 2 and prints `line` as one of
/// its error lines.
fn assert_rejected(text: &str, line: &str) {
    let run = check_config(text);
    assert_eq!(
        run.code,
        Some(2),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.lines().any(|l| l == line),
        "expected the line\n  {line}\nin stderr:\n{}",
        run.stderr
    );
    assert!(!run.stdout.contains("OK"), "{}", run.stdout);
}

#[test]
fn example_is_valid_and_describes_the_station() {
    let config = load(EXAMPLE).unwrap_or_else(|e| panic!("example invalid:\n{e}"));
    let station = config.station();
    assert_eq!(station.store_id, "29");
    assert_eq!(station.store_id_padded(), "00029");
    assert_eq!(station.currency, "ARS");
    assert_eq!(
        station.time_zone.iana_name(),
        Some("America/Argentina/Buenos_Aires")
    );
    assert!(station.is_store_id("29") && station.is_store_id("00029"));
    assert!(!station.is_store_id("290") && !station.is_store_id(""));

    assert_eq!(config.lines().len(), 2);
    let positions: Vec<_> = config.positions().collect();
    assert_eq!(positions, [1, 2, 3, 4].map(PositionId));
    assert_eq!(config.pos_external_id(PositionId(3)), "ST29P03");
    assert_eq!(config.pos_name(PositionId(3)), "Surtidor 3");
    assert_eq!(
        config.order_url(PositionId(3)).as_deref(),
        Some("https://estacion29.example/pay-mp?apies=29&pos=3")
    );

    let (line, pump) = config
        .find_position(PositionId(4))
        .unwrap_or_else(|| panic!("position 4 not found"));
    assert_eq!(line.name, "isla2");
    assert_eq!(line.protocol, Protocol::Dart);
    assert_eq!(line.parity, Parity::Odd);
    assert_eq!(line.baud, 9600);
    assert_eq!(line.tx_wrap, TxWrap::FTo1);
    assert_eq!(line.on_nak, OnNak::ResetTo0);
    assert_eq!(line.response_timeout.as_millis(), 50);
    assert_eq!(line.stale_limit.as_millis(), 3000);
    assert_eq!(pump.address, BusAddress(0x51));
    assert_eq!(
        pump.decimals,
        Decimals {
            volume: 3,
            amount: 2,
            price: 2
        }
    );
    let diesel = config
        .grade_by_key("diesel500")
        .unwrap_or_else(|| panic!("no diesel500"));
    let setup = pump.setup();
    assert_eq!(setup.grade_of(NozzleId(1)), Some(diesel.id));
    assert_eq!(config.grade(diesel.id).map(|g| g.code.as_str()), Some("8"));
    assert_eq!(diesel.unit, GradeUnit::Litre);
    assert_eq!(diesel.price.to_string(), "1392.00");
    assert_eq!(line.pump_setups().len(), 2);
    assert_eq!(config.pumps().count(), 4);
    assert!(config.find_position(PositionId(5)).is_none());

    let mp = config.mercadopago();
    assert_eq!(mp.mode, MpMode::Order);
    assert_eq!(mp.collector_id, 446566691);
    assert_eq!(mp.sponsor_id, Some(446559784));
    assert!(mp.access_token.is_none());
    assert_eq!(mp.request_timeout.as_millis(), 5000);
    assert_eq!(
        config.loyalty().map(|l| l.program.as_str()),
        Some("serviclub")
    );
    assert_eq!(
        config
            .attendant("mgomez")
            .and_then(|a| a.document_number.as_deref()),
        Some("31789456")
    );
    assert_eq!(config.logging().format, LogFormat::Human);
    // No token source in the example: allowed, with a warning.
    let warned: Vec<_> = config.warnings().iter().map(|w| w.path.as_str()).collect();
    assert_eq!(warned, ["mercadopago"]);
}

#[test]
fn check_config_on_the_example_prints_ok() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let run = forecourtd(&["check-config".as_ref(), path.as_os_str()], &[]);
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    let mut lines = run.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(format!("{}: OK", path.display()).as_str())
    );
    let summary = lines.next().unwrap_or_default();
    assert!(summary.contains("2 line(s), 4 position(s)"), "{summary}");
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn example_config_prints_the_compiled_in_example() {
    let run = forecourtd(&["example-config".as_ref()], &[]);
    assert_eq!(run.code, Some(0));
    assert_eq!(run.stdout, EXAMPLE);
}

#[test]
fn defaults_fill_everything_optional() {
    let config = loaded(BASE);
    assert_eq!(config.station().currency, "ARS");
    assert_eq!(config.station().pos_external_id_prefix, "ST29");
    assert_eq!(config.pos_name(PositionId(12)), "Surtidor 12");
    let mp = config.mercadopago();
    assert_eq!(mp.api_base_url, "https://api.mercadopago.com");
    assert!(mp.accept_unsigned && !mp.refund_duplicates);
    assert_eq!(mp.signature_tolerance.as_secs(), 900);
    assert_eq!(mp.order_answer_timeout.as_millis(), 2500);
    assert_eq!(mp.reconcile_after.as_secs(), 120);
    assert_eq!(config.database().prune_after.as_secs(), 30 * 24 * 60 * 60);
    assert!(mp.public_base_url.is_none() && config.order_url(PositionId(1)).is_none());
    assert_eq!(config.order_endpoint().path, "/pay-mp");
    assert_eq!(
        config.order_endpoint().allowed_methods,
        [hyper::Method::GET, hyper::Method::HEAD]
    );
    assert_eq!(config.listen().public.to_string(), "127.0.0.1:8080");
    assert_eq!(config.listen().admin.to_string(), "127.0.0.1:8081");
    assert_eq!(
        config.database().path,
        Path::new("/var/lib/forecourtd/journal.db")
    );
    assert_eq!(config.logging().level, "info");
    let line = &config.lines()[0];
    assert_eq!(line.poll_interval.as_millis(), 30);
    assert_eq!((line.offline_after_misses, line.retries), (5, 3));
    assert_eq!(line.busy_turn_every, 4);
    assert_eq!(line.reopen_backoff_max.as_millis(), 10_000);
    assert_eq!(line.pumps[0].decimals, Decimals::default());
    assert!(config.loyalty().is_none());
}

#[test]
fn duplicate_position_names_the_first_user() {
    let text = format!(
        "{BASE}\n[[lines]]\nname = \"b\"\ndevice = \"/dev/ttyUSB1\"\n\
         [[lines.pumps]]\naddress = 0x50\nposition = 2\nnozzles = {{ \"1\" = \"super\" }}\n\
         [[lines.pumps]]\naddress = 0x51\nposition = 1\nnozzles = {{ \"1\" = \"super\" }}\n"
    );
    assert_rejected(
        &text,
        "lines[1].pumps[1].position: position 1 is already used by lines[0].pumps[0]",
    );
}

#[test]
fn bad_external_id_prefix() {
    let text = edit(
        BASE,
        "store_id = \"29\"",
        "store_id = \"29\"\npos_external_id_prefix = \"ST-29\"",
    );
    assert_rejected(
        &text,
        "station.pos_external_id_prefix: must be letters and digits only (Mercado Pago refuses \
         spaces and other characters in a POS external id), got \"ST-29\"",
    );
    let long = "A".repeat(38);
    let text = edit(
        BASE,
        "store_id = \"29\"",
        &format!("store_id = \"29\"\npos_external_id_prefix = \"{long}\""),
    );
    assert_rejected(
        &text,
        &format!(
            "station.pos_external_id_prefix: POS external id \"{long}P01\" of position 1 is 41 \
             characters long; at most 40 are allowed"
        ),
    );
}

#[test]
fn name_too_long() {
    let name = "Estación de servicio YPF Ruta Nacional 2 Km 40";
    assert_eq!(name.chars().count(), 46);
    let text = edit(
        BASE,
        "name = \"Test station\"",
        &format!("name = \"{name}\""),
    );
    assert_rejected(
        &text,
        &format!("station.name: \"{name}\" is 46 characters long; at most 45 are allowed"),
    );
    // Counted in characters, not bytes: 45 accented characters fit.
    let text = edit(
        BASE,
        "name = \"Test station\"",
        &format!("name = \"{}\"", "é".repeat(45)),
    );
    loaded(&text);

    let text = edit(
        BASE,
        "store_id = \"29\"",
        &format!(
            "store_id = \"29\"\npos_name_template = \"{} {{position}}\"",
            "x".repeat(44)
        ),
    );
    assert_rejected(
        &text,
        &format!(
            "station.pos_name_template: POS name \"{} 1\" of position 1 is 46 characters long; \
             1 to 45 are allowed",
            "x".repeat(44)
        ),
    );
}

#[test]
fn busy_turn_every_is_taken_and_checked() {
    let with = |v: &str| {
        edit(
            BASE,
            "device = \"/dev/ttyUSB0\"",
            &format!("device = \"/dev/ttyUSB0\"\nbusy_turn_every = {v}"),
        )
    };
    assert_eq!(loaded(&with("0")).lines()[0].busy_turn_every, 0);
    assert_eq!(loaded(&with("64")).lines()[0].busy_turn_every, 64);
    for bad in ["-1", "65"] {
        let found = issues(&with(bad));
        assert!(
            found
                .iter()
                .any(|i| i.starts_with("lines[0].busy_turn_every: ")),
            "{bad}: {found:?}"
        );
    }
}

#[test]
fn unknown_protocol() {
    let text = edit(
        BASE,
        "device = \"/dev/ttyUSB0\"",
        "device = \"/dev/ttyUSB0\"\nprotocol = \"gilbarco2\"",
    );
    assert_rejected(
        &text,
        "lines[0].protocol: unknown protocol \"gilbarco2\" (supported: dart, gilbarco)",
    );
}

#[test]
fn address_out_of_range() {
    let text = edit(BASE, "address = 0x50", "address = 0x70");
    assert_rejected(
        &text,
        "lines[0].pumps[0].address: address 0x70 is out of range for dart (0x50..=0x6F)",
    );
    let text = edit(BASE, "address = 0x50", "address = 300");
    assert_rejected(
        &text,
        "lines[0].pumps[0].address: address 300 is out of range for dart (0x50..=0x6F)",
    );
}

#[test]
fn duplicate_address_on_a_line() {
    let text = format!(
        "{BASE}\n[[lines.pumps]]\naddress = 80\nposition = 2\nnozzles = {{ \"1\" = \"super\" }}\n"
    );
    assert_rejected(
        &text,
        "lines[0].pumps[1].address: address 0x50 is already used by lines[0].pumps[0]",
    );
}

#[test]
fn the_same_address_on_two_lines_is_fine() {
    let text = format!(
        "{BASE}\n[[lines]]\nname = \"b\"\ndevice = \"/dev/ttyUSB1\"\n\
         [[lines.pumps]]\naddress = 0x50\nposition = 2\nnozzles = {{ \"1\" = \"super\" }}\n"
    );
    let config = loaded(&text);
    let (line, _) = config
        .find_position(PositionId(2))
        .unwrap_or_else(|| panic!("position 2"));
    assert_eq!(line.name, "b");
}

#[test]
fn unknown_grade_reference() {
    let text = edit(
        BASE,
        "{ \"1\" = \"super\" }",
        "{ \"1\" = \"super\", \"2\" = \"premium\" }",
    );
    assert_rejected(
        &text,
        "lines[0].pumps[0].nozzles.2: unknown grade \"premium\" (configured: super)",
    );
}

#[test]
fn bad_nozzles() {
    let text = edit(BASE, "{ \"1\" = \"super\" }", "{ \"16\" = \"super\" }");
    assert_rejected(
        &text,
        "lines[0].pumps[0].nozzles.16: nozzle \"16\" must be a number from 1 to 15",
    );
    let text = edit(BASE, "{ \"1\" = \"super\" }", "{}");
    assert_rejected(
        &text,
        "lines[0].pumps[0].nozzles: at least one nozzle is needed, e.g. nozzles = { \"1\" = \"super\" }",
    );
}

#[test]
fn price_not_representable_on_a_pump() {
    let text = edit(BASE, "price = \"800.00\"", "price = \"800.005\"");
    assert_rejected(
        &text,
        "lines[0].pumps[0].nozzles.1: price 800.005 of grade \"super\" cannot be programmed \
         into this pump (2 price decimals, 6 digits): 800.005 has more than 2 decimals",
    );
    // Fits in 6 digits with 2 decimals only below 10000.
    let text = edit(BASE, "price = \"800.00\"", "price = \"12000\"");
    assert_rejected(
        &text,
        "lines[0].pumps[0].nozzles.1: price 12000 of grade \"super\" cannot be programmed \
         into this pump (2 price decimals, 6 digits): 12000 does not fit in 6 digits with 2 decimals",
    );
    // The same price fits a pump with 0 price decimals.
    let text = edit(
        BASE,
        "position = 1",
        "position = 1\ndecimals = { price = 0 }",
    );
    let text = edit(&text, "price = \"800.00\"", "price = \"12000\"");
    assert_eq!(loaded(&text).lines()[0].pumps[0].decimals.price, 0);
}

#[test]
fn float_price_is_refused_with_advice() {
    let text = edit(BASE, "price = \"800.00\"", "price = 800.10");
    assert_rejected(
        &text,
        "grades.super.price: 800.1 is a floating-point number; write prices as strings, e.g. \"1234.56\"",
    );
    // Integers are exact and accepted.
    let text = edit(BASE, "price = \"800.00\"", "price = 800");
    assert_eq!(
        loaded(&text)
            .grade_by_key("super")
            .map(|g| g.price.to_string()),
        Some("800".to_owned())
    );
    let text = edit(BASE, "price = \"800.00\"", "price = \"0\"");
    assert_rejected(&text, "grades.super.price: 0 must be greater than 0");
}

#[test]
fn bad_time_zone() {
    let text = edit(
        BASE,
        "America/Argentina/Buenos_Aires",
        "America/Buenos_Ayres",
    );
    assert_rejected(
        &text,
        "station.time_zone: unknown time zone \"America/Buenos_Ayres\" (use an IANA name such as \
         \"America/Argentina/Buenos_Aires\")",
    );
}

#[test]
fn both_token_sources() {
    let text = edit(
        BASE,
        "collector_id = 446566691",
        "access_token_file = \"token\"\naccess_token_env = \"MP_TOKEN\"",
    );
    assert_rejected(
        &text,
        "mercadopago.access_token_file: access_token_file and access_token_env are both set; use only one",
    );
}

#[test]
fn missing_token_file_is_an_error_with_its_resolved_path() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let text = edit(
        BASE,
        "collector_id = 446566691",
        "access_token_file = \"mp_token\"",
    );
    let err = load_in(dir.path(), &text)
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    let lines: Vec<_> = err.issues().iter().map(ToString::to_string).collect();
    let expected = format!(
        "mercadopago.access_token_file: cannot read {}: ",
        dir.path().join("mp_token").display()
    );
    // Exactly one issue: the collector id is not reported as missing on top of it.
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with(&expected), "{lines:?}");

    let run = check_config(&text);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("mercadopago.access_token_file: cannot read "),
        "{}",
        run.stderr
    );
}

#[test]
fn token_from_a_file_gives_the_collector_id() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    std::fs::write(dir.path().join("mp_token"), format!("{TOKEN}\n"))
        .unwrap_or_else(|e| panic!("write: {e}"));
    let text = edit(
        BASE,
        "collector_id = 446566691",
        "access_token_file = \"mp_token\"",
    );
    let config = load_in(dir.path(), &text).unwrap_or_else(|e| panic!("{e}"));
    let mp = config.mercadopago();
    assert_eq!(mp.collector_id, 446566691);
    assert_eq!(mp.access_token.as_ref().map(|t| t.expose()), Some(TOKEN));
}

#[test]
fn prune_after_days_is_bounded() {
    let text = format!("{BASE}\n[database]\nprune_after_days = 0\n");
    assert_eq!(
        issues(&text),
        ["database.prune_after_days: must be 1 to 3650 days, got 0"]
    );
    let text = format!("{BASE}\n[database]\nprune_after_days = 7\n");
    assert_eq!(
        loaded(&text).database().prune_after.as_secs(),
        7 * 24 * 60 * 60
    );
}

#[test]
fn token_from_a_systemd_credential() {
    let creds = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    std::fs::write(creds.path().join("mp_access_token"), format!("{TOKEN}\n"))
        .unwrap_or_else(|e| panic!("write: {e}"));
    let text = edit(
        BASE,
        "collector_id = 446566691",
        "access_token_file = \"credential:mp_access_token\"",
    );
    let dir = creds.path().to_path_buf();
    let env = move |name: &str| (name == "CREDENTIALS_DIRECTORY").then(|| dir.clone().into());
    let config = Config::from_toml_str_with_env(&text, Path::new("/nonexistent"), &env)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config
            .mercadopago()
            .access_token
            .as_ref()
            .map(|t| t.expose()),
        Some(TOKEN)
    );
    // Outside a unit with LoadCredential= there is no credentials directory.
    let err = load(&text).err().unwrap_or_else(|| panic!("should fail"));
    let lines: Vec<_> = err.issues().iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "mercadopago.access_token_file: credential \"mp_access_token\": \
             CREDENTIALS_DIRECTORY is not set"
        ),
        "{lines:?}"
    );
}

#[test]
fn token_without_a_numeric_tail_needs_a_collector_id() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    std::fs::write(dir.path().join("mp_token"), "opaque-token-abc")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let text = edit(
        BASE,
        "collector_id = 446566691",
        "access_token_file = \"mp_token\"",
    );
    let err = load_in(dir.path(), &text)
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    assert_eq!(
        err.issues()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "mercadopago.collector_id: not set, and the access token does not end in a numeric \
          user id (…-<digits>); set collector_id"
        ]
    );
    let text = edit(BASE, "collector_id = 446566691\n", "");
    assert_eq!(
        issues(&text),
        ["mercadopago.collector_id: missing: required when no access token is configured"]
    );
}

#[test]
fn collector_id_mismatch_never_shows_the_token() {
    let text = edit(
        BASE,
        "collector_id = 446566691",
        "collector_id = 123456\naccess_token_file = \"mp_token\"",
    );
    let run = check_config_with(&text, &[("mp_token", TOKEN)], &[]);
    assert_eq!(run.code, Some(2), "{}", run.stdout);
    assert!(
        run.stderr.lines().any(|l| l
            == "mercadopago.collector_id: collector_id 123456 does not match the user id \
                446566691 at the end of the access token"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(TOKEN) && !run.stdout.contains(TOKEN));
    assert!(!run.stderr.contains("4f0a9c1b"), "{}", run.stderr);
}

#[test]
fn token_from_the_environment() {
    let text = edit(
        BASE,
        "collector_id = 446566691",
        "access_token_env = \"FORECOURTD_TEST_MP_TOKEN\"",
    );
    let run = check_config_with(&text, &[], &[("FORECOURTD_TEST_MP_TOKEN", TOKEN)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout
            .contains("collector 446566691, access token loaded"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));

    let unset = check_config(&text);
    assert_eq!(unset.code, Some(2));
    assert!(
        unset.stderr.lines().any(|l| l
            == "mercadopago.access_token_env: environment variable FORECOURTD_TEST_MP_TOKEN is not set"),
        "{}",
        unset.stderr
    );
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let env = |name: &str| match name {
        "MP_TOKEN" => Some(OsString::from(TOKEN)),
        "MP_HOOK" => Some(OsString::from("webhook-secret-value-1")),
        _ => None,
    };
    let text = edit(
        BASE,
        "collector_id = 446566691",
        "access_token_env = \"MP_TOKEN\"\nwebhook_secret_env = \"MP_HOOK\"",
    );
    let text = format!("{text}\n[order_endpoint]\ntoken = \"0123456789abcdef0123\"\n");
    let config = Config::from_toml_str_with_env(&text, Path::new("/"), &env)
        .unwrap_or_else(|e| panic!("{e}"));
    let debug = format!("{config:?}");
    for secret in [TOKEN, "webhook-secret-value-1", "0123456789abcdef0123"] {
        assert!(!debug.contains(secret), "{secret} leaked in Debug");
    }
    assert!(debug.contains("***"));
    assert_eq!(config.mercadopago().webhook_secrets.len(), 1);
    // The order URL is the one place the endpoint token is meant to appear.
    let token = config.order_endpoint().token.as_ref();
    assert!(token.is_some_and(|t| t.matches("0123456789abcdef0123")));
}

#[test]
fn stale_limit_must_exceed_response_timeout() {
    let text = edit(
        BASE,
        "device = \"/dev/ttyUSB0\"",
        "device = \"/dev/ttyUSB0\"\nstale_limit_ms = 100\nresponse_timeout_ms = 100",
    );
    assert_rejected(
        &text,
        "lines[0].stale_limit_ms: 100 ms must be longer than response_timeout_ms (100 ms)",
    );
    let text = edit(
        BASE,
        "device = \"/dev/ttyUSB0\"",
        "device = \"/dev/ttyUSB0\"\nresponse_timeout_ms = 20",
    );
    assert_rejected(
        &text,
        "lines[0].response_timeout_ms: 20 is out of range 25..=10000",
    );
}

#[test]
fn unknown_field_is_named_with_its_path() {
    let text = edit(
        BASE,
        "position = 1",
        "position = 1\nnozles = { \"2\" = \"super\" }",
    );
    let run = check_config(&text);
    assert_eq!(run.code, Some(2));
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("lines[0].pumps[0].nozles: unknown field `nozles`"))
        .unwrap_or_else(|| panic!("no unknown-field line in:\n{}", run.stderr));
    assert!(
        line.contains("expected one of `address`, `position`"),
        "{line}"
    );

    let text = format!("{BASE}\n[statoin]\nname = \"x\"\n");
    let issues = issues(&text);
    assert!(
        issues[0].starts_with("statoin: unknown field `statoin`, expected one of `station`"),
        "{issues:?}"
    );
}

#[test]
fn toml_syntax_error_gives_line_and_column() {
    let text = edit(
        BASE,
        "position = 1",
        "position = 1\nnozzles = { \"1\" = super }",
    );
    let run = check_config(&text);
    assert_eq!(run.code, Some(2));
    let line = text
        .lines()
        .position(|l| l.contains("= super }"))
        .map(|i| i + 1)
        .unwrap_or_default();
    assert!(
        run.stderr
            .contains(&format!("TOML syntax error at line {line}, column ")),
        "{}",
        run.stderr
    );
    match load(&text) {
        Err(ConfigError::Syntax {
            line: l, column, ..
        }) => {
            assert_eq!((l, column), (line, 19));
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn unreadable_file_exits_2() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let missing = dir.path().join("nope.toml");
    let run = forecourtd(&["check-config".as_ref(), missing.as_os_str()], &[]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .starts_with(&format!("cannot read {}: ", missing.display())),
        "{}",
        run.stderr
    );
}

#[test]
fn every_error_in_a_file_is_reported() {
    let text = edit(BASE, "America/Argentina/Buenos_Aires", "Mars/Olympus");
    let text = edit(&text, "price = \"800.00\"", "price = 800.5");
    let text = edit(&text, "address = 0x50", "address = 0x4F");
    let text = edit(
        &text,
        "device = \"/dev/ttyUSB0\"",
        "device = \"/dev/ttyUSB0\"\nparity = \"mark\"\nbogus = 1",
    );
    let text = format!(
        "{text}\n[[lines]]\nname = \"b\"\ndevice = \"/dev/ttyUSB1\"\n\
         [[lines.pumps]]\naddress = 0x50\nposition = 0\nnozzles = {{ \"1\" = \"diesel\" }}\n\
         [listen]\npublic = \"127.0.0.1:9000\"\nadmin = \"127.0.0.1:9000\"\n"
    );
    let run = check_config(&text);
    assert_eq!(run.code, Some(2));
    let expected = [
        "station.time_zone: unknown time zone \"Mars/Olympus\"",
        "listen.admin: 127.0.0.1:9000 is also listen.public",
        "grades.super.price: 800.5 is a floating-point number",
        // An unknown key is dropped and reported; the rest of its line is still checked.
        "lines[0].bogus: unknown field `bogus`",
        "lines[0].parity: unknown parity \"mark\" (expected one of: \"odd\", \"even\", \"none\")",
        "lines[0].pumps[0].address: address 0x4F is out of range for dart (0x50..=0x6F)",
        "lines[1].pumps[0].position: 0 is out of range 1..=99",
        "lines[1].pumps[0].nozzles.1: unknown grade \"diesel\"",
    ];
    for prefix in expected {
        assert!(
            run.stderr.lines().any(|l| l.starts_with(prefix)),
            "missing {prefix:?} in:\n{}",
            run.stderr
        );
    }
    // Nothing else: a grade that failed is not reported again as unknown where it is used.
    assert!(
        run.stderr
            .ends_with(&format!("forecourtd.toml: {} error(s)\n", expected.len())),
        "{}",
        run.stderr
    );
}

#[test]
fn a_mistyped_key_is_reported_once_and_hides_nothing() {
    let text = edit(BASE, "position = 1", "position = \"1\"");
    let text = edit(
        &text,
        "notification_url = \"https",
        "notification_url = \"ftp",
    );
    assert_eq!(
        issues(&text),
        [
            "mercadopago.notification_url: must be an absolute http:// or https:// URL, got \
             \"ftp://station.example/mp/notifications\"",
            "lines[0].pumps[0].position: invalid type: string \"1\", expected an integer",
        ]
    );
}

#[test]
fn webhook_secret_rules() {
    let three = edit(
        BASE,
        "collector_id = 446566691",
        "collector_id = 446566691\nwebhook_secret_env = \"A\"\nwebhook_secret_envs = [\"B\", \"C\"]",
    );
    assert_eq!(
        issues(&three),
        ["mercadopago: 3 webhook secrets are configured; at most two (the current and, during a \
          rotation, the previous one) are allowed"]
    );
    let strict = edit(
        BASE,
        "collector_id = 446566691",
        "collector_id = 446566691\naccept_unsigned = false",
    );
    assert_eq!(
        issues(&strict),
        [
            "mercadopago.accept_unsigned: accept_unsigned = false needs a webhook secret; without \
          one every notification would be refused"
        ]
    );

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    std::fs::write(dir.path().join("new"), "new-secret\n").unwrap_or_else(|e| panic!("{e}"));
    let two = edit(
        BASE,
        "collector_id = 446566691",
        "collector_id = 446566691\naccept_unsigned = false\n\
         webhook_secret_files = [\"new\", \"old\"]",
    );
    let err = load_in(dir.path(), &two)
        .err()
        .unwrap_or_else(|| panic!("old is missing"));
    let found: Vec<_> = err.issues().iter().map(|i| i.path.as_str()).collect();
    assert_eq!(found, ["mercadopago.webhook_secret_files[1]"]);
    std::fs::write(dir.path().join("old"), "old-secret").unwrap_or_else(|e| panic!("{e}"));
    let config = load_in(dir.path(), &two).unwrap_or_else(|e| panic!("{e}"));
    let secrets: Vec<_> = config
        .mercadopago()
        .webhook_secrets
        .iter()
        .map(|s| s.expose().to_owned())
        .collect();
    assert_eq!(secrets, ["new-secret", "old-secret"]);
    assert!(!config.mercadopago().accept_unsigned);
}

#[test]
fn order_url_carries_path_and_token() {
    let text = edit(
        BASE,
        "collector_id = 446566691",
        "collector_id = 446566691\npublic_base_url = \"https://st.example/forecourt/\"",
    );
    let text = format!(
        "{text}\n[order_endpoint]\npath = \"/qr\"\ntoken = \"abcdefghijklmnop\"\nallowed_methods = [\"GET\"]\n"
    );
    let config = loaded(&text);
    assert_eq!(
        config.order_url(PositionId(1)).as_deref(),
        Some("https://st.example/forecourt/qr?apies=29&pos=1&token=abcdefghijklmnop")
    );
    assert_eq!(
        config.order_endpoint().allowed_methods,
        [hyper::Method::GET]
    );

    let short = text.replace("abcdefghijklmnop", "short");
    let found = issues(&short);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("order_endpoint.token: must be at least 16 characters"));
    assert!(
        !found[0].contains("short"),
        "the token is echoed: {}",
        found[0]
    );

    let bad = text.replace("/qr", "qr");
    assert!(issues(&bad)[0].starts_with("order_endpoint.path: must start with \"/\""));
    let bad = text.replace("\"https://st.example/forecourt/\"", "\"ftp://st.example\"");
    assert_eq!(
        issues(&bad),
        ["mercadopago.public_base_url: must be an absolute http:// or https:// URL, got \"ftp://st.example\""]
    );
}

#[test]
fn grade_ids_follow_key_order_around_explicit_ones() {
    let text = format!(
        "{BASE}\n[grades.agro]\nname = \"Agro\"\ncode = \"9\"\nprice = \"700\"\n\
         [grades.diesel]\nid = 1\nname = \"Diesel\"\ncode = \"3\"\nprice = \"900\"\n\
         [grades.kiosco]\nname = \"Kiosco\"\ncode = \"0\"\nunit = \"piece\"\nprice = \"1\"\n"
    );
    let config = loaded(&text);
    let ids: Vec<_> = config
        .grades()
        .iter()
        .map(|g| (g.key.as_str(), g.id))
        .collect();
    assert_eq!(
        ids,
        [
            ("diesel", GradeId(1)),
            ("agro", GradeId(2)),
            ("kiosco", GradeId(3)),
            ("super", GradeId(4)),
        ]
    );
    assert_eq!(
        config.grade(GradeId(3)).map(|g| g.unit),
        Some(GradeUnit::Piece)
    );
    assert!(config.grade(GradeId(9)).is_none());

    let dup = text.replace("[grades.kiosco]\n", "[grades.kiosco]\nid = 1\n");
    assert!(
        issues(&dup)
            .contains(&"grades.kiosco.id: id 1 is already used by grades.diesel".to_owned()),
        "{:?}",
        issues(&dup)
    );
}

#[test]
fn listeners_and_paths() {
    let text = format!(
        "{BASE}\n[listen]\nadmin = \"0.0.0.0:8081\"\n[database]\npath = \"data/journal.db\"\n"
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let config = load_in(dir.path(), &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.database().path, dir.path().join("data/journal.db"));
    let warned: Vec<_> = config.warnings().iter().map(|w| w.path.as_str()).collect();
    assert!(warned.contains(&"listen.admin"), "{warned:?}");

    // Port 0 lets the OS choose, so both listeners may ask for it (tests do).
    let text = format!("{BASE}\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n");
    loaded(&text);
    let text = format!("{BASE}\n[listen]\npublic = \"localhost:80\"\n");
    assert_eq!(
        issues(&text),
        ["listen.public: \"localhost:80\" is not a socket address such as \"127.0.0.1:8080\""]
    );
}

#[test]
fn loyalty_and_attendants() {
    let text = format!(
        "{BASE}\n[loyalty]\nprogram = \"serviclub\"\nperiod = \"00\"\n\
         [[attendants]]\nid = \"a\"\nname = \"Ana\"\ndocument_number = \"12.345.678\"\n\
         [[attendants]]\nid = \"a\"\nname = \"Otra Ana\"\n"
    );
    assert_eq!(
        issues(&text),
        [
            "loyalty.period: must be exactly 4 character(s), e.g. \"0000\"; got \"00\"",
            "attendants[0].document_number: must be 1 to 20 digits, got \"12.345.678\"",
            "attendants[1].id: id \"a\" is already used by attendants[0]",
        ]
    );
    let fixed = text
        .replace("period = \"00\"", "")
        .replace("12.345.678", "12345678")
        .replace("id = \"a\"\nname = \"Otra", "id = \"b\"\nname = \"Otra");
    let config = loaded(&fixed);
    let loyalty = config.loyalty().unwrap_or_else(|| panic!("loyalty"));
    assert_eq!(
        (
            loyalty.affinity_plan.as_str(),
            loyalty.period.as_str(),
            loyalty.shift.as_str()
        ),
        ("7", "0000", "1")
    );
    let b = config
        .attendant("b")
        .unwrap_or_else(|| panic!("attendant b"));
    assert_eq!(
        (b.document_type.as_str(), b.document_number.as_deref()),
        ("DNI", None)
    );
}

#[test]
fn missing_sections_and_lines() {
    let found = issues("");
    assert_eq!(
        found,
        [
            "station: missing section [station] (store_id, name, time_zone)",
            "mercadopago: missing section [mercadopago] (notification_url and the credentials)",
            "lines: no [[lines]] configured; at least one serial line with a pump is needed",
        ]
    );
}

#[test]
fn a_mistyped_token_source_is_not_taken_for_no_token() {
    let text = edit(BASE, "collector_id = 446566691", "access_token_file = 5");
    assert_eq!(
        issues(&text),
        ["mercadopago.access_token_file: invalid type: integer `5`, expected a string"]
    );
}

#[test]
fn config_is_shareable_and_serial_settings_convert() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Config>();

    let text = edit(
        BASE,
        "device = \"/dev/ttyUSB0\"",
        "device = \"/dev/ttyUSB0\"\nparity = \"even\"\ndata_bits = 7\nstop_bits = 2\nbaud = 19200",
    );
    let config = loaded(&text);
    let line = &config.lines()[0];
    assert_eq!(line.baud, 19_200);
    assert_eq!(
        tokio_serial::Parity::from(line.parity),
        tokio_serial::Parity::Even
    );
    assert_eq!(
        tokio_serial::DataBits::from(line.data_bits),
        tokio_serial::DataBits::Seven
    );
    assert_eq!(
        tokio_serial::StopBits::from(line.stop_bits),
        tokio_serial::StopBits::Two
    );
    let text = edit(
        BASE,
        "device = \"/dev/ttyUSB0\"",
        "device = \"/dev/ttyUSB0\"\nbaud = 9601",
    );
    assert!(issues(&text)[0].starts_with("lines[0].baud: 9601 is not a standard rate"));
}

/// `BASE` with its line speaking Gilbarco two-wire, pump 16, prices in whole pesos.
fn gilbarco(extra: &str) -> String {
    let text = edit(BASE, "price = \"800.00\"", "price = \"800\"");
    let text = edit(
        &text,
        "device = \"/dev/ttyUSB0\"",
        &format!("device = \"/dev/ttyUSB0\"\nprotocol = \"gilbarco\"{extra}"),
    );
    edit(
        &text,
        "address = 0x50\nposition = 1",
        "address = 16\nposition = 1\ndecimals = { volume = 3, amount = 2, price = 0 }",
    )
}

#[test]
fn gilbarco_line_defaults_limits_and_master() {
    let config = loaded(&gilbarco(""));
    let line = &config.lines()[0];
    assert_eq!(line.protocol, Protocol::Gilbarco);
    assert_eq!((line.baud, line.parity), (5787, Parity::Even));
    assert_eq!(line.response_timeout.as_millis(), 70);
    assert_eq!((line.echo, line.digits), (false, DigitMode::Six));
    assert_eq!(line.pumps[0].address, BusAddress(16));
    let master = forecourtd::protocols::build_master(line)
        .unwrap_or_else(|e| panic!("a gilbarco master: {e}"));
    assert_eq!(master.pumps(), vec![BusAddress(16)]);

    let loaded_8 = loaded(&gilbarco("\necho = true\ndigits = 8"));
    assert_eq!(loaded_8.lines()[0].digits, DigitMode::Eight);
    assert!(loaded_8.lines()[0].echo);

    for (address, shown) in [("0", "0"), ("17", "17"), ("0x50", "80")] {
        let text = edit(
            &gilbarco(""),
            "address = 16",
            &format!("address = {address}"),
        );
        assert_rejected(
            &text,
            &format!(
                "lines[0].pumps[0].address: address {shown} is out of range for gilbarco (1..=16)"
            ),
        );
    }
    let text = edit(
        &gilbarco(""),
        "{ \"1\" = \"super\" }",
        "{ \"11\" = \"super\" }",
    );
    assert_rejected(
        &text,
        "lines[0].pumps[0].nozzles.11: nozzle \"11\" must be a number from 1 to 10",
    );
    // 800.00 at two price decimals needs 5 digits: only 8-digit mode carries it.
    let cents = edit(&gilbarco(""), "price = 0 }", "price = 2 }");
    assert_rejected(
        &cents,
        "lines[0].pumps[0].nozzles.1: price 800 of grade \"super\" cannot be programmed \
         into this pump (2 price decimals, 4 digits): 800 does not fit in 4 digits with 2 \
         decimals",
    );
    let wide = edit(
        &cents,
        "protocol = \"gilbarco\"",
        "protocol = \"gilbarco\"\ndigits = 8",
    );
    assert_eq!(loaded(&wide).lines()[0].digits, DigitMode::Eight);

    let text = edit(
        BASE,
        "device = \"/dev/ttyUSB0\"",
        "device = \"/dev/ttyUSB0\"\necho = true",
    );
    assert_rejected(&text, "lines[0].echo: echo applies to gilbarco lines only");
    let text = edit(
        BASE,
        "device = \"/dev/ttyUSB0\"",
        "device = \"/dev/ttyUSB0\"\nbaud = 5787",
    );
    assert!(issues(&text)
        .iter()
        .any(|i| i.starts_with("lines[0].baud: 5787 is not a standard rate")));
    assert!(
        issues(&gilbarco("\ndigits = 7")).contains(&"lines[0].digits: 7 is not 6 or 8".to_owned())
    );
}

#[test]
fn a_station_with_dart_and_gilbarco_lines() {
    let text = format!(
        "{}\n[[lines]]\nname = \"b\"\ndevice = \"/dev/ttyUSB1\"\n\
         [[lines.pumps]]\naddress = 0x50\nposition = 2\nnozzles = {{ \"1\" = \"super\" }}\n",
        gilbarco("")
    );
    let config = loaded(&text);
    let protocols: Vec<_> = config.lines().iter().map(|l| l.protocol).collect();
    assert_eq!(protocols, [Protocol::Gilbarco, Protocol::Dart]);
    for line in config.lines() {
        forecourtd::protocols::build_master(line).unwrap_or_else(|e| panic!("{}: {e}", line.name));
    }
}

#[test]
fn the_chain_uplink_is_off_by_default_and_checked_when_configured() {
    assert!(
        loaded(EXAMPLE).chain().is_none(),
        "off unless [chain] is given"
    );
    let on = loaded(&format!(
        "{EXAMPLE}\n[chain]\nnats_url = \"tls://hq.example.invalid:4222\"\n"
    ));
    let chain = on.chain().expect("configured");
    assert_eq!(
        chain.store,
        on.station().store_id,
        "the store id by default"
    );
    assert_eq!(chain.stream, "FORECOURT");
    assert!(chain.tls_required, "a tls:// URL requires TLS");
    let off = loaded(&format!(
        "{EXAMPLE}\n[chain]\nnats_url = \"nats://hq:4222\"\nenabled = false\n"
    ));
    assert!(off.chain().is_none());

    let bad = issues(&format!(
        "{EXAMPLE}\n[chain]\nnats_url = \"http://hq\"\nstore = \"a.b\"\n"
    ));
    assert!(
        bad.iter().any(|i| i.starts_with("chain.nats_url:")),
        "{bad:?}"
    );
    let bad = issues(&format!(
        "{EXAMPLE}\n[chain]\nnats_url = \"nats://hq:4222\"\nstore = \"a.b\"\n"
    ));
    assert!(bad.iter().any(|i| i.starts_with("chain.store:")), "{bad:?}");
    let missing = issues(&format!("{EXAMPLE}\n[chain]\nstore = \"S1\"\n"));
    assert!(
        missing.iter().any(|i| i.starts_with("chain.nats_url:")),
        "{missing:?}"
    );
}

#[test]
fn central_price_plans_need_a_public_nkey_and_token_groups() {
    let key = nkeys::KeyPair::new_account().public_key();
    let on = loaded(&format!(
        "{EXAMPLE}\n[chain]\nnats_url = \"nats://hq:4222\"\nhq_public_key = \"{key}\"\n\
         groups = [\"north\"]\n"
    ));
    let chain = on.chain().expect("configured");
    assert_eq!(chain.hq_public_key.as_deref(), Some(key.as_str()));
    assert_eq!(chain.groups, ["north"]);
    let plain = loaded(&format!(
        "{EXAMPLE}\n[chain]\nnats_url = \"nats://hq:4222\"\n"
    ));
    assert_eq!(plain.chain().expect("configured").hq_public_key, None);
    let bad = issues(&format!(
        "{EXAMPLE}\n[chain]\nnats_url = \"nats://hq:4222\"\nhq_public_key = \"ABC\"\n"
    ));
    assert!(
        bad.iter().any(|i| i.starts_with("chain.hq_public_key:")),
        "{bad:?}"
    );
    let bad = issues(&format!(
        "{EXAMPLE}\n[chain]\nnats_url = \"nats://hq:4222\"\ngroups = [\"a.b\"]\n"
    ));
    assert!(
        bad.iter().any(|i| i.starts_with("chain.groups:")),
        "{bad:?}"
    );
}

#[test]
fn the_uplink_takes_one_way_of_authenticating_and_an_alert_threshold() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("write: {e}"));
    };
    write(
        "seed",
        "SUAKYRHVIOREXV7EUZTBHUHL7NUMHPMAS7QMDU3GTIUWEI5LDNOXD43IZY\n",
    );
    write("password", "s3cret\n");
    let chain = |keys: &str| format!("{EXAMPLE}\n[chain]\nnats_url = \"tls://hq:4222\"\n{keys}");
    let config = load_in(dir.path(), &chain("nkey_seed_file = \"seed\"\n"))
        .unwrap_or_else(|e| panic!("valid: {e}"));
    let c = config.chain().expect("configured");
    assert!(c
        .nkey_seed
        .as_ref()
        .is_some_and(|s| s.expose().starts_with("SU")));
    assert_eq!(c.backlog_alert_after, std::time::Duration::from_secs(900));
    let config = load_in(
        dir.path(),
        &chain("user = \"s29\"\npassword_file = \"password\"\nbacklog_alert_after_secs = 120\n"),
    )
    .unwrap_or_else(|e| panic!("valid: {e}"));
    let c = config.chain().expect("configured");
    let (user, password) = c.user_password.as_ref().expect("user and password");
    assert_eq!((user.as_str(), password.expose()), ("s29", "s3cret"));
    assert_eq!(c.backlog_alert_after, std::time::Duration::from_secs(120));

    let refused = |keys: &str| match load_in(dir.path(), &chain(keys)) {
        Ok(_) => panic!("{keys} should be refused"),
        Err(e) => e
            .issues()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
    };
    let two = refused("nkey_seed_file = \"seed\"\ncredentials_file = \"x.creds\"\n");
    assert!(two.iter().any(|i| i.contains("set only one")), "{two:?}");
    let half = refused("user = \"s29\"\n");
    assert!(
        half.iter().any(|i| i.starts_with("chain.password_file:")),
        "{half:?}"
    );
    let not_a_seed = refused("nkey_seed_file = \"password\"\n");
    assert!(
        not_a_seed
            .iter()
            .any(|i| i.starts_with("chain.nkey_seed_file:")),
        "{not_a_seed:?}"
    );
    let soon = refused("backlog_alert_after_secs = 5\n");
    assert!(
        soon.iter()
            .any(|i| i.starts_with("chain.backlog_alert_after_secs:")),
        "{soon:?}"
    );
}

#[test]
fn a_line_capture_is_validated_and_its_relative_path_starts_at_the_config_directory() {
    let config = loaded(&gilbarco("\ncapture = { path = \"captures/line1.cap\" }"));
    let capture = config.lines()[0]
        .capture
        .clone()
        .expect("capture configured");
    assert!(capture.path.is_absolute(), "{}", capture.path.display());
    assert!(capture.path.ends_with("captures/line1.cap"));
    assert_eq!(
        (capture.max_bytes, capture.keep),
        (
            forecourtd::config::CaptureSettings::DEFAULT_MAX_BYTES,
            forecourtd::config::CaptureSettings::DEFAULT_KEEP
        )
    );
    assert_eq!(loaded(&gilbarco("")).lines()[0].capture, None);

    let found = issues(&gilbarco(
        "\ncapture = { path = \"\", max_bytes = 100, keep = 101 }",
    ));
    for expected in [
        "lines[0].capture.path: must not be empty",
        "lines[0].capture.max_bytes",
        "lines[0].capture.keep",
    ] {
        assert!(
            found.iter().any(|i| i.starts_with(expected)),
            "{expected} not in {found:?}"
        );
    }
    let found = issues(&gilbarco("\ncapture = { path = \"x\", size = 1 }"));
    assert!(
        found
            .iter()
            .any(|i| i.contains("capture") && i.contains("size")),
        "{found:?}"
    );
}
