//! Tailing the API server's audit log (`[[kubernetes.clusters]] audit_log`, the log
//! backend's file of JSON lines): new lines are read when a poll asks
//! (`AuditTail::catch_up`, through tokio's file IO, off the runtime's threads), parsed with
//! `k8s_audit::parse_line`, and the completed writes of the last `KEEP_FOR` kept in memory
//! (at most `KEEP` of them) for the pipeline to attribute the poll's changes. Bounded input:
//! a line longer than `MAX_LINE_BYTES` is skipped (counted, logged once per line), at most
//! `MAX_READ_BYTES` are read per call, and a file first seen is read from its last
//! `MAX_READ_BYTES` only. A file that shrank or was replaced (rotation) is read from its start.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::Mutex;

use crate::k8s_audit::{AuditEvent, parse_line};

pub const MAX_LINE_BYTES: usize = 1 << 20;
pub const MAX_READ_BYTES: u64 = 8 << 20;
pub const KEEP: usize = 20_000;
pub const KEEP_FOR: Duration = Duration::from_secs(900);

#[derive(Default)]
struct Tail {
    /// Where the next read starts, in the file `inode` names.
    offset: Option<u64>,
    inode: u64,
    /// An incomplete last line, waiting for the rest.
    partial: Vec<u8>,
    /// Inside a line past `MAX_LINE_BYTES`: drop bytes up to the next newline.
    skipping: bool,
    events: VecDeque<AuditEvent>,
    /// The last read error, logged once until a read succeeds.
    failing: bool,
}

pub struct AuditTail {
    path: PathBuf,
    cluster: String,
    tail: Mutex<Tail>,
}

impl AuditTail {
    pub fn new(path: PathBuf, cluster: String) -> Self {
        AuditTail {
            path,
            cluster,
            tail: Mutex::new(Tail::default()),
        }
    }

    /// Read what was appended since the last call; the writes kept.
    pub async fn catch_up(&self) -> Vec<AuditEvent> {
        let mut t = self.tail.lock().await;
        match self.read(&mut t).await {
            Ok(()) => t.failing = false,
            Err(e) => {
                if !t.failing {
                    tracing::warn!(cluster = %self.cluster, path = %self.path.display(), error = %e, "cannot read the audit log; Kubernetes changes keep their field manager as actor");
                }
                t.failing = true;
            }
        }
        let cutoff = crate::clock::now()
            .checked_sub(jiff::SignedDuration::try_from(KEEP_FOR).unwrap_or_default())
            .unwrap_or_else(|_| crate::clock::now());
        while t.events.front().is_some_and(|e| e.at < cutoff) || t.events.len() > KEEP {
            t.events.pop_front();
        }
        t.events.iter().cloned().collect()
    }

    async fn read(&self, t: &mut Tail) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let mut file = tokio::fs::File::open(&self.path).await?;
        let meta = file.metadata().await?;
        let len = meta.len();
        let start = match t.offset {
            Some(o) if meta.ino() == t.inode && o <= len => o,
            // Rotated or truncated: the new file from its start.
            Some(_) => {
                t.partial.clear();
                t.skipping = false;
                0
            }
            // First sight: only its tail matters (events older than KEEP_FOR are dropped).
            None => {
                let from = len.saturating_sub(MAX_READ_BYTES);
                // A start inside a line: drop up to its end.
                t.skipping = from > 0;
                from
            }
        };
        t.inode = meta.ino();
        let want = (len - start).min(MAX_READ_BYTES);
        let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        file.seek(std::io::SeekFrom::Start(start)).await?;
        (&mut file).take(want).read_to_end(&mut buf).await?;
        t.offset = Some(start + buf.len() as u64);
        self.lines(t, &buf);
        Ok(())
    }

    fn lines(&self, t: &mut Tail, buf: &[u8]) {
        let mut rest = buf;
        while !rest.is_empty() {
            let (chunk, done) = match rest.iter().position(|b| *b == b'\n') {
                Some(i) => (&rest[..i], Some(i + 1)),
                None => (rest, None),
            };
            if !t.skipping {
                t.partial.extend_from_slice(chunk);
                if t.partial.len() > MAX_LINE_BYTES {
                    tracing::warn!(cluster = %self.cluster, limit_bytes = MAX_LINE_BYTES, "an audit log line is longer than the limit; skipped");
                    t.partial.clear();
                    t.skipping = true;
                }
            }
            match done {
                Some(n) => {
                    if !t.skipping && !t.partial.is_empty() {
                        let line = String::from_utf8_lossy(&t.partial).into_owned();
                        match parse_line(&line) {
                            Ok(Some(e)) => t.events.push_back(e),
                            Ok(None) => {}
                            Err(e) => {
                                tracing::debug!(cluster = %self.cluster, error = %e, "an audit log line is not an event; skipped")
                            }
                        }
                    }
                    t.partial.clear();
                    t.skipping = false;
                    rest = &rest[n..];
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, at: &str) -> String {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"id-{name}","stage":"ResponseComplete","verb":"create","user":{{"username":"alice"}},"objectRef":{{"resource":"namespaces","name":"{name}","apiVersion":"v1"}},"responseStatus":{{"code":201}},"stageTimestamp":"{at}"}}"#
        )
    }

    /// Appends in pieces, a line over the limit, rotation: every complete write is read
    /// once, the long line is skipped, and the rotated file is read from its start.
    #[tokio::test]
    async fn tails_appends_skips_long_lines_and_follows_rotation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let now = crate::clock::now().to_string();
        std::fs::write(&path, format!("{}\n", line("old", &now))).expect("write");
        let tail = AuditTail::new(path.clone(), "prod".into());
        let names = |v: Vec<AuditEvent>| v.into_iter().map(|e| e.name).collect::<Vec<_>>();
        assert_eq!(names(tail.catch_up().await), ["old"]);
        let a = line("a", &now);
        let (head, rest) = a.split_at(40);
        let append = |text: &str| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("open");
            f.write_all(text.as_bytes()).expect("append");
        };
        append(head);
        assert_eq!(names(tail.catch_up().await), ["old"], "half a line waits");
        append(&format!("{rest}\n"));
        let long = format!("{}\n", "x".repeat(MAX_LINE_BYTES + 10));
        append(&long);
        append(&format!("{}\n", line("b", &now)));
        assert_eq!(names(tail.catch_up().await), ["old", "a", "b"]);
        // Rotation: the file is replaced by a new, shorter one.
        std::fs::rename(&path, dir.path().join("audit-1.log")).expect("rotate");
        std::fs::write(&path, format!("{}\n", line("c", &now))).expect("new file");
        assert_eq!(names(tail.catch_up().await), ["old", "a", "b", "c"]);
    }
}
