//! Slack incoming webhook: a Block Kit message with what changed, where, the field diff, the
//! findings, the expected record, the actor and the drift id to cite in a retrospective.

use serde_json::{Value, json};

use super::{Alert, AlertStatus, BuildError, DeliveryFuture, Sink, http};
use crate::config::{Secret, SlackSinkConfig};

pub struct SlackSink {
    name: String,
    url: Secret,
    client: reqwest::Client,
    max_attempts: u32,
}

impl SlackSinkConfig {
    /// The sink this section describes; its URL is read now.
    pub fn build(&self) -> Result<SlackSink, BuildError> {
        Ok(SlackSink {
            name: self.name.clone(),
            url: self.url()?,
            client: http::client(self.timeout())?,
            max_attempts: self.max_attempts,
        })
    }
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped; resource names are attacker-controlled.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn show(v: &Option<Value>) -> String {
    match v {
        None => "∅".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The message body for an alert.
pub fn message(a: &Alert) -> Value {
    let icon = match (a.status, a.severity) {
        (AlertStatus::Resolved, _) => ":white_check_mark:",
        (_, crate::model::Severity::Critical) => ":rotating_light:",
        (_, crate::model::Severity::High) => ":warning:",
        _ => ":information_source:",
    };
    let mut blocks = vec![json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": format!("{icon} *{}*", esc(&a.title)) }
    })];
    let mut fields = vec![
        json!({ "type": "mrkdwn", "text": format!("*Event*\n{} ({})", a.event.as_str(), match a.status { AlertStatus::Firing => "firing", AlertStatus::Resolved => "resolved" }) }),
        json!({ "type": "mrkdwn", "text": format!("*Severity*\n{}", a.severity) }),
    ];
    if !a.scope.is_empty() {
        fields.push(json!({ "type": "mrkdwn", "text": format!("*Scope*\n{}", esc(&a.scope)) }));
    }
    if let (Some(kind), Some(name)) = (&a.kind, &a.resource_name) {
        fields.push(json!({ "type": "mrkdwn", "text": format!("*Resource*\n{} `{}`", esc(kind), esc(name)) }));
    }
    if let Some(action) = a.action {
        fields.push(json!({ "type": "mrkdwn", "text": format!("*Action*\n{action}") }));
    }
    if let Some(d) = &a.drift_id {
        fields.push(json!({ "type": "mrkdwn", "text": format!("*Drift*\n`{d}`") }));
    }
    fields.push(json!({ "type": "mrkdwn", "text": format!("*Expected record*\n{}", esc(a.record_id.as_deref().unwrap_or("none"))) }));
    let actor = esc(a.actor.as_deref().unwrap_or("unknown"));
    let actor = match &a.attribution {
        Some(e) => format!("{actor}\n_{}_", esc(&e.evidence())),
        None => actor,
    };
    fields.push(json!({ "type": "mrkdwn", "text": format!("*Actor*\n{actor}") }));
    blocks.push(json!({ "type": "section", "fields": fields }));
    if !a.findings.is_empty() {
        let lines: Vec<String> = a
            .findings
            .iter()
            .map(|f| format!("• *{}* {}", f.severity, esc(&f.message)))
            .collect();
        blocks.push(json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": format!("*Findings*\n{}", lines.join("\n")) }
        }));
    }
    if !a.fields.is_empty() && a.status == AlertStatus::Firing {
        // Slack caps a text object at 3000 characters; keep the diff well inside it.
        let mut diff = String::new();
        for f in &a.fields {
            let line = format!("{}: {} → {}\n", f.path, show(&f.before), show(&f.after));
            if diff.len() + line.len() > 2500 {
                diff.push_str("…\n");
                break;
            }
            diff.push_str(&line);
        }
        blocks.push(json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": format!("*Diff*\n```{}```", esc(diff.trim_end())) }
        }));
    }
    if let Some(sk) = a
        .record_skeleton
        .as_ref()
        .filter(|_| a.status == AlertStatus::Firing)
    {
        let sk: String = sk.chars().take(2500).collect();
        blocks.push(json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": format!("*Record to file*\n```{}```", esc(&sk)) }
        }));
    }
    let mut context = esc(&a.reason);
    if let Some(d) = a
        .drift_id
        .as_ref()
        .filter(|_| a.status == AlertStatus::Firing)
    {
        context.push_str(&format!(
            " · File a record with `retrospective_for: [{d}]` to close it."
        ));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [ { "type": "mrkdwn", "text": context } ]
    }));
    json!({ "text": a.title, "blocks": blocks })
}

impl Sink for SlackSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, _key: &'a str, alert: &'a Alert) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let body = message(alert).to_string().into_bytes();
            http::post_json(&self.client, self.url.expose(), &[], body).await
        })
    }

    fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
}
