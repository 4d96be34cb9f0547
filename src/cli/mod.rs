//! Command-line interface: clap definitions and one module per subcommand. Each subcommand
//! returns an [`Exit`] code; `main` maps errors to exit code 2.

mod break_glass_cmd;
mod config_cmd;
mod ledger_cmd;
mod obligations_cmd;
mod outbox_cmd;
mod records_cmd;
mod report_cmd;
mod run_cmd;
mod scan_cmd;
mod store_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success; for `scan`, nothing unplanned.
    Ok = 0,
    /// `scan` found unmatched or violating changes; `records check`, `config check` or
    /// `ledger verify` found problems.
    Findings = 1,
    /// An error stopped the command (bad config, unreachable store, failed source in `scan`).
    Error = 2,
}

#[derive(Debug, Parser)]
#[command(
    name = "driftwatch",
    version,
    about = "Watch cloud security configuration, match every change to an approved change record, alert on what nobody planned.",
    after_help = "Exit codes: 0 ok, 1 unmatched drift (scan) or problems found (checks), 2 error.\n\nExamples:\n  driftwatch --config /etc/driftwatch/driftwatch.toml run\n  driftwatch -c config/driftwatch.example.toml scan\n  driftwatch records check config/changes\n  driftwatch report --since 30d --format markdown -o report.md"
)]
pub struct Cli {
    /// Config file (TOML).
    #[arg(
        short,
        long,
        global = true,
        env = "DRIFTWATCH_CONFIG",
        default_value = "/etc/driftwatch/driftwatch.toml"
    )]
    pub config: PathBuf,
    /// Override the config's state_dir (where the database lives).
    #[arg(long, global = true, env = "DRIFTWATCH_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "DRIFTWATCH_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll every `interval_secs`, alert, until SIGTERM or SIGINT.
    #[command(
        after_help = "The first cycle of a new scope records its baseline and alerts on nothing; pre-existing exposure is listed.\nSIGTERM or SIGINT finishes the cycle in flight, drains the outbox and exits 0.\n\nExamples:\n  driftwatch --config /etc/driftwatch/driftwatch.toml run\n  DRIFTWATCH_LOG_FORMAT=json driftwatch run"
    )]
    Run,
    /// One poll cycle; print a summary table. Exit 0 nothing unplanned, 1 unplanned changes, 2 error.
    #[command(
        after_help = "Examples:\n  driftwatch -c config/driftwatch.example.toml scan\n  driftwatch scan --format json | jq .scopes"
    )]
    Scan {
        #[arg(long, value_enum, default_value = "table")]
        format: ScanFormat,
    },
    /// Change records.
    #[command(subcommand)]
    Records(RecordsCommand),
    /// Write the period report (matched versus unmatched changes, coverage, ledger integrity).
    #[command(
        after_help = "Times are RFC 3339 (2026-06-01T00:00:00Z), a date (2026-06-01, UTC midnight) or an age (180d, 12h).\n\nExamples:\n  driftwatch report --since 2026-06-01 --until 2026-11-30 --format html -o report.html\n  driftwatch report --since 180d --format xlsx -o report.xlsx\n  driftwatch report --since 30d --format csv -o changes.csv\n  driftwatch report --since 180d --format json"
    )]
    Report {
        #[arg(long)]
        since: String,
        /// Exclusive end. Default: now (inclusive).
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_enum, default_value = "markdown")]
        format: ReportFormat,
        /// Output file; default stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// The hash-chained ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// The alert outbox: what is still undelivered or was given up, and re-queueing it.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The state store: move the embedded SQLite store to PostgreSQL.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Open obligations: retrospectives owed, temporary changes to undo, break-glass sessions.
    #[command(
        after_help = "Exit 0 when nothing is overdue, 1 when something is.\n\nExamples:\n  driftwatch obligations\n  driftwatch obligations --format json | jq '.[] | select(.overdue)'"
    )]
    Obligations {
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// Drifts: open ones (default), all recent ones, or one in full with its diff.
    #[command(
        after_help = "Examples:\n  driftwatch drifts\n  driftwatch drifts --all --format json\n  driftwatch drifts show d-7f3a9c2e"
    )]
    Drifts {
        #[command(subcommand)]
        show: Option<DriftsCommand>,
        /// Every recent drift, closed ones too.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// Break-glass sessions: an emergency record in the records directory.
    #[command(subcommand)]
    BreakGlass(BreakGlassCommand),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  driftwatch completions bash > /etc/bash_completion.d/driftwatch\n  driftwatch completions zsh > \"${fpath[1]}/_driftwatch\""
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(after_help = "Example:\n  driftwatch man > /usr/local/share/man/man1/driftwatch.1")]
    Man,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum DriftsCommand {
    /// One drift in full: decision, reason, findings, field diff, alerts sent.
    Show { id: String },
}

