//! The embedded store: documents in a local SQLite database (`<data-dir>/iotw.sqlite`), written
//! in batched transactions, found again with [`crate::query`].

use crate::query::{self, Param};
use crate::{ShipError, Sink, Written};
use iotw_event::{Event, Nanos};
use rusqlite::{params_from_iter, Connection, OpenFlags, ToSql};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "iotw.sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id      TEXT PRIMARY KEY,
    ts      INTEGER NOT NULL,
    dataset TEXT NOT NULL,
    doc     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_dataset_ts ON events (dataset, ts);
";

#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Documents written, and those ignored because their id was already stored.
    pub inserted: u64,
    pub duplicates: u64,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub ts: Nanos,
    pub dataset: String,
    pub doc: serde_json::Value,
}

/// What to search for, and how much of it.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub query: String,
    pub since: Option<Nanos>,
    pub until: Option<Nanos>,
    pub limit: usize,
    pub oldest_first: bool,
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, ShipError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| ShipError::Io { what: format!("creating {}", data_dir.display()), source })?;
        let path = data_dir.join(FILE_NAME);
        let err = |source| ShipError::Store { path: path.display().to_string(), source };
        let conn = Connection::open(&path).map_err(err)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;").map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Store { conn, path, inserted: 0, duplicates: 0 })
    }

    /// Opens an existing store read-only (for `iotw search`): a clear error if there is none.
    pub fn open_read_only(data_dir: &Path) -> Result<Self, ShipError> {
        let path = data_dir.join(FILE_NAME);
        if !path.is_file() {
            return Err(ShipError::Io {
                what: format!("no store at {} (run `iotw capture` first, or pass --data-dir)", path.display()),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let err = |source| ShipError::Store { path: path.display().to_string(), source };
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
        Ok(Store { conn, path, inserted: 0, duplicates: 0 })
    }

    fn err(&self, source: rusqlite::Error) -> ShipError {
        ShipError::Store { path: self.path.display().to_string(), source }
    }

    pub fn count(&self) -> Result<u64, ShipError> {
        self.conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    pub fn search(&self, req: &SearchRequest) -> Result<Vec<Hit>, ShipError> {
        let node = query::parse(&req.query)?;
        let mut params = Vec::new();
        let mut sql = format!("SELECT ts, dataset, doc FROM events WHERE {}", query::to_sql(&node, &mut params));
        if let Some(s) = req.since {
            sql.push_str(" AND ts >= ?");
            params.push(Param::Real(s as f64));
        }
        if let Some(u) = req.until {
            sql.push_str(" AND ts < ?");
            params.push(Param::Real(u as f64));
        }
        sql.push_str(if req.oldest_first { " ORDER BY ts ASC, rowid ASC" } else { " ORDER BY ts DESC, rowid DESC" });
        sql.push_str(&format!(" LIMIT {}", req.limit.max(1)));
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let bound: Vec<Box<dyn ToSql>> = params
            .into_iter()
            .map(|p| -> Box<dyn ToSql> {
                match p {
                    Param::Text(t) => Box::new(t),
                    Param::Real(r) => Box::new(r),
                }
            })
            .collect();
        let rows = stmt
            .query_map(params_from_iter(bound.iter()), |r| {
                let doc: String = r.get(2)?;
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, doc))
            })
            .map_err(|e| self.err(e))?;
        let mut hits = Vec::new();
        for row in rows {
            let (ts, dataset, doc) = row.map_err(|e| self.err(e))?;
            let doc = serde_json::from_str(&doc).unwrap_or(serde_json::Value::String(doc));
            hits.push(Hit { ts, dataset, doc });
        }
        Ok(hits)
    }
}

impl Sink for Store {
    fn name(&self) -> &'static str {
        "store"
    }

    fn write(&mut self, batch: &[Event]) -> Result<Written, ShipError> {
        let path = self.path.display().to_string();
        let err = |source| ShipError::Store { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        let mut inserted = 0;
        {
            let mut stmt = tx
                .prepare_cached("INSERT OR IGNORE INTO events (id, ts, dataset, doc) VALUES (?1, ?2, ?3, ?4)")
                .map_err(err)?;
            let mut buf = Vec::with_capacity(1024);
            for e in batch {
                buf.clear();
                e.write_json(&mut buf);
                let doc = std::str::from_utf8(&buf).unwrap_or_default();
                inserted += stmt.execute((&e.id, e.ts, e.dataset, doc)).map_err(err)? as u64;
            }
        }
        tx.commit().map_err(err)?;
        let duplicates = batch.len() as u64 - inserted;
        self.inserted += inserted;
        self.duplicates += duplicates;
        Ok(Written { stored: inserted, duplicates })
    }

    fn flush(&mut self) -> Result<(), ShipError> {
        self.conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);").map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: i64, ip: &str, port: u16, state: &str) -> Event {
        let mut e = Event::new("flow", "event", i * 1_000_000_000, &[&i.to_be_bytes()]);
        e.set("source.ip", ip).set("source.port", port).set("flow.state", state).set("flow.final", i % 2 == 0);
        e.set("related.ip", vec![ip, "10.9.9.9"]);
        e.set("sip.headers.x-genesys-calluuid", format!("UUID{i}"));
        e
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        s.write(&[ev(1, "10.0.0.1", 5060, "SF"), ev(2, "10.0.0.2", 5070, "S0"), ev(3, "192.168.1.1", 80, "REJ")])
            .unwrap();
        (dir, s)
    }

    fn ids(s: &Store, q: &str) -> Vec<i64> {
        let req = SearchRequest { query: q.into(), limit: 100, oldest_first: true, ..Default::default() };
        s.search(&req).unwrap().iter().map(|h| h.ts / 1_000_000_000).collect()
    }

    #[test]
    fn field_values_wildcards_booleans_arrays_and_ranges() {
        let (_d, s) = store();
        assert_eq!(ids(&s, "source.ip:10.0.0.1"), [1]);
        assert_eq!(ids(&s, "source.ip:10.0.0.*"), [1, 2]);
        assert_eq!(ids(&s, "flow.state:sf"), [1], "values match case-insensitively");
        assert_eq!(ids(&s, "source.port:>=5070"), [2]);
        assert_eq!(ids(&s, "source.port:5060"), [1]);
        assert_eq!(ids(&s, "flow.final:true"), [2]);
        assert_eq!(ids(&s, "related.ip:10.9.9.9"), [1, 2, 3], "array elements match");
        assert_eq!(ids(&s, "sip.headers.x-genesys-calluuid:UUID3"), [3]);
        assert_eq!(ids(&s, "NOT flow.state:S0 AND (source.port:80 OR source.port:5060)"), [1, 3]);
        assert_eq!(ids(&s, "192.168"), [3], "bare terms search every field");
        assert_eq!(ids(&s, "nosuch.field:*"), Vec::<i64>::new());
        assert_eq!(ids(&s, ""), [1, 2, 3]);
    }

    #[test]
    fn time_range_limit_and_order() {
        let (_d, s) = store();
        let req = SearchRequest {
            query: String::new(),
            since: Some(2_000_000_000),
            until: Some(3_000_000_000),
            limit: 10,
            oldest_first: false,
        };
        assert_eq!(s.search(&req).unwrap().len(), 1);
        let req = SearchRequest { query: String::new(), limit: 2, ..Default::default() };
        let got: Vec<i64> = s.search(&req).unwrap().iter().map(|h| h.ts / 1_000_000_000).collect();
        assert_eq!(got, [3, 2], "newest first by default");
    }

    #[test]
    fn writing_the_same_documents_twice_stores_them_once() {
        let (_d, mut s) = store();
        s.write(&[ev(1, "10.0.0.1", 5060, "SF")]).unwrap();
        assert_eq!(s.count().unwrap(), 3);
        assert_eq!(s.duplicates, 1);
    }

    #[test]
    fn searching_a_missing_store_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Store::open_read_only(dir.path()).unwrap_err();
        assert!(e.to_string().contains("no store at"), "{e}");
    }
}
