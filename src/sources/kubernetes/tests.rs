//! The source against kube's tower-test mock: API answers a 1.20 server cannot give (fields it
//! would drop, such as NetworkPolicy `endPort`), a malformed object in the watch stream, a
//! 410 Gone followed by a relist, and objects larger than etcd could hold. The protocol, RBAC and restarts are covered against a real
//! API server in tests/kubernetes.rs.

use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;

fn netpol(name: &str, rv: &str, end_port: u16) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "shop", "resourceVersion": rv, "uid": format!("uid-{name}"),
                     "managedFields": [{"manager": "argocd-controller", "operation": "Apply",
                                         "time": "2026-11-29T03:00:00Z", "fieldsType": "FieldsV1",
                                         "fieldsV1": {"f:spec": {}}}]},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                 "egress": [{"ports": [{"protocol": "TCP", "port": 32000, "endPort": end_port}]}]}
    })
}

fn list(rv: &str, items: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicyList",
        "metadata": {"resourceVersion": rv}, "items": items
    }))
    .expect("json")
}

fn lines(events: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        out.extend(serde_json::to_vec(e).expect("json"));
        out.push(b'\n');
    }
    out
}

/// Answers the watcher's requests in order: list, watch (a malformed object, then a
/// modification), watch (410 Gone), relist (one more object), then a watch left open; and
/// any one-item recovery probe.
async fn scripted_apiserver(
    mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    seen: mpsc::UnboundedSender<String>,
) {
    let mut held = Vec::new();
    let mut lists = 0;
    let mut watches = 0;
    while let Some((req, send)) = handle.next_request().await {
        let uri = req.uri().to_string();
        let _ = seen.send(uri.clone());
        let body = if uri.contains("watch=true") {
            watches += 1;
            match watches {
                1 => lines(&[
                    json!({"type": "MODIFIED", "object": {"apiVersion": "networking.k8s.io/v1",
                        "kind": "NetworkPolicy", "metadata": "not an object"}}),
                    json!({"type": "MODIFIED", "object": netpol("egress-high-ports", "11", 40000)}),
                ]),
                2 => lines(&[
                    json!({"type": "ERROR", "object": {"apiVersion": "v1", "kind": "Status",
                    "status": "Failure", "reason": "Expired", "code": 410,
                    "message": "too old resource version: 11 (12)"}}),
                ]),
                _ => {
                    held.push(send);
                    continue;
                }
            }
        } else if uri.contains("limit=1&") || uri.ends_with("limit=1") {
            // A recovery probe after a watch error: the server answers.
            list("0", Vec::new())
        } else {
            lists += 1;
            match lists {
                1 => list("10", vec![netpol("egress-high-ports", "9", 32768)]),
                _ => list(
                    "20",
                    vec![
                        netpol("egress-high-ports", "11", 40000),
                        netpol("egress-dns", "19", 53),
                    ],
                ),
            }
        };
        send.send_response(Response::new(Body::from(body)));
    }
}

fn end_ports(obs: &crate::model::Observation) -> Vec<(String, Value)> {
    match &obs.outcome {
        crate::model::Outcome::Complete(rs) => rs
            .iter()
            .map(|r| {
                (
                    r.key.id.clone(),
                    r.attributes()["spec"]["egress"][0]["ports"][0]["endPort"].clone(),
                )
            })
            .collect(),
        crate::model::Outcome::Failed { message, .. } => panic!("poll failed: {message}"),
        crate::model::Outcome::Part(_) => panic!("a watch poll is complete, not a part"),
    }
}

#[tokio::test]
async fn a_bad_object_and_a_410_do_not_end_the_watch() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    tokio::spawn(scripted_apiserver(handle, seen_tx));
    let client = kube::Client::new(service, "default");
    let metrics = Metrics::new();
    let (touched_tx, mut touched) = mpsc::channel(16);
    let scope = Scope::Kubernetes {
        cluster: "mock".into(),
    };
    let source = KubeSource::start(
        scope.clone(),
        Some(client),
        vec![KindSpec {
            gvk: GroupVersionKind::gvk("networking.k8s.io", "v1", "NetworkPolicy"),
            plural: Some("networkpolicies"),
        }],
        Duration::from_secs(10),
        Duration::from_secs(60),
        metrics.clone(),
        Some(touched_tx),
    );
    let at = jiff::Timestamp::UNIX_EPOCH;

    // The first poll waits for the list: endPort (unknown to a 1.20 server) is kept.
    let first = end_ports(&source.poll(at).await);
    assert_eq!(
        first,
        vec![("shop/egress-high-ports".to_string(), json!(32768))]
    );
    let r = match &source.poll(at).await.outcome {
        crate::model::Outcome::Complete(rs) => rs[0].clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(r.actor.as_deref(), Some("argocd-controller"));
    assert!(r.attributes()["metadata"].get("uid").is_none());

    // The malformed object is skipped; the modification after it is seen.
    let t = tokio::time::timeout(Duration::from_secs(10), touched.recv())
        .await
        .expect("a change is reported")
        .expect("channel open");
    assert_eq!(t.scope, scope);
    let after = end_ports(&source.poll(at).await);
    assert!(
        after == vec![("shop/egress-high-ports".to_string(), json!(40000))] || after.len() == 2,
        "{after:?}"
    );

    // 410 Gone: the watcher relists, and the relisted state (one more policy) replaces the
    // old one in one piece.
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if end_ports(&source.poll(at).await).len() == 2 {
                break;
            }
            let _ = touched.recv().await;
        }
    })
    .await
    .expect("the relist is applied");
    assert_eq!(
        end_ports(&source.poll(at).await),
        vec![
            ("shop/egress-dns".to_string(), json!(53)),
            ("shop/egress-high-ports".to_string(), json!(40000)),
        ]
    );
    let mut uris = Vec::new();
    while let Ok(u) = seen.try_recv() {
        uris.push(u);
    }
    let lists = uris.iter().filter(|u| u.contains("limit=500")).count();
    assert_eq!(lists, 2, "one list, one relist after 410: {uris:#?}");
    assert!(
        uris.iter()
            .all(|u| u.starts_with("/apis/networking.k8s.io/v1/networkpolicies")),
        "{uris:#?}"
    );

    let text = metrics.encode();
    for event in ["error_malformed", "error_gone", "listed", "apply"] {
        assert!(
            text.contains(&format!("event=\"{event}\"")),
            "metric for {event} missing:\n{text}"
        );
    }
}

