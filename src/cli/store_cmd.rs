//! `driftwatch store migrate`: move the embedded SQLite store to PostgreSQL.

use std::path::Path;

use anyhow::Context;

use super::Exit;
use crate::config::{Config, SecretRef, check_store_url};
use crate::store::Db;

pub fn migrate(
    cfg: Config,
    to: &str,
    password_env: Option<&str>,
    password_file: Option<&Path>,
    ca_file: Option<&Path>,
) -> anyhow::Result<Exit> {
    if let Some(s) = &cfg.store {
        anyhow::bail!(
            "the config's store is already PostgreSQL ({}); `store migrate` copies the SQLite store in state_dir",
            s.url
        );
    }
    check_store_url(to).map_err(|m| anyhow::anyhow!("--to {to}: {m}"))?;
    let password = SecretRef::optional(
        "password",
        None,
        password_env.map(str::to_string),
        password_file.map(Path::to_path_buf),
    )
    .map(|s| s.resolve())
    .transpose()
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    // A daemon writing the SQLite store while it is copied would leave the copy behind.
    let _lock = crate::daemon::lock_state_dir(&cfg.state_dir)?;
    let source = Db::open_existing(&cfg.database_path())?;
    let mut target = Db::connect_tls(to, password.as_ref().map(|p| p.expose()), ca_file)?;
    eprintln!(
        "copying {} into {to} (one transaction)",
        cfg.database_path().display()
    );
    let report = source
        .migrate_into(&mut target, |t| {
            eprintln!("  {:<18} {:>9} rows", t.table, t.rows);
        })
        .context("migration failed; the PostgreSQL store was left as it was")?;
    let rows: u64 = report.tables.iter().map(|t| t.rows).sum();
    println!(
        "copied {rows} rows in {} tables from {} to {to}",
        report.tables.len(),
        cfg.database_path().display()
    );
    println!(
        "ledger: SQLite {} entries, head {}; PostgreSQL {} entries, head {}",
        report.source.entries,
        short(&report.source.head_hash),
        report.target.entries,
        short(&report.target.head_hash)
    );
    if !report.ok() {
        for p in report.source.problems.iter() {
            println!("  SQLite ledger: {p}");
        }
        for p in report.target.problems.iter() {
            println!("  PostgreSQL ledger: {p}");
        }
        println!("the ledgers do not verify or do not agree: keep running on SQLite");
        return Ok(Exit::Findings);
    }
    println!("both ledgers verify and agree. To switch, add to the config and restart:");
    println!("  [store]\n  url = \"{to}\"");
    match (password_env, password_file) {
        (Some(v), _) => println!("  password_env = \"{v}\""),
        (None, Some(f)) => println!("  password_file = \"{}\"", f.display()),
        (None, None) => {}
    }
    if let Some(f) = ca_file {
        println!("  ca_file = \"{}\"", f.display());
    }
    Ok(Exit::Ok)
}

fn short(hash: &str) -> &str {
    hash.get(..16).unwrap_or(hash)
}
