//! A fake ticket-system API on 127.0.0.1:0 (GitHub REST, Jira REST v3, Linear GraphQL) that
//! answers from fixture files in `tests/fixtures/api/`. Each fixture is one documented
//! response: `{"_doc": "<the documentation page it follows>", "status": 200, "headers":
//! {...}, "body": ...}`; `_doc` is stripped, `{base}` and `{vars}` are filled in. Every GET
//! answer carries an ETag of its body and a matching `If-None-Match` gets 304, as GitHub does.
//! On request, one path gets a body that never ends instead. Every request is recorded.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::Received;

/// Which fixture answers a request: method, path (without query) and substrings that must all
/// occur in the query string or the body. The first matching route answers.
#[derive(Clone, Debug)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub contains: Vec<String>,
    pub fixture: &'static str,
}

pub fn route(
    method: &'static str,
    path: &'static str,
    contains: &[&str],
    fixture: &'static str,
) -> Route {
    Route {
        method,
        path,
        contains: contains.iter().map(|s| s.to_string()).collect(),
        fixture,
    }
}

struct Shared {
    routes: Vec<Route>,
    vars: Mutex<HashMap<String, String>>,
    requests: Mutex<Vec<Received>>,
    /// When non-zero, every request gets this status (an outage).
    forced: AtomicU16,
    /// When set, a GET of this path gets a 200 whose JSON body never ends (no length, written
    /// until the client hangs up); `endless_sent` counts its bytes.
    endless: Mutex<Option<String>>,
    endless_sent: AtomicUsize,
    /// Milliseconds to wait before each answer (a slow ticket system).
    delay_ms: AtomicUsize,
    base: String,
}

pub struct FakeApi {
    pub url: String,
    shared: Arc<Shared>,
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/api")
}

impl FakeApi {
    pub fn start(routes: Vec<Route>) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake api");
        let port = listener.local_addr().expect("addr").port();
        let base = format!("http://127.0.0.1:{port}");
        for r in &routes {
            assert!(
                fixture_dir().join(r.fixture).is_file(),
                "fixture {} missing",
                r.fixture
            );
        }
        let shared = Arc::new(Shared {
            routes,
            vars: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            forced: AtomicU16::new(0),
            endless: Mutex::new(None),
            endless_sent: AtomicUsize::new(0),
            delay_ms: AtomicUsize::new(0),
            base: base.clone(),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        FakeApi { url: base, shared }
    }

    /// Fill `{name}` in fixtures with `value` from now on.
    pub fn set_var(&self, name: &str, value: &str) {
        self.shared
            .vars
            .lock()
            .expect("lock")
            .insert(name.to_string(), value.to_string());
    }

    /// Answer every request with this status (0: back to the fixtures).
    pub fn force_status(&self, status: u16) {
        self.shared.forced.store(status, Ordering::SeqCst);
    }

    /// Answer GETs of `path` with an endless body (None: back to the fixtures).
    pub fn endless_answer(&self, path: Option<&str>) {
        *self.shared.endless.lock().expect("lock") = path.map(str::to_string);
    }

    /// Wait this long before each answer from now on.
    pub fn set_delay(&self, d: std::time::Duration) {
        self.shared
            .delay_ms
            .store(d.as_millis() as usize, Ordering::SeqCst);
    }

    /// Bytes written by endless answers so far.
    pub fn endless_sent(&self) -> usize {
        self.shared.endless_sent.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().expect("lock").clone()
    }
}

fn fill(text: &str, s: &Shared) -> String {
    let mut out = text.replace("{base}", &s.base);
    for (k, v) in s.vars.lock().expect("lock").iter() {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// (status, headers, body) for a request.
fn answer(
    s: &Shared,
    method: &str,
    target: &str,
    headers: &HashMap<String, String>,
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let forced = s.forced.load(Ordering::SeqCst);
    if forced != 0 {
        return (forced, Vec::new(), "{\"message\":\"unavailable\"}".into());
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let Some(r) = s.routes.iter().find(|r| {
        r.method == method
            && r.path == path
            && r.contains
                .iter()
                .all(|c| query.contains(c.as_str()) || body.contains(c.as_str()))
    }) else {
        return (
            404,
            Vec::new(),
            format!("{{\"message\":\"no fixture for {method} {target}\"}}"),
        );
    };
    let text = std::fs::read_to_string(fixture_dir().join(r.fixture)).expect("read fixture");
    let doc: serde_json::Value = serde_json::from_str(&fill(&text, s)).expect("fixture is JSON");
    assert!(
        doc["_doc"]
            .as_str()
            .is_some_and(|d| d.starts_with("https://")),
        "{} names no documentation page",
        r.fixture
    );
    let status = doc["status"].as_u64().unwrap_or(200) as u16;
    let body = doc["body"].to_string();
    let mut out: Vec<(String, String)> = doc["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    if method == "GET" && status == 200 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut h);
        let etag = format!("\"{:016x}\"", h.finish());
        if headers.get("if-none-match") == Some(&etag) {
            return (304, vec![("etag".into(), etag)], String::new());
        }
        out.push(("etag".into(), etag));
    }
    (status, out, body)
}

/// A 200 with a JSON array that never closes, delimited by the connection's end (HTTP/1.1
/// without a length), written until the client hangs up.
fn endless(conn: &mut TcpStream, s: &Shared) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n[";
    if conn.write_all(head.as_bytes()).is_err() {
        return;
    }
    let item = format!("{{\"title\":\"{}\"}},", "a".repeat(64 * 1024));
    while conn.write_all(item.as_bytes()).is_ok() {
        s.endless_sent.fetch_add(item.len(), Ordering::SeqCst);
    }
}

fn serve(conn: TcpStream, s: &Shared) {
    let mut reader = BufReader::new(conn);
    while let Some((method, target, headers, body)) = super::read_request(&mut reader) {
        let path = target.split_once('?').map_or(target.as_str(), |(p, _)| p);
        if method == "GET" && s.endless.lock().expect("lock").as_deref() == Some(path) {
            s.requests.lock().expect("lock").push(Received {
                status: 200,
                path: format!("{method} {target}"),
                headers,
                body,
            });
            endless(reader.get_mut(), s);
            return;
        }
        let delay = s.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(std::time::Duration::from_millis(delay as u64));
        }
        let (status, extra, text) = answer(s, &method, &target, &headers, &body);
        s.requests.lock().expect("lock").push(Received {
            status,
            path: format!("{method} {target}"),
            headers,
            body,
        });
        let mut resp = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            text.len()
        );
        for (k, v) in extra {
            resp.push_str(&format!("{k}: {v}\r\n"));
        }
        resp.push_str("\r\n");
        resp.push_str(&text);
        if reader.get_mut().write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}
