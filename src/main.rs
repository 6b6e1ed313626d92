//! The `forecourtd` command line: thin glue over the library.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use forecourtd::config::{Config, ConfigError, EXAMPLE};

/// Exit status for a configuration that cannot be used (unreadable, bad TOML, invalid).
const EXIT_BAD_CONFIG: u8 = 2;

/// Forecourt controller daemon: pump lines, live dispatch state, Mercado Pago integrated QR.
#[derive(Debug, Parser)]
#[command(name = "forecourtd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a configuration file and report every problem with its key path.
    CheckConfig {
        /// The configuration file (TOML).
        file: PathBuf,
    },
    /// Print an example configuration documenting every option.
    ExampleConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::ExampleConfig => {
            print!("{EXAMPLE}");
            ExitCode::SUCCESS
        }
    }
}

/// Prints `FILE: OK`, the summary and any warnings; or every error, one per line.
fn check_config(file: &Path) -> ExitCode {
    let shown = file.display();
    match Config::load(file) {
        Ok(config) => {
            println!("{shown}: OK");
            println!("{}", config.summary());
            for warning in config.warnings() {
                println!("warning: {warning}");
            }
            ExitCode::SUCCESS
        }
        Err(ConfigError::Invalid(issues)) => {
            for issue in &issues {
                eprintln!("{issue}");
            }
            eprintln!("{shown}: {} error(s)", issues.len());
            ExitCode::from(EXIT_BAD_CONFIG)
        }
        // The message names the file already.
        Err(e @ ConfigError::Read { .. }) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_BAD_CONFIG)
        }
        Err(e @ ConfigError::Syntax { .. }) => {
            eprintln!("{shown}: {e}");
            ExitCode::from(EXIT_BAD_CONFIG)
        }
    }
}
