//! Kubernetes API server audit events (`audit.k8s.io/v1` `Event`, one JSON object per line
//! of the log backend's file, or the items of the webhook backend's `EventList`), pure: the
//! writes that completed (`ResponseComplete`, 2xx) with who made them (the authenticated
//! user, and the user they impersonated), from where and with which client; and which watched
//! change an event explains, so a change is attributed to a person rather than to the field
//! manager (a tool's name).

#[cfg(test)]
mod tests;

use jiff::Timestamp;
use serde_json::Value;

use crate::model::{Action, Attribution, Change, Kind, Scope};

/// A completed write, as the audit log records it.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub audit_id: String,
    /// `create`, `update`, `patch`, `delete`.
    pub verb: String,
    pub username: String,
    pub groups: Vec<String>,
    /// The user the request impersonated (`kubectl --as`), who the change is made as.
    pub impersonated: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// `""` for the core group.
    pub api_group: String,
    /// The plural resource (`clusterrolebindings`).
    pub resource: String,
    pub namespace: Option<String>,
    pub name: String,
    /// When the response completed.
    pub at: Timestamp,
}

/// Why a line is not an audit event driftwatch can use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("{0}: missing")]
    Missing(&'static str),
    #[error("{field}: `{value}` is not a time")]
    BadTime { field: &'static str, value: String },
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|x| !x.is_empty())
}

/// One line of the log backend. `Ok(None)`: a valid event that is not a completed write of a
/// named object (reads, other stages, failures, subresources, a create the policy logged
/// without its object's name).
pub fn parse_line(line: &str) -> Result<Option<AuditEvent>, AuditError> {
    let v: Value = serde_json::from_str(line).map_err(|e| AuditError::Json(e.to_string()))?;
    from_value(&v)
}

