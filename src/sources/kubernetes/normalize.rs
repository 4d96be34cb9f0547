//! Pure: one Kubernetes object, as the API returns it, becomes a normalized `Resource`. Only
//! what a person can change is kept, so the diff shows their edit and nothing the API server
//! or a controller wrote: server metadata (uid, resourceVersion, generation, timestamps,
//! managedFields), `status`, the last-applied annotation, ClusterIPs and NodePorts the server
//! allocated (kept when a field manager set them), Service fields left at the server's default, rules a ClusterRole aggregates, and the
//! token Secrets the controller lists on a ServiceAccount. The last writer (the managedFields
//! entry with the latest time) becomes the resource's actor. An object whose JSON is larger
//! than `MAX_OBJECT_BYTES` is not kept at all (`check_size`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::model::{Kind, Resource, ResourceKey, Scope};

/// Metadata a person sets; everything else in `metadata` is the server's.
const KEPT_METADATA: &[&str] = &[
    "name",
    "namespace",
    "annotations",
    "ownerReferences",
    "finalizers",
];

/// Annotations that tools write on every apply.
const VOLATILE_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// An object that cannot be normalized, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {name}: {field}: {message}")]
pub struct NormalizeError {
    pub kind: String,
    /// The object's name when it has one, else `?`.
    pub name: String,
    pub field: &'static str,
    pub message: &'static str,
}

/// The largest object kept, as serialized JSON (managedFields included). etcd stores at most
/// 1.5 MiB per object (its default `--max-request-bytes`), and built-in kinds are stored as
/// protobuf, whose JSON is larger (field names, base64): an object a working API server can
/// hold stays well under 4 MiB, while one past it (a proxy or a broken server) would be
/// stored, hashed, diffed and alerted on whole.
pub const MAX_OBJECT_BYTES: usize = 4 * 1024 * 1024;

/// An object larger than the cap, naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {name}: larger than {} as JSON; skipped", mib_or_bytes(*.limit))]
pub struct TooLarge {
    pub kind: String,
    /// The object's name when it has one, else `?`.
    pub name: String,
    pub limit: usize,
}

