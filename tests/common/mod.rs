//! Real local peers for integration tests: moto's server (one per test, from the venv the
//! test script installs), the EC2 paging proxy, and an HTTP receiver on 127.0.0.1:0.
#![allow(dead_code)]

pub mod fake_api;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::types::{IpPermission, IpRange};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn moto_server_bin() -> PathBuf {
    match std::env::var("DRIFTWATCH_MOTO_SERVER") {
        Ok(p) => PathBuf::from(p),
        Err(_) => panic!(
            "DRIFTWATCH_MOTO_SERVER is not set: run the suite with scripts/test.sh, which installs moto's server"
        ),
    }
}

pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200") || buf.starts_with("HTTP/1.0 200")
}

/// moto's server on its own port; killed on drop.
pub struct Moto {
    child: Child,
    pub port: u16,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        Self::start_with(&[])
    }

    /// With environment settings for moto (e.g. MOTO_IAM_LOAD_MANAGED_POLICIES=true).
    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        let port = free_port();
        let child = Command::new(moto_server_bin())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let m = Moto {
            child,
            port,
            url: format!("http://127.0.0.1:{port}"),
        };
        wait_until("moto's server", Duration::from_secs(30), || {
            http_ok(port, "/moto-api/")
        });
        m
    }

    /// Freeze the process (SIGSTOP): connections are accepted by the kernel but never answered.
    pub fn pause(&self) {
        signal(self.child.id(), "STOP");
    }

    pub fn resume(&self) {
        signal(self.child.id(), "CONT");
    }

    pub async fn ec2(&self) -> aws_sdk_ec2::Client {
        ec2_client(&self.url)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        signal(self.child.id(), "CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -{sig} {pid} failed");
}

pub fn ec2_client(url: &str) -> aws_sdk_ec2::Client {
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}

pub async fn create_group(ec2: &aws_sdk_ec2::Client, name: &str) -> String {
    ec2.create_security_group()
        .group_name(name)
        .description(format!("{name} group"))
        .send()
        .await
        .expect("create group")
        .group_id()
        .expect("group id")
        .to_string()
}

pub fn tcp(port: i32, cidr: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
        .build()
}

pub async fn revoke(ec2: &aws_sdk_ec2::Client, group: &str, port: i32, cidr: &str) {
    ec2.revoke_security_group_ingress()
        .group_id(group)
        .ip_permissions(tcp(port, cidr))
        .send()
        .await
        .expect("revoke ingress");
}

pub async fn authorize(ec2: &aws_sdk_ec2::Client, group: &str, port: i32, cidr: &str) {
    ec2.authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(tcp(port, cidr))
        .send()
        .await
        .expect("authorize ingress");
}

/// The EC2 paging proxy (scripts/ec2_paging_proxy.py) in front of an upstream.
pub struct PagingProxy {
    child: Child,
    pub port: u16,
    pub url: String,
}

impl PagingProxy {
    pub fn start(upstream: &str, page_size: u32, fail_page: u32) -> PagingProxy {
        Self::start_with(upstream, page_size, fail_page, &[])
    }

    /// With extra flags (`--split-gaad`, `--throttle-iam`).
    pub fn start_with(
        upstream: &str,
        page_size: u32,
        fail_page: u32,
        flags: &[&str],
    ) -> PagingProxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let port_file = dir.path().join("port");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ec2_paging_proxy.py");
        let child = Command::new("python3")
            .arg(script)
            .args([
                "--upstream",
                upstream,
                "--page-size",
                &page_size.to_string(),
            ])
            .args(["--fail-page", &fail_page.to_string()])
            .args(flags)
            .arg("--port-file")
            .arg(&port_file)
            .spawn()
            .expect("start paging proxy");
        let mut port = 0u16;
        wait_until("paging proxy port file", Duration::from_secs(20), || {
            port = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            port != 0
        });
        PagingProxy {
            child,
            port,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    pub fn stats(&self) -> serde_json::Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect proxy");
        s.write_all(b"GET /proxy/stats HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .expect("write");
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        let body = buf.split("\r\n\r\n").nth(1).unwrap_or("{}");
        serde_json::from_str(body).expect("stats json")
    }
}

impl Drop for PagingProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone)]
pub struct Received {
    /// The status this receiver answered.
    pub status: u16,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

/// An HTTP receiver on 127.0.0.1:0 that records every request and answers `status`.
pub struct Receiver {
    pub url: String,
    requests: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    /// Seconds to send in Retry-After with non-2xx answers (0: no header).
    retry_after: Arc<AtomicU16>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let retry_after = Arc::new(AtomicU16::new(0));
        let (r, st, ra) = (requests.clone(), status.clone(), retry_after.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (r, st, ra) = (r.clone(), st.clone(), ra.clone());
                std::thread::spawn(move || serve(conn, &r, &st, &ra));
            }
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            requests,
            status,
            retry_after,
        }
    }

    pub fn set_retry_after(&self, secs: u16) {
        self.retry_after.store(secs, Ordering::SeqCst);
    }

    pub fn set_status(&self, s: u16) {
        self.status.store(s, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().expect("lock").clone()
    }
}

