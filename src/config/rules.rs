//! The `[rules]` section: which ports are sensitive, the severities of world-open ingress, and
//! the accounts a role may trust. `settings` gives the core's `RuleSettings`.

use driftwatch_core::rules::{RuleSettings, default_sensitive_ports, port_label};
use serde::Deserialize;

use super::AwsConfig;
use crate::model::Severity;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Replace the default sensitive port list.
    #[serde(default)]
    pub sensitive_ports: Option<Vec<u16>>,
    /// Add to the sensitive port list.
    #[serde(default)]
    pub extra_sensitive_ports: Vec<u16>,
    #[serde(default)]
    pub world_open_severity: Option<Severity>,
    #[serde(default)]
    pub sensitive_severity: Option<Severity>,
    /// Accounts a role may trust without a finding. Default: every configured account.
    #[serde(default)]
    pub trusted_accounts: Option<Vec<String>>,
}

impl RulesConfig {
    /// The rules' settings. Without `trusted_accounts`, every account of `aws` is trusted.
    pub fn settings(&self, aws: Option<&AwsConfig>) -> RuleSettings {
        let mut s = RuleSettings::default();
        if let Some(ports) = &self.sensitive_ports {
            s.sensitive_ports = ports.iter().map(|p| (*p, port_label(*p))).collect();
        }
        let defaults = default_sensitive_ports();
        for p in &self.extra_sensitive_ports {
            let label = defaults.get(p).cloned().unwrap_or_else(|| "custom".into());
            s.sensitive_ports.insert(*p, label);
        }
        if let Some(v) = self.world_open_severity {
            s.world_open_severity = v;
        }
        if let Some(v) = self.sensitive_severity {
            s.sensitive_severity = v;
        }
        s.trusted_accounts = match &self.trusted_accounts {
            Some(t) => t.clone(),
            None => aws
                .iter()
                .flat_map(|a| a.accounts.iter().map(|x| x.id.clone()))
                .collect(),
        };
        s
    }
}
