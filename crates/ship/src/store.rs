//! The embedded store: documents in a local SQLite database (`<data-dir>/iotw.sqlite`), written
//! in batched transactions, found again with [`crate::query`]. Fireman's alerts (documents of
//! the `alert` dataset) are also rows of a table of their own, by rule, state and key.

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
CREATE TABLE IF NOT EXISTS alerts (
    id      TEXT PRIMARY KEY,
    ts      INTEGER NOT NULL,
    rule    TEXT NOT NULL,
    state   TEXT NOT NULL,
    key     TEXT,
    reason  TEXT,
    message TEXT,
    doc     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_ts ON alerts (ts);
CREATE INDEX IF NOT EXISTS alerts_rule_ts ON alerts (rule, ts);
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

/// Whether the store has the alerts table (one written by an older iotw has not).
fn has_alerts_table(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alerts'", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n > 0)
}

/// One row of the alerts table.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub ts: Nanos,
    pub rule: String,
    /// `firing` or `resolved`.
    pub state: String,
    pub key: Option<String>,
    /// The alert's subject (`event.reason`).
    pub reason: Option<String>,
    pub message: Option<String>,
    pub doc: serde_json::Value,
}

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub rule: Option<String>,
    pub state: Option<String>,
    pub key: Option<String>,
    pub since: Option<Nanos>,
    pub until: Option<Nanos>,
    pub limit: usize,
    pub oldest_first: bool,
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
        let had_alerts = has_alerts_table(&conn).map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        if !had_alerts {
            // A store written before the alerts table: its alert documents become rows, once.
            conn.execute_batch(
                "INSERT OR IGNORE INTO alerts (id, ts, rule, state, key, reason, message, doc)
                 SELECT id, ts, coalesce(json_extract(doc, '$.rule.name'), ''),
                        coalesce(json_extract(doc, '$.fireman.state'), ''), json_extract(doc, '$.fireman.key'),
                        json_extract(doc, '$.event.reason'), json_extract(doc, '$.message'), doc
                 FROM events WHERE dataset = 'alert';",
            )
            .map_err(err)?;
        }
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

