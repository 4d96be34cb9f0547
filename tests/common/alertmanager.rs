//! Prometheus Alertmanager from Debian's package.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::*;

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
