//! TLS session secrets from an NSS key log (the `SSLKEYLOGFILE` format, also what pcapng
//! Decryption Secrets Blocks carry): `CLIENT_RANDOM <client random> <master secret>` for
//! TLS 1.2 and earlier, `CLIENT_EARLY_TRAFFIC_SECRET` (0-RTT), `CLIENT_HANDSHAKE_TRAFFIC_SECRET`, `SERVER_HANDSHAKE_TRAFFIC_SECRET`,
//! `CLIENT_TRAFFIC_SECRET_0` and `SERVER_TRAFFIC_SECRET_0` for TLS 1.3, each keyed by the
//! ClientHello's random. Secrets stay in this process: they are never written into a
//! document, a log line or an error.
//!
//! A key log file given by path is read again when a session's secrets are missing and the
//! file has grown (a client still writing it while the capture runs).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Mutex;

/// Key log bytes read per file, at most (a log of millions of sessions is refused past it).
const MAX_LOG: u64 = 256 << 20;

/// The secrets of one session.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    pub master: Option<Vec<u8>>,
    pub client_early: Option<Vec<u8>>,
    pub client_handshake: Option<Vec<u8>>,
    pub server_handshake: Option<Vec<u8>>,
    pub client_traffic: Option<Vec<u8>>,
    pub server_traffic: Option<Vec<u8>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Which secrets are there, never their bytes.
        f.debug_struct("Secrets")
            .field("master", &self.master.is_some())
            .field("tls13", &self.client_traffic.is_some())
            .finish()
    }
}

#[derive(Default)]
struct Inner {
    by_random: HashMap<[u8; 32], Secrets>,
    /// Key log files and how far each was read.
    files: Vec<(PathBuf, u64)>,
}

/// Secrets by client random, shared by every flow's TLS decoder.
#[derive(Default)]
pub struct KeyLog {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.inner.lock().map(|i| i.by_random.len()).unwrap_or(0);
        write!(f, "KeyLog {{ {n} sessions }}")
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 256 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

impl KeyLog {
    pub fn new() -> Self {
        KeyLog::default()
    }

    /// Adds the lines of a key log; returns how many were taken. Unknown labels and comments
    /// are skipped.
    pub fn add_text(&self, text: &str) -> usize {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        add_lines(&mut inner, text)
    }

    /// Reads a key log file now, and again later when secrets are missing and it has grown.
    pub fn add_file(&self, path: PathBuf) -> Result<usize, String> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.files.push((path, 0));
        let i = inner.files.len() - 1;
        read_file(&mut inner, i)
    }

    /// The secrets of the session whose ClientHello had `random`.
    pub fn get(&self, random: &[u8; 32]) -> Option<Secrets> {
        self.get_with(random, |_| true)
    }

    /// The session's secrets once `complete` says they are all there: until then the key log
    /// files are read again (what they gained since) at each call. A client writes its secrets
    /// as its handshake goes, and a live capture can be quicker than the file.
    pub fn get_with(&self, random: &[u8; 32], complete: impl Fn(&Secrets) -> bool) -> Option<Secrets> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = inner.by_random.get(random).filter(|s| complete(s)) {
            return Some(s.clone());
        }
        for i in 0..inner.files.len() {
            let _ = read_file(&mut inner, i);
        }
        inner.by_random.get(random).cloned()
    }

    /// Whether secrets can still arrive: a key log file is read as it grows.
    pub fn follows_files(&self) -> bool {
        !self.inner.lock().unwrap_or_else(|e| e.into_inner()).files.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.by_random.is_empty() && inner.files.is_empty()
    }
}

fn add_lines(inner: &mut Inner, text: &str) -> usize {
    let mut n = 0;
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(label), Some(random), Some(secret)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let (Some(random), Some(secret)) = (unhex(random), unhex(secret)) else { continue };
        let Ok(random) = <[u8; 32]>::try_from(random) else { continue };
        let e = inner.by_random.entry(random).or_default();
        let slot = match label {
            "CLIENT_RANDOM" => &mut e.master,
            "CLIENT_EARLY_TRAFFIC_SECRET" => &mut e.client_early,
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut e.client_handshake,
            "SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut e.server_handshake,
            "CLIENT_TRAFFIC_SECRET_0" => &mut e.client_traffic,
            "SERVER_TRAFFIC_SECRET_0" => &mut e.server_traffic,
            _ => continue,
        };
        *slot = Some(secret);
        n += 1;
    }
    n
}

/// Reads what was appended to file `i` since the last read (whole lines only).
fn read_file(inner: &mut Inner, i: usize) -> Result<usize, String> {
    let Some((path, done)) = inner.files.get(i).cloned() else { return Ok(0) };
    // Errors name the file, never its contents.
    let mut f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let len = f.metadata().map_err(|e| format!("{}: {e}", path.display()))?.len();
    if len < done {
        // Truncated and rewritten: read it again from the start.
        inner.files[i].1 = 0;
        return read_file(inner, i);
    }
    if len == done {
        return Ok(0);
    }
    if len > MAX_LOG {
        return Err(format!("{}: larger than {MAX_LOG} bytes", path.display()));
    }
    f.seek(SeekFrom::Start(done)).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = Vec::new();
    f.take(len - done).read_to_end(&mut buf).map_err(|e| format!("{}: {e}", path.display()))?;
    // A line still being written is left for the next read.
    let whole = buf.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    inner.files[i].1 = done + whole as u64;
    Ok(add_lines(inner, &String::from_utf8_lossy(&buf[..whole])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_log_lines_are_read_by_label_and_junk_is_skipped() {
        let k = KeyLog::new();
        let r = "ab".repeat(32);
        let text = format!(
            "# comment\nCLIENT_RANDOM {r} {m}\nSERVER_TRAFFIC_SECRET_0 {r} {s}\nCLIENT_RANDOM zz 00\nEXPORTER_SECRET {r} 00\n",
            m = "01".repeat(48),
            s = "02".repeat(32)
        );
        assert_eq!(k.add_text(&text), 2);
        let s = k.get(&[0xab; 32]).unwrap_or_default();
        assert_eq!(s.master.as_deref(), Some(&[1u8; 48][..]));
        assert_eq!(s.server_traffic.as_deref(), Some(&[2u8; 32][..]));
        assert!(k.get(&[0; 32]).is_none());
        assert!(!format!("{s:?}").contains("01"), "secrets never reach Debug output");
    }

    #[test]
    fn a_key_log_file_is_read_again_when_it_grows() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("keys.log");
        std::fs::write(&p, format!("CLIENT_RANDOM {} {}\n", "11".repeat(32), "01".repeat(48)))
            .unwrap_or_else(|e| panic!("{e}"));
        let k = KeyLog::new();
        assert_eq!(k.add_file(p.clone()), Ok(1));
        assert!(k.get(&[0x22; 32]).is_none());
        let mut more = std::fs::read_to_string(&p).unwrap_or_default();
        more.push_str(&format!(
            "CLIENT_RANDOM {} {}\nCLIENT_RANDOM {}",
            "22".repeat(32),
            "02".repeat(48),
            "33".repeat(32)
        ));
        std::fs::write(&p, more).unwrap_or_else(|e| panic!("{e}"));
        assert!(k.get(&[0x22; 32]).is_some(), "appended lines are read when a session needs them");
        assert!(k.get(&[0x33; 32]).is_none(), "a line still being written waits");
    }
}
