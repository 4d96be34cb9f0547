//! `driftwatch break-glass open|close`: an emergency record written into the records
//! directory (validated like any other), and closed by setting `closed_at`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use jiff::{SignedDuration, Timestamp};

use super::Exit;
use crate::config::Config;
use crate::model::record::{RecordOrigin, ScopeEntry, Window};
use crate::model::{ChangeRecord, Kind, Provider, RecordType};
use crate::records::{parse_file, render::render};

/// `2h`, `90m`, `1d`, `45s`.
pub fn parse_duration(s: &str) -> anyhow::Result<SignedDuration> {
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num
        .parse()
        .with_context(|| format!("`{s}` is not a duration: use 2h, 90m, 1d or 45s"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("`{s}` is not a duration: use 2h, 90m, 1d or 45s"),
    };
    if secs <= 0 || secs > 7 * 86_400 {
        bail!("--duration must be between 1s and 7d (a break-glass session is short)");
    }
    Ok(SignedDuration::from_secs(secs))
}

/// `provider=aws,account=123456789012,region=eu-west-1,kind=aws.ec2.security_group_rule,target=sg-*`
pub fn parse_scope(s: &str) -> anyhow::Result<ScopeEntry> {
    let mut e = ScopeEntry {
        provider: Provider::Aws,
        account: None,
        region: None,
        cluster: None,
        kind: None,
        target: None,
        actions: Vec::new(),
        matches: Vec::new(),
        planned: None,
    };
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .with_context(|| format!("--scope `{part}`: expected key=value"))?;
        match k {
            "provider" => {
                e.provider = match v {
                    "aws" => Provider::Aws,
                    "kubernetes" => Provider::Kubernetes,
                    _ => bail!("--scope provider `{v}`: aws or kubernetes"),
                }
            }
            "account" => e.account = Some(v.to_string()),
            "region" => e.region = Some(v.to_string()),
            "cluster" => e.cluster = Some(v.to_string()),
            "kind" => {
                e.kind = Some(
                    v.parse::<Kind>()
                        .map_err(|x| anyhow::anyhow!("--scope kind: {x}"))?,
                )
            }
            "target" => e.target = Some(v.to_string()),
            _ => bail!("--scope key `{k}`: use provider, account, region, cluster, kind, target"),
        }
    }
    Ok(e)
}

fn file_for(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("break-glass-{}.yaml", id.to_ascii_lowercase()))
}

/// Validate and write atomically (a temporary file renamed over the target).
fn write_record(cfg: &Config, path: &Path, r: &ChangeRecord) -> anyhow::Result<()> {
    let text = format!(
        "# Break-glass session written by `driftwatch break-glass`. A retrospective record with\n# `retrospective_for: [{}]` is owed within the deadline of its start.\n{}",
        r.id,
        render(r)
    );
    let name = path.display().to_string();
    if let Err(errs) = parse_file(&name, &text, &cfg.records.validation()) {
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        bail!("the session record would be invalid:\n{}", msgs.join("\n"));
    }
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn open(
    cfg: Config,
    reason: &str,
    duration: &str,
    by: &str,
    scopes: &[String],
    impact: Option<&str>,
    id: Option<&str>,
    now: Timestamp,
) -> anyhow::Result<Exit> {
    let duration = parse_duration(duration)?;
    let dir = &cfg.records.dir;
    if !dir.is_dir() {
        bail!("records directory {} does not exist", dir.display());
    }
    let id = match id {
        Some(i) => i.to_string(),
        None => format!("BG-{}", now.strftime("%Y%m%d-%H%M%S")),
    };
    let path = file_for(dir, &id);
    if path.exists() {
        bail!(
            "{} already exists: session {id} is already open",
            path.display()
        );
    }
    let scope = if scopes.is_empty() {
        vec![parse_scope("provider=aws")?]
    } else {
        scopes
            .iter()
            .map(|s| parse_scope(s))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let end = now.checked_add(duration)?;
    let r = ChangeRecord {
        id: id.clone(),
        title: format!("Break-glass: {reason}"),
        record_type: RecordType::Emergency,
        purpose: Some(reason.to_string()),
        impact: Some(
            impact
                .unwrap_or("emergency access within the listed scope")
                .to_string(),
        ),
        resources: Some(format!(
            "{by}, {}",
            jiff::fmt::friendly::SpanPrinter::new().duration_to_string(&duration)
        )),
        requested_by: by.to_string(),
        approved_by: Vec::new(),
        window: Some(Window { start: now, end }),
        revert_by: None,
        scope,
        evidence: Vec::new(),
        retrospective_for: Vec::new(),
        closed_at: None,
        plan: None,
        origin: RecordOrigin {
            file: path.display().to_string(),
            line: 1,
            url: None,
        },
    };
    write_record(&cfg, &path, &r)?;
    println!("break-glass session {id} open until {end}");
    println!("  record: {}", path.display());
    println!(
        "  changes in its scope match provisionally; close it with: driftwatch break-glass close {id}"
    );
    println!(
        "  a retrospective record with `retrospective_for: [{id}]` is owed by {}",
        now.checked_add(SignedDuration::from_secs(
            cfg.obligations.retrospective_deadline_secs as i64
        ))?
    );
    Ok(Exit::Ok)
}

pub fn close(cfg: Config, id: &str, now: Timestamp) -> anyhow::Result<Exit> {
    let path = file_for(&cfg.records.dir, id);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("no open session {id}: cannot read {}", path.display()))?;
    let name = path.display().to_string();
    let mut recs = parse_file(&name, &text, &cfg.records.validation()).map_err(|errs| {
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!("{name} is invalid:\n{}", msgs.join("\n"))
    })?;
    let Some(r) = recs.iter_mut().find(|r| r.id == id) else {
        bail!("{name} does not hold session {id}");
    };
    if let Some(c) = r.closed_at {
        println!("session {id} was already closed at {c}");
        return Ok(Exit::Ok);
    }
    r.closed_at = Some(now);
    if let Some(w) = r.window.as_mut()
        && now < w.end
    {
        w.end = now.max(w.start.checked_add(SignedDuration::from_secs(1))?);
    }
    let r = r.clone();
    write_record(&cfg, &path, &r)?;
    println!("break-glass session {id} closed at {now}");
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_scopes() {
        assert_eq!(
            parse_duration("2h").expect("2h"),
            SignedDuration::from_hours(2)
        );
        assert_eq!(
            parse_duration("90m").expect("90m"),
            SignedDuration::from_mins(90)
        );
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("30d").is_err());
        assert!(parse_duration("soon").is_err());
        let s = parse_scope("provider=aws,account=123456789012,kind=aws.iam.role,target=ml-*")
            .expect("scope");
        assert_eq!(s.kind, Some(Kind::IamRole));
        assert_eq!(s.target.as_deref(), Some("ml-*"));
        assert!(parse_scope("provider=gcp").is_err());
        assert!(parse_scope("colour=blue").is_err());
    }
}
