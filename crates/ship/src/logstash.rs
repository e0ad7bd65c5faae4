//! Logstash through the Beats protocol (lumberjack v2, what Logstash's `beats` input reads):
//! per window, a window frame (`2W`, the number of events), then the events as JSON frames
//! (`2J`: sequence from 1, length, JSON) inside one zlib-compressed frame (`2C`); the window
//! counts as delivered when Logstash acknowledges its last sequence number (`2A`; smaller
//! acknowledgements are progress, read on). Connections stay open across windows.
//!
//! Each event is the document with `@metadata` added: `_id` (the deterministic id, for a
//! `document_id => "%{[@metadata][_id]}"` in Logstash's Elasticsearch output, so that a
//! window sent again after a lost acknowledgement makes no second copy), `index` and
//! `dataset`. Several hosts are used round robin; a failing one rests for a backoff, and the
//! window goes again to the next. Delivery is at least once.
//!
//! [`JsonLines`] is the plainer alternative for a `tcp` input with the `json_lines` codec: the
//! same events, one per line, no acknowledgement (a line written to the socket counts as
//! delivered; if Logstash dies with lines in its buffers they are lost, which the Beats
//! protocol is there to avoid).
//!
//! Both speak TLS when `tls` is set (see [`crate::tls`]).

use crate::elastic::{backoff, excerpt, sleep_unless, Deliver};
use crate::spool::{decode_batch, Claim, SpooledDoc};
use crate::tls::Conn;
use crate::ShipCounters;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct LogstashConfig {
    /// `host:port` of each Logstash beats input.
    pub hosts: Vec<String>,
    /// Events per window (acknowledged together).
    pub window: usize,
    /// zlib level, 0 (none) to 9.
    pub compression_level: u32,
    pub timeout: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Windows in flight at once (one connection each).
    pub concurrency: usize,
    /// Names the index in `@metadata.index` (`<prefix>-<dataset>-YYYY.MM.DD`).
    pub index_prefix: String,
    /// TLS on every connection when set ([`crate::tls::client_config`]).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// One event: the document with `@metadata` (`_id`, `index`, `dataset`) first.
fn event(d: &SpooledDoc<'_>, index_prefix: &str) -> Vec<u8> {
    let mut event = Vec::with_capacity(d.json.len() + 128);
    event.extend_from_slice(b"{\"@metadata\":{\"_id\":");
    iotw_event::json::write_str(&mut event, d.id);
    event.extend_from_slice(b",\"index\":");
    iotw_event::json::write_str(&mut event, &crate::index_for(index_prefix, d.dataset, d.ts));
    event.extend_from_slice(b",\"dataset\":");
    iotw_event::json::write_str(&mut event, d.dataset);
    event.push(b'}');
    match d.json.strip_prefix(b"{") {
        Some(rest) if rest.first() != Some(&b'}') => {
            event.push(b',');
            event.extend_from_slice(rest);
        }
        _ => event.push(b'}'),
    }
    event
}

/// Connects to `addr` with the timeouts of `timeout`, trying each address the name resolves to
/// (`localhost` may give `::1` first while the input listens on `127.0.0.1`), and wraps the
/// socket in TLS when `tls` is given.
fn connect(addr: &str, timeout: Duration, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Conn, String> {
    let mut last = format!("{addr}: no address");
    for sa in addr.to_socket_addrs().map_err(|e| format!("{addr}: {e}"))? {
        match TcpStream::connect_timeout(&sa, timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
                s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
                return Conn::new(s, addr, tls);
            }
            Err(e) => last = format!("{addr} ({sa}): {e}"),
        }
    }
    Err(last)
}

#[derive(Debug)]
pub struct Logstash {
    cfg: LogstashConfig,
    counters: Arc<ShipCounters>,
    next: AtomicUsize,
    rest: Mutex<Vec<(Option<Instant>, u32)>>,
}

/// Largest window answered (the protocol's sequence numbers are 32-bit).
const MAX_WINDOW: usize = 1 << 20;

impl Logstash {
    pub fn new(cfg: LogstashConfig, counters: Arc<ShipCounters>) -> Logstash {
        let rest = Mutex::new(vec![(None, 0); cfg.hosts.len()]);
        Logstash { cfg, counters, next: AtomicUsize::new(0), rest }
    }

    fn pick(&self) -> usize {
        let rest = self.rest.lock().unwrap_or_else(|e| e.into_inner());
        let n = rest.len().max(1);
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| rest.get(i).is_some_and(|r| r.0.is_none_or(|t| t <= now)))
            .or_else(|| (0..rest.len()).min_by_key(|&i| rest.get(i).and_then(|r| r.0)))
            .unwrap_or(0)
    }

    fn mark(&self, host: usize, ok: bool) {
        let mut rest = self.rest.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = rest.get_mut(host) {
            if ok {
                *r = (None, 0);
            } else {
                r.1 = r.1.saturating_add(1);
                r.0 = Some(Instant::now() + backoff(self.cfg.retry_initial, self.cfg.retry_max, r.1));
            }
        }
    }

    /// The frames of one window: `2W` then one `2C` holding the `2J` frames.
    pub fn window_frames(&self, docs: &[SpooledDoc<'_>]) -> Vec<u8> {
        let mut plain = Vec::with_capacity(docs.iter().map(|d| d.json.len() + 128).sum());
        for (i, d) in docs.iter().enumerate() {
            let event = event(d, &self.cfg.index_prefix);
            plain.extend_from_slice(b"2J");
            plain.extend_from_slice(&(i as u32 + 1).to_be_bytes());
            plain.extend_from_slice(&(event.len() as u32).to_be_bytes());
            plain.extend_from_slice(&event);
        }
        let mut z =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(self.cfg.compression_level.min(9)));
        // Writing into a Vec cannot fail.
        let _ = z.write_all(&plain);
        let compressed = z.finish().unwrap_or_default();
        let mut out = Vec::with_capacity(compressed.len() + 12);
        out.extend_from_slice(b"2W");
        out.extend_from_slice(&(docs.len() as u32).to_be_bytes());
        out.extend_from_slice(b"2C");
        out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
        out.extend_from_slice(&compressed);
        out
    }

    /// Sends one window on `conn` (connecting first when there is none) and reads
    /// acknowledgements up to its last sequence number.
    fn send_window(&self, conn: &mut Option<(usize, Conn)>, host: usize, frames: &[u8], n: u32) -> Result<(), String> {
        if conn.as_ref().is_none_or(|(h, _)| *h != host) {
            let addr = self.cfg.hosts.get(host).ok_or("no host")?;
            *conn = Some((host, connect(addr, self.cfg.timeout, self.cfg.tls.as_ref())?));
        }
        let Some((_, s)) = conn.as_mut() else { return Err("no connection".into()) };
        let addr = self.cfg.hosts.get(host).cloned().unwrap_or_default();
        s.write_all(frames).and_then(|_| s.flush()).map_err(|e| format!("{addr}: {e}"))?;
        loop {
            let mut ack = [0u8; 6];
            s.read_exact(&mut ack).map_err(|e| format!("{addr}: waiting for the acknowledgement: {e}"))?;
            if &ack[..2] != b"2A" {
                return Err(format!("{addr}: not an acknowledgement: {}", excerpt(&ack)));
            }
            let seq = u32::from_be_bytes([ack[2], ack[3], ack[4], ack[5]]);
            if seq >= n {
                return Ok(());
            }
        }
    }
}