/// One event object (a line, or an item of an `EventList`).
pub fn from_value(v: &Value) -> Result<Option<AuditEvent>, AuditError> {
    if s(v, &["kind"]) != Some("Event") {
        return Err(AuditError::Missing("kind: Event"));
    }
    let verb = s(v, &["verb"]).ok_or(AuditError::Missing("verb"))?;
    if !matches!(verb, "create" | "update" | "patch" | "delete") {
        return Ok(None);
    }
    if s(v, &["stage"]) != Some("ResponseComplete") {
        return Ok(None);
    }
    // An absent code is a success the server did not spell out (older versions, some paths).
    let code = v
        .get("responseStatus")
        .and_then(|r| r.get("code"))
        .and_then(Value::as_i64)
        .unwrap_or(200);
    if !(200..300).contains(&code) {
        return Ok(None);
    }
    let obj = v.get("objectRef").ok_or(AuditError::Missing("objectRef"))?;
    if s(obj, &["subresource"]).is_some() {
        return Ok(None);
    }
    let Some(name) = s(obj, &["name"]) else {
        return Ok(None);
    };
    let time_field = "stageTimestamp";
    let time = s(v, &[time_field]).ok_or(AuditError::Missing(time_field))?;
    let at = time.parse::<Timestamp>().map_err(|_| AuditError::BadTime {
        field: time_field,
        value: time.to_string(),
    })?;
    Ok(Some(AuditEvent {
        audit_id: s(v, &["auditID"])
            .ok_or(AuditError::Missing("auditID"))?
            .to_string(),
        verb: verb.to_string(),
        username: s(v, &["user", "username"])
            .ok_or(AuditError::Missing("user.username"))?
            .to_string(),
        groups: v
            .get("user")
            .and_then(|u| u.get("groups"))
            .and_then(Value::as_array)
            .map(|g| {
                g.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        impersonated: s(v, &["impersonatedUser", "username"]).map(String::from),
        source_ip: v
            .get("sourceIPs")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(String::from),
        user_agent: s(v, &["userAgent"]).map(String::from),
        api_group: s(obj, &["apiGroup"]).unwrap_or("").to_string(),
        resource: s(obj, &["resource"])
            .ok_or(AuditError::Missing("objectRef.resource"))?
            .to_string(),
        namespace: s(obj, &["namespace"]).map(String::from),
        name: name.to_string(),
        at,
    }))
}

/// The plural resource name the API server uses for a kind (the rules kube's discovery
/// falls back to): `NetworkPolicy` → `networkpolicies`, `Ingress` → `ingresses`.
pub fn plural(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if k == "endpoints" {
        return k;
    }
    if k.ends_with('s')
        || k.ends_with('x')
        || k.ends_with('z')
        || k.ends_with("ch")
        || k.ends_with("sh")
    {
        format!("{k}es")
    } else if let Some(stem) = k.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{k}s")
    }
}

/// Whether `e` is the write that made `change` in `cluster`.
pub fn explains(e: &AuditEvent, cluster: &str, change: &Change) -> bool {
    let Scope::Kubernetes { cluster: c } = &change.key.scope else {
        return false;
    };
    let Kind::Kubernetes(k) = &change.key.kind else {
        return false;
    };
    // Cheapest first, without allocating: this runs for every kept event and change.
    let id = change.key.id.as_str();
    let same_object = match &e.namespace {
        Some(ns) => {
            id.strip_prefix(ns.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                == Some(e.name.as_str())
        }
        None => id == e.name,
    };
    if !same_object
        || c.as_ref() != cluster
        || k.group != e.api_group
        || plural(&k.kind) != e.resource
    {
        return false;
    }
    // A server-side apply is a patch that may create.
    matches!(
        (e.verb.as_str(), change.action),
        ("create" | "patch" | "update", Action::Create)
            | ("update" | "patch", Action::Modify)
            | ("delete", Action::Delete)
    )
}

/// The latest of `events` that explains `change` and completed no later than `slack` after
/// the change was observed.
pub fn best<'a>(
    events: &'a [AuditEvent],
    cluster: &str,
    change: &Change,
) -> Option<&'a AuditEvent> {
    events
        .iter()
        .filter(|e| e.at <= change.observed_at + jiff::SignedDuration::from_secs(60))
        .filter(|e| explains(e, cluster, change))
        .max_by_key(|e| e.at)
}

/// The client by user agent: `kubectl`, `helm`, `argocd`, `terraform`, `flux`, `other`.
fn client(user_agent: Option<&str>) -> &'static str {
    let ua = user_agent.unwrap_or("").to_ascii_lowercase();
    for (needle, name) in [
        ("kubectl", "kubectl"),
        ("helm", "helm"),
        ("argocd", "argocd"),
        ("terraform", "terraform"),
        ("kustomize-controller", "flux"),
        ("helm-controller", "flux"),
    ] {
        if ua.contains(needle) {
            return name;
        }
    }
    "other"
}

impl AuditEvent {
    /// The evidence in the shape every sink and the ledger carry.
    pub fn attribution(&self) -> Attribution {
        let acting = self.impersonated.as_deref().unwrap_or(&self.username);
        let actor = match &self.impersonated {
            Some(as_user) => format!("{as_user} (impersonated by {})", self.username),
            None => self.username.clone(),
        };
        let identity_type = if acting.starts_with("system:serviceaccount:") {
            "service_account"
        } else if acting.starts_with("system:") {
            "system"
        } else {
            "kubernetes_user"
        };
        Attribution {
            actor,
            // The person who sent the request (an impersonator too), unless it was a service
            // account or the system.
            person: (!self.username.starts_with("system:")).then(|| self.username.clone()),
            identity_type: identity_type.to_string(),
            arn: None,
            source_ip: self.source_ip.clone(),
            client: client(self.user_agent.as_deref()).to_string(),
            user_agent: self.user_agent.clone(),
            event_name: format!("{} {}", self.verb, self.resource),
            event_id: self.audit_id.clone(),
            event_time: self.at.to_string(),
            via: "audit_log".to_string(),
        }
    }
}
