//! `driftwatch config check`.

use std::path::Path;

use super::Exit;
use crate::config::{Config, ConfigError, SinkConfig};

pub fn check(config: &Path, loaded: Result<Config, ConfigError>) -> anyhow::Result<Exit> {
    match loaded {
        Ok(cfg) if !cfg.secret_errors().is_empty() => {
            println!("config {} is invalid:", config.display());
            for e in cfg.secret_errors() {
                println!("  {e}");
            }
            Ok(Exit::Findings)
        }
        Ok(cfg) => {
            println!("config {} is valid", config.display());
            println!("  state_dir: {}", cfg.state_dir.display());
            match &cfg.store {
                Some(s) => println!("  store: PostgreSQL {}", s.url),
                None => println!("  store: SQLite {}", cfg.database_path().display()),
            }
            if let Some(ha) = &cfg.ha {
                println!(
                    "  ha: election {:?}, lease_duration_secs {}, replicas {} ({})",
                    ha.election,
                    ha.lease_duration_secs,
                    ha.replicas,
                    if ha.sharded() {
                        "scopes sharded over the live replicas"
                    } else {
                        "one active, the others waiting"
                    }
                );
            }
            println!("  records.dir: {}", cfg.records.dir.display());
            println!("  interval_secs: {}", cfg.interval_secs);
            if let Some(aws) = &cfg.aws {
                let ec2 = aws.services.contains(&crate::config::AwsService::Ec2);
                let iam = aws.services.contains(&crate::config::AwsService::Iam);
                if ec2 {
                    for (account, region) in cfg.aws_scopes() {
                        println!("  source: aws.ec2 account {account} region {region}");
                    }
                }
                if iam {
                    for a in &aws.accounts {
                        println!("  source: aws.iam account {} (global)", a.id);
                    }
                }
                if let Some(u) = &aws.endpoint_url {
                    println!("  aws.endpoint_url: {u}");
                }
                if let Some(e) = &aws.events {
                    println!(
                        "  aws.events: CloudTrail events from queue {} (region {}); changes re-read and attributed as they arrive",
                        e.queue_url,
                        e.region()
                    );
                }
                if let Some(l) = &aws.lookup {
                    println!(
                        "  aws.lookup: CloudTrail LookupEvents for unattributed changes, {} per second per account and region, first look after {} s",
                        l.requests_per_second, l.delay_secs
                    );
                }
            }
            for c in cfg.kubernetes.iter().flat_map(|k| &k.clusters) {
                let via = match (&c.kubeconfig, &c.context) {
                    (Some(p), Some(ctx)) => format!("kubeconfig {} context {ctx}", p.display()),
                    (Some(p), None) => format!("kubeconfig {}", p.display()),
                    (None, _) => "in-cluster service account".into(),
                };
                let mut kinds: Vec<String> = Vec::new();
                if c.default_kinds {
                    kinds.push("default kinds".into());
                }
                kinds.extend(c.kinds.iter().map(|k| {
                    if k.group.is_empty() {
                        format!("{}/{}", k.version, k.kind)
                    } else {
                        format!("{}/{}/{}", k.group, k.version, k.kind)
                    }
                }));
                println!(
                    "  source: kubernetes cluster {} via {via}; watching {}",
                    c.name,
                    kinds.join(", ")
                );
                if let Some(p) = &c.audit_log {
                    println!(
                        "  kubernetes cluster {}: changes attributed from the audit log {}",
                        c.name,
                        p.display()
                    );
                }
            }
            for s in &cfg.sinks {
                // Secrets were resolved by validation to prove they are readable; none is
                // printed.
                let detail = match s {
                    SinkConfig::Log(_) => String::new(),
                    SinkConfig::Webhook(w) => format!(
                        " url <redacted>{}",
                        if w.hmac_key.is_some() {
                            ", signed (hmac_key <redacted>)"
                        } else {
                            ""
                        }
                    ),
                    SinkConfig::Slack(_) => " url <redacted>".into(),
                    SinkConfig::Pagerduty(p) => format!(" {} routing_key <redacted>", p.url),
                    SinkConfig::Alertmanager(a) => format!(" {}", a.url),
                };
                println!("  sink {}: {}{detail}", s.name(), s.type_name());
            }
            for c in &cfg.records.github {
                println!(
                    "  records source {}: github {} label {} every {} s{}",
                    c.name,
                    c.repositories.join(", "),
                    c.label,
                    c.interval_secs,
                    if c.token.is_some() {
                        " (token <redacted>)"
                    } else {
                        ""
                    }
                );
            }
            for c in &cfg.records.jira {
                println!(
                    "  records source {}: jira {} as {} (token <redacted>) every {} s",
                    c.name, c.url, c.email, c.interval_secs
                );
            }
            for c in &cfg.records.linear {
                println!(
                    "  records source {}: linear {} label {} (token <redacted>) every {} s",
                    c.name, c.api_url, c.label, c.interval_secs
                );
            }
            for (i, r) in cfg.alerting.routes.iter().enumerate() {
                println!(
                    "  route {i}: {:?} min_severity {} -> {}",
                    r.events
                        .as_deref()
                        .map(|e| e.iter().map(|k| k.as_str()).collect::<Vec<_>>()),
                    r.min_severity,
                    r.sinks.join(", ")
                );
            }
            Ok(Exit::Ok)
        }
        Err(e @ (ConfigError::Invalid { .. } | ConfigError::Parse { .. })) => {
            println!("{e}");
            Ok(Exit::Findings)
        }
        Err(e) => Err(e.into()),
    }
}
