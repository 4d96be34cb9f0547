//! Thin entry point: parse the command line, set up logging, run, map the result to an exit
//! code (0 ok, 1 findings, 2 error).

use std::io::IsTerminal;
use std::sync::Arc;

use clap::Parser;
use driftwatch::cli::{Cli, Exit, LogFormat, SetLogLevel};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, fmt, reload};

/// mimalloc rather than the system allocator: a poll allocates many small strings and JSON
/// nodes, and mimalloc spends less CPU and keeps less memory for them (README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // DRIFTWATCH_LOG wins; otherwise the config's log_level is applied once it is loaded.
    let from_env = std::env::var("DRIFTWATCH_LOG").ok();
    let initial = match from_env.as_deref().map(EnvFilter::try_new) {
        Some(Ok(f)) => f,
        Some(Err(e)) => {
            eprintln!("warning: DRIFTWATCH_LOG is not a log filter ({e}); using info");
            EnvFilter::new("info")
        }
        None => EnvFilter::new("info"),
    };
    let (filter, handle) = reload::Layer::new(initial);
    let registry = tracing_subscriber::registry().with(filter);
    // Colours only on a terminal: never escape codes in the journal or a log file.
    let ansi = std::io::stderr().is_terminal();
    match cli.log_format {
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .init(),
        LogFormat::Text => registry
            .with(fmt::layer().with_ansi(ansi).with_writer(std::io::stderr))
            .init(),
    }
    let set_level: Option<SetLogLevel> = if from_env.is_some() {
        None
    } else {
        Some(Arc::new(move |level: &str| {
            let f = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
            handle.reload(f).map_err(|e| e.to_string())
        }))
    };
    // The daemon gets a worker pool; one-shot commands (scan, report, ...) do their IO
    // concurrently on one thread, which costs less CPU and memory than a pool.
    let runtime = if matches!(cli.command, driftwatch::cli::Command::Run) {
        tokio::runtime::Runtime::new()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(Exit::Error as u8);
        }
    };
    let code = match runtime.block_on(driftwatch::cli::run(cli, set_level)) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("error: {e:#}");
            Exit::Error
        }
    };
    std::process::ExitCode::from(code as u8)
}