#[test]
fn the_shipped_cluster_role_grants_exactly_the_default_kinds() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/kubernetes/clusterrole.yaml"
    );
    let text = std::fs::read_to_string(path).expect("clusterrole.yaml");
    let role: Value = serde_saphyr::from_str(&text).expect("yaml");
    let mut granted: Vec<(String, String)> = Vec::new();
    for rule in role["rules"].as_array().expect("rules") {
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .expect("verbs")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(verbs, vec!["get", "list", "watch"], "{rule}");
        for g in rule["apiGroups"].as_array().expect("groups") {
            for r in rule["resources"].as_array().expect("resources") {
                granted.push((
                    g.as_str().unwrap_or_default().to_string(),
                    r.as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    granted.sort();
    let mut wanted: Vec<(String, String)> = DEFAULT_KINDS
        .iter()
        .map(|(g, _, _, p)| (g.to_string(), p.to_string()))
        .collect();
    wanted.sort();
    assert_eq!(granted, wanted);
}

/// `netpol` with an annotation that makes its JSON larger than `MAX_OBJECT_BYTES`.
fn oversized(name: &str, rv: &str, end_port: u16) -> Value {
    let mut p = netpol(name, rv, end_port);
    p["metadata"]["annotations"] = json!({"pad": "x".repeat(normalize::MAX_OBJECT_BYTES)});
    p
}

/// List: a policy and an oversized new one; watch: an oversized modification of the first,
/// then a new policy, then held open.
async fn oversized_apiserver(mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>) {
    let mut held = Vec::new();
    let mut watches = 0;
    while let Some((req, send)) = handle.next_request().await {
        let uri = req.uri().to_string();
        let body = if uri.contains("watch=true") {
            watches += 1;
            if watches > 1 {
                held.push(send);
                continue;
            }
            lines(&[
                json!({"type": "MODIFIED", "object": oversized("egress-high-ports", "11", 50000)}),
                json!({"type": "ADDED", "object": netpol("egress-dns", "12", 53)}),
            ])
        } else if uri.contains("limit=1&") || uri.ends_with("limit=1") {
            list("0", Vec::new())
        } else {
            list(
                "10",
                vec![
                    netpol("egress-high-ports", "9", 32768),
                    oversized("egress-huge", "8", 1),
                ],
            )
        };
        send.send_response(Response::new(Body::from(body)));
    }
}

#[tokio::test]
async fn an_oversized_object_is_skipped_and_the_watch_goes_on() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(oversized_apiserver(handle));
    let metrics = Metrics::new();
    let (touched_tx, mut touched) = mpsc::channel(16);
    let source = KubeSource::start(
        Scope::Kubernetes {
            cluster: "mock".into(),
        },
        Some(kube::Client::new(service, "default")),
        vec![KindSpec {
            gvk: GroupVersionKind::gvk("networking.k8s.io", "v1", "NetworkPolicy"),
            plural: Some("networkpolicies"),
        }],
        Duration::from_secs(10),
        Duration::from_secs(60),
        metrics.clone(),
        Some(touched_tx),
    );
    let at = jiff::Timestamp::UNIX_EPOCH;
    // The listed oversized policy is not kept, the oversized modification is skipped (the
    // last readable version stays), and the policy added after it is seen.
    tokio::time::timeout(Duration::from_secs(10), async {
        while end_ports(&source.poll(at).await).len() < 2 {
            let _ = touched.recv().await;
        }
    })
    .await
    .expect("the watch goes on past the oversized object");
    assert_eq!(
        end_ports(&source.poll(at).await),
        vec![
            ("shop/egress-dns".to_string(), json!(53)),
            ("shop/egress-high-ports".to_string(), json!(32768)),
        ]
    );
    let text = metrics.encode();
    assert!(
        text.contains(r#"event="error_too_large"} 2"#),
        "one for the listed object, one for the watched one:\n{text}"
    );
}