fn mib_or_bytes(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n > 0 && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

/// Counts what is written and fails once past `limit`, so serializing stops there.
struct Counter {
    written: usize,
    limit: usize,
}

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written = self.written.saturating_add(buf.len());
        if self.written > self.limit {
            return Err(std::io::Error::other("over the limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The object's JSON size when it is at most `limit` bytes; serializing stops just past the
/// limit, so a huge object costs no more than the limit to measure.
pub fn check_size(kind: &Kind, obj: &Value, limit: usize) -> Result<usize, TooLarge> {
    let mut c = Counter { written: 0, limit };
    // A `Value` always serializes; the only error is the counter's.
    match serde_json::to_writer(&mut c, obj) {
        Ok(()) => Ok(c.written),
        Err(_) => Err(TooLarge {
            kind: kind.to_string(),
            name: obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map_or_else(
                    || "?".to_string(),
                    |n| {
                        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
                        object_id(ns, n)
                    },
                ),
            limit,
        }),
    }
}

/// The resource id: `namespace/name`, or `name` for a cluster-scoped object.
pub fn object_id(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

pub fn normalize(scope: &Scope, kind: &Kind, obj: &Value) -> Result<Resource, NormalizeError> {
    let fail = |name: &str, field, message| NormalizeError {
        kind: kind.to_string(),
        name: name.to_string(),
        field,
        message,
    };
    let meta = obj
        .get("metadata")
        .and_then(Value::as_object)
        .ok_or_else(|| fail("?", "metadata", "missing or not an object"))?;
    let name = match meta.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.as_str(),
        _ => return Err(fail("?", "metadata.name", "missing or not a string")),
    };
    let namespace = match meta.get("namespace") {
        None | Some(Value::Null) => None,
        Some(Value::String(ns)) => Some(ns.as_str()),
        Some(_) => return Err(fail(name, "metadata.namespace", "not a string")),
    };
    let id = object_id(namespace, name);
    let mut tags = BTreeMap::new();
    match meta.get("labels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(labels)) => {
            for (k, v) in labels {
                let Value::String(v) = v else {
                    return Err(fail(
                        name,
                        "metadata.labels",
                        "a label value is not a string",
                    ));
                };
                tags.insert(k.clone(), v.clone());
            }
        }
        Some(_) => return Err(fail(name, "metadata.labels", "not an object")),
    }
    let managed = meta
        .get("managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let actor = last_manager(managed);

    let mut attributes = Map::new();
    let mut kept_meta = Map::new();
    for key in KEPT_METADATA {
        if let Some(v) = meta.get(*key) {
            kept_meta.insert((*key).to_string(), v.clone());
        }
    }
    if let Some(Value::Object(ann)) = kept_meta.get_mut("annotations") {
        for a in VOLATILE_ANNOTATIONS {
            ann.remove(*a);
        }
        if ann.is_empty() {
            kept_meta.remove("annotations");
        }
    }
    attributes.insert("metadata".into(), Value::Object(kept_meta));
    if let Value::Object(top) = obj {
        for (k, v) in top {
            if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status") {
                attributes.insert(k.clone(), v.clone());
            }
        }
    }
    let (group, kind_name) = match kind {
        Kind::Kubernetes(k) => (k.group.as_str(), k.kind.as_str()),
        _ => ("", ""),
    };
    match (group, kind_name) {
        ("", "Service") => strip_allocated_service_fields(&mut attributes, managed),
        ("", "ServiceAccount") => strip_token_secrets(&mut attributes, name),
        // The aggregation controller fills `rules` from the selected roles: a person
        // changes the selector or those roles, each its own change.
        ("rbac.authorization.k8s.io", "ClusterRole")
            if attributes.contains_key("aggregationRule") =>
        {
            attributes.remove("rules");
        }
        _ => {}
    }
    Ok(Resource::new(
        ResourceKey {
            scope: scope.clone(),
            kind: kind.clone(),
            id: id.clone(),
        },
        id.clone(),
        vec![id],
        tags,
        Value::Object(attributes),
    )
    .with_actor(actor))
}

/// The manager of the managedFields entry with the latest time (ties: the later entry).
fn last_manager(managed: &[Value]) -> Option<String> {
    let mut best: Option<(&str, &str)> = None;
    for e in managed {
        let Some(manager) = e.get("manager").and_then(Value::as_str) else {
            continue;
        };
        let time = e.get("time").and_then(Value::as_str).unwrap_or("");
        if best.is_none_or(|(t, _)| time >= t) {
            best = Some((time, manager));
        }
    }
    best.map(|(_, m)| m.to_string())
}

/// Whether any field manager owns the field at `path` (in `fieldsV1` notation).
fn owned(managed: &[Value], path: &[&str]) -> bool {
    managed.iter().any(|e| {
        let mut at = e.get("fieldsV1");
        for p in path {
            at = at.and_then(|v| v.get(*p));
        }
        at.is_some()
    })
}

/// Whether any field manager owns `spec.ports[port/protocol].nodePort`. Port entries are
/// keyed `k:{"port":80,"protocol":"TCP"}`.
fn node_port_owned(managed: &[Value], port: &Value, protocol: &str) -> bool {
    managed.iter().any(|e| {
        let Some(ports) = e
            .get("fieldsV1")
            .and_then(|f| f.get("f:spec"))
            .and_then(|s| s.get("f:ports"))
            .and_then(Value::as_object)
        else {
            return false;
        };
        ports.iter().any(|(k, v)| {
            let Some(key) = k
                .strip_prefix("k:")
                .and_then(|j| serde_json::from_str::<Value>(j).ok())
            else {
                return false;
            };
            let proto = key.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            key.get("port") == Some(port) && proto == protocol && v.get("f:nodePort").is_some()
        })
    })
}

/// Service fields the server defaults, with their default values: the external traffic
/// policy (NodePort, LoadBalancer), and fields newer servers add (1.20 `ipFamilyPolicy`,
/// 1.22 `internalTrafficPolicy`, 1.24 `allocateLoadBalancerNodePorts`).
type DefaultValue = fn() -> Value;
const SERVICE_DEFAULTS: &[(&str, DefaultValue)] = &[
    ("externalTrafficPolicy", || Value::from("Cluster")),
    ("internalTrafficPolicy", || Value::from("Cluster")),
    ("ipFamilyPolicy", || Value::from("SingleStack")),
    ("allocateLoadBalancerNodePorts", || Value::from(true)),
    ("sessionAffinity", || Value::from("None")),
];

fn strip_allocated_service_fields(attributes: &mut Map<String, Value>, managed: &[Value]) {
    let Some(Value::Object(spec)) = attributes.get_mut("spec") else {
        return;
    };
    // `None` (a headless Service) is always a person's choice.
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    if !headless && !owned(managed, &["f:spec", "f:clusterIP"]) {
        spec.remove("clusterIP");
    }
    if !headless && !owned(managed, &["f:spec", "f:clusterIPs"]) {
        spec.remove("clusterIPs");
    }
    if !owned(managed, &["f:spec", "f:healthCheckNodePort"]) {
        spec.remove("healthCheckNodePort");
    }
    // Defaults the server writes during decoding, so the request's manager owns them: a
    // default value says nothing a person chose, and newer servers add more of them (an
    // upgrade must not look like every Service changed).
    for (field, default) in SERVICE_DEFAULTS {
        if spec.get(*field) == Some(&default()) {
            spec.remove(*field);
        }
    }
    if !owned(managed, &["f:spec", "f:ipFamilies"]) {
        spec.remove("ipFamilies");
    }
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports.iter_mut() {
            let Value::Object(port) = p else { continue };
            let number = port.get("port").cloned().unwrap_or(Value::Null);
            let protocol = port
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("TCP")
                .to_string();
            if !node_port_owned(managed, &number, &protocol) {
                port.remove("nodePort");
            }
        }
    }
}

fn strip_token_secrets(attributes: &mut Map<String, Value>, name: &str) {
    let prefix = format!("{name}-token-");
    let Some(Value::Array(secrets)) = attributes.get_mut("secrets") else {
        return;
    };
    secrets.retain(|s| {
        !s.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.starts_with(&prefix))
    });
    if secrets.is_empty() {
        attributes.remove("secrets");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scope() -> Scope {
        Scope::Kubernetes {
            cluster: "test".into(),
        }
    }

    fn kind(group: &str, k: &str) -> Kind {
        Kind::kubernetes(group, "v1", k)
    }

    /// A NodePort Service as the API server returns it: allocated ClusterIP and NodePort,
    /// server metadata, status, and managedFields where kubectl set neither.
    fn service(node_port_owned: bool) -> Value {
        let mut port_fields = json!({".": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}});
        if node_port_owned {
            port_fields["f:nodePort"] = json!({});
        }
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {
                "name": "web", "namespace": "shop", "uid": "1f0c", "resourceVersion": "812",
                "creationTimestamp": "2026-11-29T02:00:00Z", "generation": 3,
                "labels": {"app": "web"},
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{...}",
                    "team": "shop"
                },
                "managedFields": [
                    {"manager": "kubectl-create", "operation": "Update", "time": "2026-11-29T02:00:00Z",
                     "fieldsV1": {"f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": port_fields}}}},
                    {"manager": "kubectl-patch", "operation": "Update", "time": "2026-11-29T02:05:00Z",
                     "fieldsV1": {"f:spec": {"f:type": {}}}}
                ]
            },
            "spec": {
                "type": "NodePort", "clusterIP": "10.96.0.12", "clusterIPs": ["10.96.0.12"],
                "externalTrafficPolicy": "Cluster",
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 31234}],
                "selector": {"app": "web"}
            },
            "status": {"loadBalancer": {}}
        })
    }

    #[test]
    fn a_service_keeps_only_what_a_person_set() {
        let r = normalize(&scope(), &kind("", "Service"), &service(false)).expect("normalizes");
        assert_eq!(r.key.id, "shop/web");
        assert_eq!(r.targets, vec!["shop/web".to_string()]);
        assert_eq!(r.tags.get("app").map(String::as_str), Some("web"));
        assert_eq!(r.actor.as_deref(), Some("kubectl-patch"));
        assert_eq!(
            r.attributes(),
            json!({
                "metadata": {"name": "web", "namespace": "shop", "annotations": {"team": "shop"}},
                "spec": {
                    "type": "NodePort",
                    "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
                    "selector": {"app": "web"}
                }
            })
        );
    }

    #[test]
    fn a_node_port_a_manager_set_is_kept() {
        let r = normalize(&scope(), &kind("", "Service"), &service(true)).expect("normalizes");
        assert_eq!(r.attributes()["spec"]["ports"][0]["nodePort"], json!(31234));
        assert!(r.attributes()["spec"].get("clusterIP").is_none());
    }

    #[test]
    fn server_bookkeeping_does_not_change_the_hash() {
        let a = normalize(&scope(), &kind("", "Service"), &service(false)).expect("a");
        let mut later = service(false);
        later["metadata"]["resourceVersion"] = json!("999");
        later["metadata"]["generation"] = json!(4);
        later["spec"]["clusterIP"] = json!("10.96.0.99");
        later["status"] = json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}});
        later["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
            json!("{other}");
        let b = normalize(&scope(), &kind("", "Service"), &later).expect("b");
        assert_eq!(a.hash(), b.hash());
    }

    #[test]
    fn a_server_upgrade_that_adds_defaults_is_not_a_change() {
        let old = normalize(&scope(), &kind("", "Service"), &service(false)).expect("1.20");
        let mut newer = service(false);
        newer["spec"]["internalTrafficPolicy"] = json!("Cluster");
        newer["spec"]["ipFamilyPolicy"] = json!("SingleStack");
        newer["spec"]["ipFamilies"] = json!(["IPv4"]);
        newer["spec"]["sessionAffinity"] = json!("None");
        let new = normalize(&scope(), &kind("", "Service"), &newer).expect("1.33");
        assert_eq!(old.hash(), new.hash());
        // A value a person chose is kept.
        newer["spec"]["internalTrafficPolicy"] = json!("Local");
        let local = normalize(&scope(), &kind("", "Service"), &newer).expect("local");
        assert_eq!(
            local.attributes()["spec"]["internalTrafficPolicy"],
            json!("Local")
        );
    }

    #[test]
    fn a_headless_service_keeps_cluster_ip_none() {
        let mut s = service(false);
        s["spec"]["clusterIP"] = json!("None");
        let r = normalize(&scope(), &kind("", "Service"), &s).expect("normalizes");
        assert_eq!(r.attributes()["spec"]["clusterIP"], json!("None"));
    }

    #[test]
    fn token_secrets_and_aggregated_rules_are_the_controllers() {
        let sa = json!({"metadata": {"name": "ci", "namespace": "build"},
            "secrets": [{"name": "ci-token-x7k2p"}, {"name": "registry"}]});
        let r = normalize(&scope(), &kind("", "ServiceAccount"), &sa).expect("sa");
        assert_eq!(r.attributes()["secrets"], json!([{"name": "registry"}]));
        let only_token = json!({"metadata": {"name": "ci", "namespace": "build"},
            "secrets": [{"name": "ci-token-x7k2p"}]});
        let r = normalize(&scope(), &kind("", "ServiceAccount"), &only_token).expect("sa");
        assert!(r.attributes().get("secrets").is_none());
        let agg = json!({"metadata": {"name": "admin"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "true"}}]},
            "rules": [{"verbs": ["*"], "resources": ["*"], "apiGroups": ["*"]}]});
        let r = normalize(
            &scope(),
            &kind("rbac.authorization.k8s.io", "ClusterRole"),
            &agg,
        )
        .expect("role");
        assert!(r.attributes().get("rules").is_none());
        assert_eq!(r.key.id, "admin");
    }

    #[test]
    fn malformed_objects_name_the_field() {
        let cases = [
            (json!({"spec": {}}), "metadata"),
            (json!({"metadata": {"namespace": "a"}}), "metadata.name"),
            (json!({"metadata": {"name": 7}}), "metadata.name"),
            (
                json!({"metadata": {"name": "a", "namespace": 1}}),
                "metadata.namespace",
            ),
            (
                json!({"metadata": {"name": "a", "labels": {"x": 1}}}),
                "metadata.labels",
            ),
        ];
        for (obj, field) in cases {
            let e = normalize(&scope(), &kind("", "Service"), &obj).expect_err("malformed");
            assert_eq!(e.field, field, "{obj}");
        }
    }

    #[test]
    fn an_object_is_kept_up_to_the_cap_and_skipped_past_it() {
        let k = kind("", "ConfigMap");
        let obj = |pad: usize| {
            json!({"metadata": {"name": "big", "namespace": "shop",
                                "annotations": {"pad": "x".repeat(pad)}}})
        };
        let at_cap = serde_json::to_vec(&obj(1000)).expect("json").len();
        assert_eq!(check_size(&k, &obj(1000), at_cap), Ok(at_cap));
        let e = check_size(&k, &obj(1001), at_cap).expect_err("one byte over");
        assert_eq!(
            e.to_string(),
            format!("v1/ConfigMap shop/big: larger than {at_cap} bytes as JSON; skipped")
        );
        let huge = obj(MAX_OBJECT_BYTES);
        let e = check_size(&k, &huge, MAX_OBJECT_BYTES).expect_err("over the cap");
        assert_eq!(
            e.to_string(),
            "v1/ConfigMap shop/big: larger than 4 MiB as JSON; skipped"
        );
        let nameless = json!({"metadata": {}, "data": "x".repeat(100)});
        assert_eq!(check_size(&k, &nameless, 10).expect_err("over").name, "?");
        // A typical object is far inside the cap.
        let svc = service(false);
        assert!(check_size(&k, &svc, MAX_OBJECT_BYTES).is_ok_and(|n| n < 4096));
    }
}
