//! `driftwatch ledger verify|export`.

use std::path::Path;

use super::{Exit, write_output};
use crate::config::Config;
use crate::store::ledger::export_line;

pub fn verify(cfg: Config) -> anyhow::Result<Exit> {
    let db = crate::daemon::open_existing_store(&cfg)?;
    let r = db.verify_ledger()?;
    let mut exit = Exit::Ok;
    if r.ok() {
        println!(
            "ledger OK: {} entries, head hash {}",
            r.entries, r.head_hash
        );
    } else {
        for p in &r.problems {
            println!("{p}");
        }
        println!(
            "ledger FAILED verification: {} problem(s) in {} entries",
            r.problems.len(),
            r.entries
        );
        exit = Exit::Findings;
    }
    // Cycles trust the stored hashes of unchanged resources; this is where every row is
    // checked.
    let (rows, problems) = db.verify_snapshots()?;
    if problems.is_empty() {
        println!("stored state OK: {rows} resources match their hashes");
    } else {
        for p in &problems {
            println!("{p}");
        }
        println!(
            "stored state FAILED verification: {} of {rows} resources do not match their hashes",
            problems.len()
        );
        exit = Exit::Findings;
    }
    Ok(exit)
}

pub fn export(cfg: Config, output: Option<&Path>) -> anyhow::Result<Exit> {
    let db = crate::daemon::open_existing_store(&cfg)?;
    let mut text = String::new();
    for e in db.ledger_entries()? {
        text.push_str(&export_line(&e)?);
        text.push('\n');
    }
    write_output(output, &text)?;
    Ok(Exit::Ok)
}