/// One HTTP/1.1 request from a kept-alive connection: (method, target, lower-cased headers,
/// body), or `None` when the peer closed it.
pub fn read_request(
    reader: &mut BufReader<TcpStream>,
) -> Option<(String, String, HashMap<String, String>, String)> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some((
        method,
        target,
        headers,
        String::from_utf8_lossy(&body).to_string(),
    ))
}

fn serve(
    conn: TcpStream,
    requests: &Mutex<Vec<Received>>,
    status: &AtomicU16,
    retry_after: &AtomicU16,
) {
    let mut reader = BufReader::new(conn);
    while let Some((_, path, headers, body)) = read_request(&mut reader) {
        let code = status.load(Ordering::SeqCst);
        requests.lock().expect("lock").push(Received {
            status: code,
            path,
            headers,
            body,
        });
        let ra = retry_after.load(Ordering::SeqCst);
        let extra = if ra > 0 && code >= 300 {
            format!("retry-after: {ra}\r\n")
        } else {
            String::new()
        };
        let resp = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n{extra}\r\n");
        if reader.get_mut().write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// A driftwatch configuration in a temporary directory.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

pub struct Settings<'a> {
    pub endpoint: &'a str,
    pub webhook: Option<&'a str>,
    pub timeout_secs: u64,
    pub blind_after_failures: u32,
    pub page_size: u32,
    /// Serve /metrics etc. on this port (`run` only); `None` disables the listener.
    pub http_port: Option<u16>,
    pub interval_secs: u64,
    /// Raw TOML appended to the config (more sinks, routes).
    pub extra: &'a str,
    /// `aws.services` (TOML array items): EC2 only unless a test watches IAM.
    pub services: &'a str,
    /// Raw TOML lines inside `[aws]` after the first account (more accounts).
    pub accounts: &'a str,
}

impl Default for Settings<'_> {
    fn default() -> Self {
        Settings {
            endpoint: "http://127.0.0.1:1",
            webhook: None,
            timeout_secs: 3,
            blind_after_failures: 2,
            page_size: 1000,
            http_port: None,
            interval_secs: 1,
            extra: "",
            services: "\"ec2\"",
            accounts: "",
        }
    }
}

impl Env {
    pub fn new(s: &Settings<'_>) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("changes")).expect("changes dir");
        let config = dir.path().join("driftwatch.toml");
        let env = Env { dir, config };
        env.write_config(s);
        env
    }

    pub fn write_config(&self, s: &Settings<'_>) {
        let mut text = format!(
            r#"state_dir = "state"
interval_secs = {}
shutdown_drain_secs = 10
[records]
dir = "changes"
[sources]
blind_after_failures = {}
[aws]
endpoint_url = "{}"
regions = ["{REGION}"]
timeout_secs = {}
max_attempts = 1
page_size = {}
services = [{}]
[[aws.accounts]]
id = "{ACCOUNT}"
{}
[[sinks]]
type = "log"
"#,
            s.interval_secs,
            s.blind_after_failures,
            s.endpoint,
            s.timeout_secs,
            s.page_size,
            s.services,
            s.accounts
        );
        match s.http_port {
            Some(p) => text.push_str(&format!("[http]\nlisten = \"127.0.0.1:{p}\"\n")),
            None => text.push_str("[http]\nenabled = false\n"),
        }
        if let Some(url) = s.webhook {
            text.push_str(&format!(
                "[[sinks]]\ntype = \"webhook\"\nname = \"hook\"\nurl = \"{url}\"\ntimeout_secs = 2\nmax_attempts = 5\n"
            ));
        }
        text.push_str(s.extra);
        std::fs::write(&self.config, text).expect("write config");
    }

