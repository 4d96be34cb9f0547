//! A real kube-apiserver v1.20 with its own etcd, and client helpers.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

fn k8s_bin() -> String {
    match std::env::var("DRIFTWATCH_K8S_BIN") {
        Ok(p) => p,
        Err(_) => panic!(
            "DRIFTWATCH_K8S_BIN is not set: run the suite with scripts/test.sh, which builds kube-apiserver (scripts/k8s_build.sh)"
        ),
    }
}

/// A real kube-apiserver v1.20 with its own etcd, on free ports, started by
/// `scripts/k8s_up.sh` in a temporary directory; stopped on drop.
pub struct KubeApi {
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub port: u16,
    etcd_port: u16,
    peer_port: u16,
}

impl KubeApi {
    pub fn start() -> KubeApi {
        let dir = tempfile::tempdir().expect("tempdir");
        let k = KubeApi {
            kubeconfig: dir.path().join("kubeconfig"),
            dir,
            port: free_port(),
            etcd_port: free_port(),
            peer_port: free_port(),
        };
        k.up();
        k
    }

    fn script(&self, name: &str) -> Command {
        let mut c = Command::new(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scripts")
                .join(name),
        );
        c.env("D", self.dir.path())
            .env("DRIFTWATCH_K8S_BIN", k8s_bin())
            .env("ETCD_PORT", self.etcd_port.to_string())
            .env("ETCD_PEER_PORT", self.peer_port.to_string())
            .env("API_PORT", self.port.to_string());
        c
    }

    fn up(&self) {
        let out = self.script("k8s_up.sh").output().expect("run k8s_up.sh");
        assert!(
            out.status.success(),
            "k8s_up.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stop only the API server (etcd keeps the cluster's state).
    pub fn stop_apiserver(&self) {
        let out = self
            .script("k8s_down.sh")
            .arg("apiserver")
            .output()
            .expect("run k8s_down.sh");
        assert!(out.status.success(), "k8s_down.sh failed");
    }

    /// Start the API server again on the same port and etcd.
    pub fn start_apiserver(&self) {
        self.up();
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("pki/ca.crt")
    }

    /// A client with the admin token.
    pub async fn client(&self) -> kube::Client {
        kube_client(&self.kubeconfig).await
    }

    /// The static token of a user k8s_up.sh created (`admin`, `alice`).
    pub fn token(&self, user: &str) -> String {
        let csv =
            std::fs::read_to_string(self.dir.path().join("pki/tokens.csv")).expect("tokens.csv");
        csv.lines()
            .find_map(|l| {
                let mut f = l.split(',');
                let token = f.next()?;
                (f.next()? == user).then(|| token.to_string())
            })
            .unwrap_or_else(|| panic!("no token for {user}"))
    }

    /// The API server's audit log (k8s_up.sh, deploy/apiserver/audit-policy.yaml).
    pub fn audit_log(&self) -> PathBuf {
        self.dir.path().join("audit.log")
    }

    /// A kubeconfig for the same server that authenticates with `token`.
    pub fn kubeconfig_with_token(&self, name: &str, token: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority: {}\nusers:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: local\n  context: {{cluster: local, user: u}}\ncurrent-context: local\n",
            self.port,
            self.ca().display()
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        let _ = self.script("k8s_down.sh").output();
    }
}

/// A client for a kubeconfig's current context.
pub async fn kube_client(kubeconfig: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kube config");
    kube::Client::try_from(cfg).expect("kube client")
}

/// Create (or replace) an object from its JSON manifest, resolving its kind through discovery.
pub async fn kube_apply(client: &kube::Client, manifest: serde_json::Value) -> serde_json::Value {
    use kube::api::{Api, DynamicObject, Patch, PatchParams};
    let obj: DynamicObject = serde_json::from_value(manifest).expect("manifest");
    let tm = obj.types.clone().expect("apiVersion and kind");
    let (group, version) = match tm.api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), tm.api_version.clone()),
    };
    let gvk = kube::api::GroupVersionKind::gvk(&group, &version, &tm.kind);
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .expect("discover kind");
    let api: Api<DynamicObject> = match (caps.scope, obj.metadata.namespace.as_deref()) {
        (kube::discovery::Scope::Namespaced, Some(ns)) => {
            Api::namespaced_with(client.clone(), ns, &ar)
        }
        _ => Api::all_with(client.clone(), &ar),
    };
    let name = obj.metadata.name.clone().expect("name");
    let applied = api
        .patch(
            &name,
            &PatchParams::apply("driftwatch-tests").force(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap_or_else(|e| panic!("apply {} {name}: {e}", tm.kind));
    serde_json::to_value(applied).expect("json")
}