#[derive(Debug, Subcommand)]
pub enum BreakGlassCommand {
    /// Open a session: writes an emergency record (validated) into the records directory.
    #[command(
        after_help = "Changes inside the session's scope and window match provisionally. A retrospective record\nnaming the session id in `retrospective_for` is owed within the deadline; past its end an open\nsession alerts until closed.\n\nExamples:\n  driftwatch break-glass open --reason \"INC-4711: inference API down\" --duration 2h --by alice@example.com\n  driftwatch break-glass open --reason \"rotate keys\" --duration 30m --by bob@example.com \\\n      --scope provider=aws,account=123456789012,kind=aws.iam.access_key"
    )]
    Open {
        /// Why (becomes the record's purpose).
        #[arg(long)]
        reason: String,
        /// How long: 30m, 2h, 1d (at most 7d).
        #[arg(long)]
        duration: String,
        /// Who opens it (the requester).
        #[arg(long)]
        by: String,
        /// Repeatable: provider=aws,account=...,region=...,kind=...,target=... (default: all of AWS).
        #[arg(long)]
        scope: Vec<String>,
        /// Blast radius (becomes the record's impact).
        #[arg(long)]
        impact: Option<String>,
        /// Session id (default BG-YYYYMMDD-HHMMSS).
        #[arg(long)]
        id: Option<String>,
    },
    /// Close a session: sets closed_at (and ends its window now if it was planned longer).
    #[command(after_help = "Example:\n  driftwatch break-glass close BG-20261129-093000")]
    Close { id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScanFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Json,
    Markdown,
    Html,
    Xlsx,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum RecordsCommand {
    /// Validate every record file in a directory; one `file:line: field: message` per problem.
    /// With --sources, also read every GitHub, Jira and Linear source in the config once and
    /// list the records imported and the tickets rejected.
    #[command(
        after_help = "Exit 0 when every file and ticket is valid, 1 when any is not, 2 when the directory cannot be read or a source cannot be reached.\nBot-account patterns come from the config when --config names a readable file.\n\nExamples:\n  driftwatch records check config/changes\n  driftwatch records check --format json changes/ | jq '.errors[]'\n  driftwatch -c /etc/driftwatch/driftwatch.toml records check --sources"
    )]
    Check {
        /// The records directory (default with --sources: the config's records.dir).
        #[arg(required_unless_present = "sources")]
        dir: Option<PathBuf>,
        /// Also read the ticket systems configured under [records] (needs --config).
        #[arg(long)]
        sources: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Recompute the hash chain; report every edited, removed or reordered entry.
    #[command(
        after_help = "Exit 0 when the chain is intact, 1 when it is not.\n\nExample:\n  driftwatch -c /etc/driftwatch/driftwatch.toml ledger verify"
    )]
    Verify,
    /// Write the ledger as JSON lines (entry, body, prev_hash, hash) for independent checking.
    #[command(
        after_help = "Example:\n  driftwatch ledger export -o ledger.jsonl   # then re-verify with the script in ARCHITECTURE.md"
    )]
    Export {
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Alerts not delivered yet, and those given up (add --all for delivered ones too).
    #[command(
        after_help = "Exit 0 when nothing was given up, 1 when something was.\n\nExample:\n  driftwatch outbox list --format json | jq '.[] | select(.state == \"abandoned\")'"
    )]
    List {
        /// Delivered rows too.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// Put given-up alerts back in the queue (all, one sink's, or the listed ids); a running
    /// daemon delivers them within seconds, or the next `scan` does.
    #[command(
        after_help = "Delivered alerts are never re-sent.\n\nExamples:\n  driftwatch outbox retry --sink pagerduty\n  driftwatch outbox retry --id 41 --id 42"
    )]
    Retry {
        #[arg(long)]
        sink: Option<String>,
        #[arg(long = "id")]
        ids: Vec<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the SQLite store (state, ledger, outbox, drifts) into an empty PostgreSQL
    /// database, in one transaction, and verify the ledger on both sides.
    #[command(
        after_help = "Stop the daemon first (the state directory's lock is taken). The password is never part of the URL.\nExit 0 when both ledgers verify and agree, 1 when they do not, 2 on an error (nothing is left half-copied).\n\nExample:\n  driftwatch store migrate --to postgres://driftwatch@db:5432/driftwatch --password-file /run/secrets/pg"
    )]
    Migrate {
        /// The PostgreSQL store: postgres://USER@HOST:PORT/DATABASE (no password in it).
        #[arg(long)]
        to: String,
        /// Read the password from this environment variable.
        #[arg(long, conflicts_with = "password_file")]
        password_env: Option<String>,
        /// Read the password from this file (its first line).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// PEM CA certificates to verify the server with (default: the system's roots).
        #[arg(long)]
        ca_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Parse and validate the config; print every problem with its field path.
    #[command(
        after_help = "Secrets are shown as <redacted>.\n\nExample:\n  driftwatch -c config/driftwatch.example.toml config check"
    )]
    Check,
}

