//! moto's server (one per test, from the venv the test script installs), EC2 helpers and
//! the EC2 paging proxy.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::*;

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::types::{IpPermission, IpRange};

/// Temporary credentials of a role in `account`, through STS AssumeRole against moto (which
/// lands later calls made with them in that account): key id, secret, session token.
pub async fn assumed_credentials(url: &str, account: &str) -> (String, String, String) {
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(url)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .build(),
    );
    let out = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/seed"))
        .role_session_name("seed")
        .send()
        .await
        .expect("assume role");
    let c = out.credentials().expect("credentials");
    (
        c.access_key_id().to_string(),
        c.secret_access_key().to_string(),
        c.session_token().to_string(),
    )
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

pub fn ec2_client(url: &str) -> aws_sdk_ec2::Client {
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}

pub fn iam_client(url: &str) -> aws_sdk_iam::Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    aws_sdk_iam::Client::from_conf(conf)
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

/// Set a tag on a security group (a change to its metadata resource).
pub async fn tag(ec2: &aws_sdk_ec2::Client, group: &str, key: &str, value: &str) {
    ec2.create_tags()
        .resources(group)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key(key)
                .value(value)
                .build(),
        )
        .send()
        .await
        .expect("tag");
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