impl Deliver for Logstash {
    fn deliver(&self, claim: &Claim, stop: &AtomicBool) -> bool {
        let mut docs = Vec::new();
        for r in &claim.records {
            match decode_batch(r) {
                Ok(d) => docs.extend(d),
                Err(e) => self.counters.note_error(format!("spool record unreadable: {e}")),
            }
        }
        let mut conn: Option<(usize, Conn)> = None;
        for window in docs.chunks(self.cfg.window.clamp(1, MAX_WINDOW)) {
            let frames = self.window_frames(window);
            let mut attempt = 0u32;
            loop {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                let host = self.pick();
                self.counters.requests.fetch_add(1, Ordering::Relaxed);
                match self.send_window(&mut conn, host, &frames, window.len() as u32) {
                    Ok(()) => {
                        self.mark(host, true);
                        self.counters.stored.fetch_add(window.len() as u64, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => {
                        conn = None;
                        self.mark(host, false);
                        self.counters.request_errors.fetch_add(1, Ordering::Relaxed);
                        self.counters.retried.fetch_add(window.len() as u64, Ordering::Relaxed);
                        self.counters.note_error(e);
                        attempt = attempt.saturating_add(1);
                        self.counters.backoffs.fetch_add(1, Ordering::Relaxed);
                        sleep_unless(stop, backoff(self.cfg.retry_initial, self.cfg.retry_max, attempt));
                    }
                }
            }
        }
        true
    }

    fn counters(&self) -> &ShipCounters {
        &self.counters
    }

    fn shape(&self) -> (usize, usize, Duration) {
        (self.cfg.concurrency.max(1), 8 << 20, Duration::from_millis(200))
    }

    fn name(&self) -> &'static str {
        "iotw-logstash"
    }
}

/// Logstash's `tcp` input with the `json_lines` codec: one event per line, no acknowledgement.
#[derive(Debug)]
pub struct JsonLines {
    inner: Logstash,
}

impl JsonLines {
    pub fn new(cfg: LogstashConfig, counters: Arc<ShipCounters>) -> JsonLines {
        JsonLines { inner: Logstash::new(cfg, counters) }
    }
}

impl Deliver for JsonLines {
    fn deliver(&self, claim: &Claim, stop: &AtomicBool) -> bool {
        let ls = &self.inner;
        let mut lines = Vec::new();
        let mut n = 0u64;
        for r in &claim.records {
            match decode_batch(r) {
                Ok(docs) => {
                    for d in docs {
                        lines.extend_from_slice(&event(&d, &ls.cfg.index_prefix));
                        lines.push(b'\n');
                        n += 1;
                    }
                }
                Err(e) => ls.counters.note_error(format!("spool record unreadable: {e}")),
            }
        }
        let mut attempt = 0u32;
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let host = ls.pick();
            let addr = ls.cfg.hosts.get(host).cloned().unwrap_or_default();
            ls.counters.requests.fetch_add(1, Ordering::Relaxed);
            let sent = connect(&addr, ls.cfg.timeout, ls.cfg.tls.as_ref()).and_then(|mut s| {
                s.write_all(&lines).and_then(|_| s.flush()).map_err(|e| format!("{addr}: {e}"))?;
                s.close(ls.cfg.timeout.min(Duration::from_secs(5)));
                Ok(())
            });
            match sent {
                Ok(()) => {
                    ls.mark(host, true);
                    ls.counters.stored.fetch_add(n, Ordering::Relaxed);
                    return true;
                }
                Err(e) => {
                    ls.mark(host, false);
                    ls.counters.request_errors.fetch_add(1, Ordering::Relaxed);
                    ls.counters.retried.fetch_add(n, Ordering::Relaxed);
                    ls.counters.note_error(e);
                    attempt = attempt.saturating_add(1);
                    ls.counters.backoffs.fetch_add(1, Ordering::Relaxed);
                    sleep_unless(stop, backoff(ls.cfg.retry_initial, ls.cfg.retry_max, attempt));
                }
            }
        }
    }