    pub fn record(&self, name: &str, yaml: &str) {
        std::fs::write(self.dir.path().join("changes").join(name), yaml).expect("write record");
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("state/driftwatch.db")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_driftwatch"));
        c.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE")
            .env_remove("DRIFTWATCH_CONFIG")
            .env_remove("DRIFTWATCH_STATE_DIR")
            .env("DRIFTWATCH_LOG", "info");
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        let out = self.command(args).output().expect("run driftwatch");
        Out::from(out)
    }

    /// Ledger entries as exported (parsed `entry` objects).
    pub fn ledger(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["ledger", "export"]);
        assert_eq!(out.code, 0, "ledger export: {}", out.stderr);
        out.stdout
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("export line")["entry"].clone()
            })
            .collect()
    }
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).to_string(),
            stderr: String::from_utf8_lossy(&o.stderr).to_string(),
        }
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// GET a path on 127.0.0.1:port: (status, body), or `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    // axum answers small bodies with content-length; chunked only for streams.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `driftwatch run` as a child process with its log lines collected.
pub struct Running {
    pub child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Running {
    pub fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start driftwatch run");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines: rx,
            log: Vec::new(),
        }
    }

    /// Wait for a log line containing `needle` that arrives after `skip` earlier lines.
    pub fn wait_log_after(&mut self, skip: usize, needle: &str, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(i) = self.log.iter().skip(skip).position(|l| l.contains(needle)) {
                return skip + i;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.log.push(l),
                Err(_) => panic!(
                    "no log line containing `{needle}` within {limit:?}; log:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    pub fn wait_log(&mut self, needle: &str, limit: Duration) -> usize {
        self.wait_log_after(0, needle, limit)
    }

    pub fn signal(&self, sig: &str) {
        signal(self.child.id(), sig);
    }

    /// Wait for exit (bounded) and collect the rest of the log.
    pub fn wait_exit(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.log.push(l);
                }
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "driftwatch did not exit within {limit:?}; log:\n{}",
                    self.log.join("\n")
                );
            }
            while let Ok(l) = self.lines.try_recv() {
                self.log.push(l);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Prometheus Alertmanager from Debian's package, routing every alert to `webhook_url` with
/// resolved notifications; killed on drop.
pub struct Alertmanager {
    child: Child,
    _dir: tempfile::TempDir,
    pub port: u16,
    pub url: String,
}

impl Alertmanager {
    pub fn start(webhook_url: &str) -> Alertmanager {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: hook\n  group_by: ['drift_id']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {webhook_url}\n        send_resolved: true\n"
            ),
        )
        .expect("write alertmanager config");
        let port = free_port();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager (scripts/test.sh installs it from Debian)");
        let am = Alertmanager {
            child,
            _dir: dir,
            port,
            url: format!("http://127.0.0.1:{port}"),
        };
        wait_until("Alertmanager ready", Duration::from_secs(30), || {
            http_get(port, "/-/ready").is_some_and(|(s, _)| s == 200)
        });
        am
    }

    /// `GET /api/v2/alerts`: the alerts Alertmanager holds as active.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let (status, body) = http_get(self.port, "/api/v2/alerts").expect("alertmanager answers");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Vec<serde_json::Value>>(&body).expect("alerts JSON")
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto's server, a webhook receiver, and a config whose webhook sink points at it: the setup
/// most scenarios share.
pub fn moto_with_webhook() -> (Moto, Receiver, Env) {
    let moto = Moto::start();
    let hook = Receiver::start();
    let env = Env::new(&Settings {
        endpoint: &moto.url,
        webhook: Some(&hook.url),
        ..Default::default()
    });
    (moto, hook, env)
}

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
