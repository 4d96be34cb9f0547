//! An HTTP receiver on 127.0.0.1:0 that records requests, and a minimal GET client.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Received>>,
    status: AtomicU16,
    /// Seconds to send in Retry-After with non-2xx answers (0: no header).
    retry_after: AtomicU16,
    /// Non-2xx answers declare a body of `FLOOD_BYTES` and write it until the client hangs up.
    flood: AtomicBool,
    /// Body bytes written by flooded answers, and how many of them ended (the client closed).
    flood_sent: AtomicUsize,
    flood_ended: AtomicUsize,
    /// Milliseconds to wait before answering, and how many answers were sent.
    delay_ms: AtomicUsize,
    answered: AtomicUsize,
}

/// The body a flooded answer declares: 1 GiB.
pub const FLOOD_BYTES: usize = 1 << 30;

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(State::default());
        state.status.store(200, Ordering::SeqCst);
        let s = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            state,
        }
    }

    pub fn set_retry_after(&self, secs: u16) {
        self.state.retry_after.store(secs, Ordering::SeqCst);
    }

    pub fn set_status(&self, s: u16) {
        self.state.status.store(s, Ordering::SeqCst);
    }

    /// From now on a non-2xx answer declares a 1 GiB body and writes it until the client
    /// closes the connection.
    pub fn flood_errors(&self) {
        self.state.flood.store(true, Ordering::SeqCst);
    }

    /// (body bytes written by flooded answers, flooded answers the client hung up on).
    pub fn flooded(&self) -> (usize, usize) {
        (
            self.state.flood_sent.load(Ordering::SeqCst),
            self.state.flood_ended.load(Ordering::SeqCst),
        )
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().expect("lock").clone()
    }

    /// Wait this long before answering each request (a slow receiver).
    pub fn set_delay(&self, d: Duration) {
        self.state
            .delay_ms
            .store(d.as_millis() as usize, Ordering::SeqCst);
    }

    /// Answers sent so far (a request waiting out the delay is not answered yet).
    pub fn answered(&self) -> usize {
        self.state.answered.load(Ordering::SeqCst)
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

fn serve(conn: TcpStream, state: &State) {
    let mut reader = BufReader::new(conn);
    while let Some((_, path, headers, body)) = read_request(&mut reader) {
        let code = state.status.load(Ordering::SeqCst);
        state.requests.lock().expect("lock").push(Received {
            status: code,
            path,
            headers,
            body,
        });
        let ra = state.retry_after.load(Ordering::SeqCst);
        let extra = if ra > 0 && code >= 300 {
            format!("retry-after: {ra}\r\n")
        } else {
            String::new()
        };
        if code >= 300 && state.flood.load(Ordering::SeqCst) {
            flood(reader.get_mut(), code, &extra, state);
            return;
        }
        let delay = state.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay as u64));
        }
        let resp = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n{extra}\r\n");
        if reader.get_mut().write_all(resp.as_bytes()).is_err() {
            return;
        }
        state.answered.fetch_add(1, Ordering::SeqCst);
    }
}

/// A `code` answer with a `FLOOD_BYTES` body, written until the peer hangs up.
fn flood(conn: &mut TcpStream, code: u16, extra: &str, state: &State) {
    let head = format!("HTTP/1.1 {code} X\r\ncontent-length: {FLOOD_BYTES}\r\n{extra}\r\n");
    if conn.write_all(head.as_bytes()).is_ok() {
        let chunk = [b'E'; 64 * 1024];
        let mut sent = 0;
        while sent < FLOOD_BYTES && conn.write_all(&chunk).is_ok() {
            sent += chunk.len();
            state.flood_sent.fetch_add(chunk.len(), Ordering::SeqCst);
        }
    }
    state.flood_ended.fetch_add(1, Ordering::SeqCst);
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

/// A series' value in the daemon's `/metrics` on `port` (`name{labels}` as exposed), 0 when
/// absent or the listener does not answer.
pub fn metric(port: u16, series: &str) -> f64 {
    let (_, text) = http_get(port, "/metrics").unwrap_or((0, String::new()));
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}