    fn counters(&self) -> &ShipCounters {
        &self.inner.counters
    }

    fn shape(&self) -> (usize, usize, Duration) {
        self.inner.shape()
    }

    fn name(&self) -> &'static str {
        "iotw-json-lines"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_a_window_frame_and_compressed_json_frames_with_metadata() {
        let ls = Logstash::new(
            LogstashConfig {
                hosts: vec![],
                window: 10,
                compression_level: 3,
                timeout: Duration::from_secs(1),
                retry_initial: Duration::from_millis(1),
                retry_max: Duration::from_millis(2),
                concurrency: 1,
                index_prefix: "iotw".into(),
                tls: None,
            },
            Arc::default(),
        );
        let docs = [
            SpooledDoc { dataset: "sip", ts: 0, id: "A", json: br#"{"x":1}"# },
            SpooledDoc { dataset: "call", ts: 0, id: "B", json: b"{}" },
        ];
        let f = ls.window_frames(&docs);
        assert_eq!(&f[..6], b"2W\0\0\0\x02");
        assert_eq!(&f[6..8], b"2C");
        let n = u32::from_be_bytes([f[8], f[9], f[10], f[11]]) as usize;
        assert_eq!(f.len(), 12 + n);
        let mut plain = Vec::new();
        flate2::read::ZlibDecoder::new(&f[12..]).read_to_end(&mut plain).unwrap();
        let mut at = 0;
        let mut events = Vec::new();
        while at < plain.len() {
            assert_eq!(&plain[at..at + 2], b"2J");
            let seq = u32::from_be_bytes(plain[at + 2..at + 6].try_into().unwrap());
            let len = u32::from_be_bytes(plain[at + 6..at + 10].try_into().unwrap()) as usize;
            let v: serde_json::Value = serde_json::from_slice(&plain[at + 10..at + 10 + len]).unwrap();
            events.push((seq, v));
            at += 10 + len;
        }
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].0, 1);
        assert_eq!(events[0].1["@metadata"]["_id"], "A");
        assert_eq!(events[0].1["@metadata"]["index"], "iotw-sip-1970.01.01");
        assert_eq!(events[0].1["x"], 1);
        assert_eq!((events[1].0, &events[1].1["@metadata"]["dataset"]), (2, &serde_json::json!("call")));
    }
}
