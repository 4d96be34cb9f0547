//! Real local peers for integration tests, one module each: moto's server and the EC2 paging
//! proxy (`aws`), HTTP receivers and a tiny client (`http`), the driftwatch binary with its
//! config and log (`driftwatch`), the store it keeps its state in (`store`), Prometheus Alertmanager (`alertmanager`), a real
//! kube-apiserver (`kube_api`), and fake ticket-system APIs (`fake_api`).
// Each test binary uses only some of these peers.
#![allow(dead_code)]

mod alertmanager;
mod aws;
pub mod cloudtrail;
mod driftwatch;
pub mod fake_api;
mod http;
mod kube_api;
mod store;

#[allow(unused_imports)]
pub use {alertmanager::*, aws::*, driftwatch::*, http::*, kube_api::*, store::*};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

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

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -{sig} {pid} failed");
}