/// Sets the log filter from the config's `log_level` (absent when DRIFTWATCH_LOG is set).
pub type SetLogLevel = std::sync::Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// How a config is loaded: its path and the command-line overrides.
#[derive(Clone)]
pub struct Loader {
    pub path: PathBuf,
    pub state_dir: Option<PathBuf>,
    pub set_level: Option<SetLogLevel>,
}

impl Loader {
    pub fn load(&self) -> Result<crate::config::Config, crate::config::ConfigError> {
        let mut cfg = crate::config::Config::load(&self.path)?;
        if let Some(d) = &self.state_dir {
            cfg.state_dir = d.clone();
        }
        if let (Some(set), Some(level)) = (&self.set_level, &cfg.log_level)
            && let Err(e) = set(level)
        {
            tracing::warn!(log_level = %level, error = %e, "cannot apply log_level");
        }
        Ok(cfg)
    }
}

/// Run the parsed command.
pub async fn run(cli: Cli, set_level: Option<SetLogLevel>) -> anyhow::Result<Exit> {
    let loader = Loader {
        path: cli.config.clone(),
        state_dir: cli.state_dir.clone(),
        set_level,
    };
    match &cli.command {
        Command::Run => run_cmd::run(loader.clone(), loader.load()?).await,
        Command::Scan { format } => scan_cmd::run(loader.load()?, *format).await,
        Command::Records(RecordsCommand::Check {
            dir,
            sources: false,
            format,
        }) => match dir {
            Some(dir) => records_cmd::check(loader.load().ok(), dir, *format),
            None => anyhow::bail!("name a records directory, or use --sources"),
        },
        Command::Records(RecordsCommand::Check {
            dir,
            sources: true,
            format,
        }) => records_cmd::check_sources(loader.load()?, dir.as_deref(), *format).await,
        Command::Report {
            since,
            until,
            format,
            output,
        } => report_cmd::run(
            loader.load()?,
            since,
            until.as_deref(),
            *format,
            output.as_deref(),
        ),
        Command::Ledger(LedgerCommand::Verify) => ledger_cmd::verify(loader.load()?),
        Command::Ledger(LedgerCommand::Export { output }) => {
            ledger_cmd::export(loader.load()?, output.as_deref())
        }
        Command::Outbox(OutboxCommand::List { all, format }) => {
            outbox_cmd::list(loader.load()?, *all, *format)
        }
        Command::Outbox(OutboxCommand::Retry { sink, ids }) => {
            outbox_cmd::retry(loader.load()?, sink.as_deref(), ids, crate::clock::now())
        }
        Command::Store(StoreCommand::Migrate {
            to,
            password_env,
            password_file,
            ca_file,
        }) => store_cmd::migrate(
            loader.load()?,
            to,
            password_env.as_deref(),
            password_file.as_deref(),
            ca_file.as_deref(),
        ),
        Command::Config(ConfigCommand::Check) => config_cmd::check(&cli.config, loader.load()),
        Command::Obligations { format } => {
            obligations_cmd::obligations(loader.load()?, *format, crate::clock::now())
        }
        Command::Drifts {
            show: Some(DriftsCommand::Show { id }),
            ..
        } => obligations_cmd::show(loader.load()?, id),
        Command::Drifts {
            show: None,
            all,
            format,
        } => obligations_cmd::drifts(loader.load()?, *all, *format),
        Command::BreakGlass(BreakGlassCommand::Open {
            reason,
            duration,
            by,
            scope,
            impact,
            id,
        }) => break_glass_cmd::open(
            loader.load()?,
            reason,
            duration,
            by,
            scope,
            impact.as_deref(),
            id.as_deref(),
            crate::clock::now(),
        ),
        Command::BreakGlass(BreakGlassCommand::Close { id }) => {
            break_glass_cmd::close(loader.load()?, id, crate::clock::now())
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "driftwatch", &mut out);
            write_output(None, &String::from_utf8_lossy(&out))?;
            Ok(Exit::Ok)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            write_output(None, &String::from_utf8_lossy(&out))?;
            Ok(Exit::Ok)
        }
    }
}

/// Write to a file or stdout.
fn write_output(path: Option<&std::path::Path>, text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    match path {
        Some(p) => std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display())),
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(())
        }
    }
}
