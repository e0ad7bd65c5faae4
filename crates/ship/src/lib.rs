//! Shipping: where documents go.
//!
//! - [`store`]: the embedded default, a local SQLite database (no server) with [`query`]
//!   search: `field:value`, wildcards, AND/OR/NOT, time ranges.
//! - [`ndjson`]: one document per line, optionally as Elasticsearch `_bulk` action + source.
//! - [`queue`]: the bounded queue between the pipeline and the sinks, with its full policy.
//! - [`spool`]: the disk spool between the pipeline and a network sink.
//! - [`elastic`]: Elasticsearch and OpenSearch `_bulk` delivery from the spool; [`aws`]
//!   SigV4 signing; [`templates`] the index templates and lifecycle policies of `iotw setup`.
//! - [`logstash`]: Logstash's beats input (lumberjack v2) or a `json_lines` TCP input, from the
//!   spool; [`tls`] their TLS client.

pub mod aws;
pub mod elastic;
pub mod logstash;
pub mod ndjson;
pub mod query;
pub mod queue;
pub mod spool;
pub mod store;
pub mod templates;
pub mod tls;

use iotw_event::Event;
use std::sync::atomic::AtomicU64;

/// Why a sink failed. The documents of a failed batch are not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error("store {path}")]
    Store {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("query: {0}")]
    Query(#[from] query::QueryError),
    #[error(transparent)]
    Spool(spool::SpoolError),
}

/// What a sink did with a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Documents newly stored (or sent).
    pub stored: u64,
    /// Documents whose id was already stored: success, not a second copy.
    pub duplicates: u64,
}

/// A destination for documents. `write` takes whole batches; `flush` makes them durable.
pub trait Sink: Send {
    fn name(&self) -> &'static str;
    fn write(&mut self, batch: &[Event]) -> Result<Written, ShipError>;
    fn flush(&mut self) -> Result<(), ShipError>;
}

/// The index (or table partition) a document goes to: `iotw-<dataset>-YYYY.MM.DD`.
pub fn daily_index(prefix: &str, e: &Event) -> String {
    index_for(prefix, e.dataset, e.ts)
}

/// `<prefix>-<dataset>-YYYY.MM.DD` for a document of `dataset` at `ts` (UTC).
pub fn index_for(prefix: &str, dataset: &str, ts: iotw_event::Nanos) -> String {
    let day = iotw_event::format_rfc3339_micros(ts);
    let day = day.get(..10).unwrap_or_default();
    format!("{prefix}-{dataset}-{}", day.replace('-', "."))
}

/// What the network sinks did, for the run summary and a metrics endpoint.
#[derive(Debug, Default)]
pub struct ShipCounters {
    /// Documents taken into the spool.
    pub accepted: AtomicU64,
    /// Documents refused by a full spool (or at shutdown while it was full).
    pub spool_dropped: AtomicU64,
    /// Documents the server stored.
    pub stored: AtomicU64,
    /// Documents the server already had (sent again after a restart or a lost answer).
    pub duplicates: AtomicU64,
    /// Documents sent again after a 429, a 5xx or a failed request.
    pub retried: AtomicU64,
    /// Documents refused for good (mapping conflicts...), in the dead-letter file.
    pub dead_lettered: AtomicU64,
    /// Requests made, and those that failed as a whole.
    pub requests: AtomicU64,
    pub request_errors: AtomicU64,
    /// Waits before sending again.
    pub backoffs: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
}

impl ShipCounters {
    pub fn note_error(&self, e: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
