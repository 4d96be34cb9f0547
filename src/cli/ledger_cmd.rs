//! `driftwatch ledger verify|export`.

use std::path::Path;

use super::{Exit, write_output};
use crate::config::Config;
use crate::store::Db;
use crate::store::ledger::export_line;

pub fn verify(cfg: Config) -> anyhow::Result<Exit> {
    let db = Db::open_existing(&cfg.database_path())?;
    let r = db.verify_ledger()?;
    if r.ok() {
        println!(
            "ledger OK: {} entries, head hash {}",
            r.entries, r.head_hash
        );
        Ok(Exit::Ok)
    } else {
        for p in &r.problems {
            println!("{p}");
        }
        println!(
            "ledger FAILED verification: {} problem(s) in {} entries",
            r.problems.len(),
            r.entries
        );
        Ok(Exit::Findings)
    }
}

pub fn export(cfg: Config, output: Option<&Path>) -> anyhow::Result<Exit> {
    let db = Db::open_existing(&cfg.database_path())?;
    let mut text = String::new();
    for e in db.ledger_entries()? {
        text.push_str(&export_line(&e)?);
        text.push('\n');
    }
    write_output(output, &text)?;
    Ok(Exit::Ok)
}
