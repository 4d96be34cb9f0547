//! `driftwatch config check`.

use std::path::Path;

use super::Exit;
use crate::config::{Config, ConfigError, SinkConfig};

pub fn check(config: &Path, loaded: Result<Config, ConfigError>) -> anyhow::Result<Exit> {
    match loaded {
        Ok(cfg) => {
            println!("config {} is valid", config.display());
            println!("  state_dir: {}", cfg.state_dir.display());
            println!("  records.dir: {}", cfg.records.dir.display());
            println!("  interval_secs: {}", cfg.interval_secs);
            for (account, region) in cfg.aws_scopes() {
                println!("  source: aws.ec2 account {account} region {region}");
            }
            if let Some(u) = cfg.aws.as_ref().and_then(|a| a.endpoint_url.as_ref()) {
                println!("  aws.endpoint_url: {u}");
            }
            for s in &cfg.sinks {
                match s {
                    SinkConfig::Log { name, .. } => println!("  sink {name}: log"),
                    SinkConfig::Webhook { name, .. } => {
                        // Resolved to prove it is readable; shown redacted.
                        let url = s.resolve_url().map(|u| u.to_string()).unwrap_or_else(|e| e);
                        println!("  sink {name}: webhook {url}");
                    }
                }
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