impl Store {
    /// The alerts table: newest first unless asked otherwise.
    pub fn alerts(&self, q: &AlertQuery) -> Result<Vec<AlertRow>, ShipError> {
        if !has_alerts_table(&self.conn).map_err(|e| self.err(e))? {
            return Err(ShipError::Io {
                what: format!(
                    "{} has no alerts table yet (written by an older iotw; the next `iotw capture` into it adds \
                     the table, with the alerts already stored)",
                    self.path.display()
                ),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let mut sql = String::from("SELECT ts, rule, state, key, reason, message, doc FROM alerts WHERE 1=1");
        let mut params: Vec<Box<dyn ToSql>> = Vec::new();
        for (column, value) in [("rule", &q.rule), ("state", &q.state), ("key", &q.key)] {
            if let Some(v) = value {
                sql.push_str(&format!(" AND {column} = ?"));
                params.push(Box::new(v.clone()));
            }
        }
        if let Some(s) = q.since {
            sql.push_str(" AND ts >= ?");
            params.push(Box::new(s));
        }
        if let Some(u) = q.until {
            sql.push_str(" AND ts < ?");
            params.push(Box::new(u));
        }
        sql.push_str(if q.oldest_first { " ORDER BY ts ASC, rowid ASC" } else { " ORDER BY ts DESC, rowid DESC" });
        sql.push_str(&format!(" LIMIT {}", q.limit.max(1)));
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params_from_iter(params.iter()), |r| {
                let doc: String = r.get(6)?;
                Ok(AlertRow {
                    ts: r.get(0)?,
                    rule: r.get(1)?,
                    state: r.get(2)?,
                    key: r.get(3)?,
                    reason: r.get(4)?,
                    message: r.get(5)?,
                    doc: serde_json::from_str(&doc).unwrap_or(serde_json::Value::String(doc)),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
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
            let mut alerts = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO alerts (id, ts, rule, state, key, reason, message, doc) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(err)?;
            let mut buf = Vec::with_capacity(1024);
            for e in batch {
                buf.clear();
                e.write_json(&mut buf);
                let doc = std::str::from_utf8(&buf).unwrap_or_default();
                let id = e.id.to_string();
                inserted += stmt.execute((&id, e.ts, e.dataset, doc)).map_err(err)? as u64;
                if e.dataset == "alert" {
                    let text = |f: &str| e.get_str(f).map(|v| v.into_owned());
                    let rule = text("rule.name").unwrap_or_default();
                    let state = text("fireman.state").unwrap_or_default();
                    let row = (&id, e.ts, rule, state, text("fireman.key"), text("event.reason"), text("message"), doc);
                    alerts.execute(row).map_err(err)?;
                }
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
    fn alerts_are_rows_of_their_own_table() {
        let (_d, mut s) = store();
        let alert = |i: i64, rule: &str, state: &str, key: Option<&str>| {
            let mut e = Event::new("alert", "alert", i * 1_000_000_000, &[rule.as_bytes(), &i.to_be_bytes()]);
            e.obj("event").str("reason", &format!("iotw Fireman: {rule}")).end();
            e.obj("rule").str("name", rule).end();
            e.obj("fireman").str("state", state).opt_str("key", key).end();
            e.str("message", "A document matched");
            e
        };
        let batch = vec![
            alert(1, "busy", "firing", Some("5001")),
            ev(2, "10.0.0.1", 5060, "SF"),
            alert(3, "quiet", "firing", None),
            alert(4, "busy", "resolved", Some("5001")),
        ];
        s.write(&batch).unwrap();
        s.write(&batch).unwrap();
        let all = s.alerts(&AlertQuery { limit: 10, ..Default::default() }).unwrap();
        let seen: Vec<(i64, &str, &str)> = all.iter().map(|a| (a.ts / 1_000_000_000, &*a.rule, &*a.state)).collect();
        assert_eq!(seen, [(4, "busy", "resolved"), (3, "quiet", "firing"), (1, "busy", "firing")]);
        assert_eq!(all[1].key, None);
        assert_eq!(all[2].reason.as_deref(), Some("iotw Fireman: busy"));
        assert_eq!(all[2].doc["fireman"]["key"], "5001");
        let q = AlertQuery { rule: Some("busy".into()), state: Some("firing".into()), limit: 10, ..Default::default() };
        assert_eq!(s.alerts(&q).unwrap().len(), 1);
        let q = AlertQuery { since: Some(2_000_000_000), oldest_first: true, limit: 1, ..Default::default() };
        assert_eq!(s.alerts(&q).unwrap()[0].rule, "quiet");
        // The three flows the store starts with, and the three alerts: documents too.
        assert_eq!(s.count().unwrap(), 6);
    }

    #[test]
    fn a_store_from_before_the_alerts_table_gets_its_alerts_as_rows() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
            conn.execute_batch(
                "CREATE TABLE events (id TEXT PRIMARY KEY, ts INTEGER NOT NULL, dataset TEXT NOT NULL, doc TEXT NOT NULL);
                 INSERT INTO events VALUES ('a1', 5, 'alert',
                   '{\"event\":{\"reason\":\"iotw Fireman: busy\"},\"rule\":{\"name\":\"busy\"},\"fireman\":{\"state\":\"firing\",\"key\":\"5001\"}}');
                 INSERT INTO events VALUES ('f1', 6, 'flow', '{}');",
            )
            .unwrap();
        }
        // Read only, it says what to do; opened to write, the table is made and filled.
        let old = Store::open_read_only(dir.path()).unwrap();
        let e = old.alerts(&AlertQuery { limit: 10, ..Default::default() }).unwrap_err().to_string();
        assert!(e.contains("no alerts table yet"), "{e}");
        drop(old);
        let s = Store::open(dir.path()).unwrap();
        let rows = s.alerts(&AlertQuery { limit: 10, ..Default::default() }).unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.ts, &*r.rule, &*r.state, r.key.as_deref()), (5, "busy", "firing", Some("5001")));
        assert_eq!(r.reason.as_deref(), Some("iotw Fireman: busy"));
    }

    #[test]
    fn searching_a_missing_store_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Store::open_read_only(dir.path()).unwrap_err();
        assert!(e.to_string().contains("no store at"), "{e}");
    }
}
