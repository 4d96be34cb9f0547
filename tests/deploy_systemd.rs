//! The systemd unit: `systemd-analyze verify` without a warning and an exposure score of at
//! most 2.0 in `systemd-analyze security` (scripts/test.sh installs systemd when missing).

use std::path::Path;
use std::process::Command;

/// The shipped unit with ExecStart pointing at the binary under test (verify checks that the
/// executable exists).
fn unit_in_tempdir() -> (tempfile::TempDir, std::path::PathBuf) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/driftwatch.service"),
    )
    .expect("read unit");
    let text = text.replace(
        "/usr/local/bin/driftwatch",
        env!("CARGO_BIN_EXE_driftwatch"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("driftwatch.service");
    std::fs::write(&path, text).expect("write unit");
    (dir, path)
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    let (_dir, unit) = unit_in_tempdir();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze (scripts/test.sh installs systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verify failed: {stderr}");
    // Unknown keys only warn with exit 0: any output is a failure.
    assert!(stderr.trim().is_empty(), "verify warned: {stderr}");
}

#[test]
fn unit_is_hardened() {
    let (_dir, unit) = unit_in_tempdir();
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score from `{line}`"));
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{text}");
}

#[test]
fn unit_declares_notify_watchdog_and_reload() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/driftwatch.service"),
    )
    .expect("read unit");
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "DynamicUser=yes",
        "StateDirectory=driftwatch",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
    ] {
        assert!(text.contains(key), "unit lacks {key:?}");
    }
}
