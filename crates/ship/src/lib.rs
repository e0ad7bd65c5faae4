//! Shipping: where documents go.
//!
//! - [`store`]: the embedded default, a local SQLite database (no server) with [`query`]
//!   search: `field:value`, wildcards, AND/OR/NOT, time ranges.
//! - [`ndjson`]: one document per line, optionally as Elasticsearch `_bulk` action + source.
//! - [`queue`]: the bounded queue between the pipeline and the sinks, with its full policy.
//!
//! Not here yet: Elasticsearch/OpenSearch, Logstash, the disk spool (their own issue).

pub mod ndjson;
pub mod query;
pub mod queue;
pub mod spool;
pub mod store;

use iotw_event::Event;

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
    let day = &iotw_event::format_rfc3339_micros(e.ts)[..10];
    format!("{prefix}-{}-{}", e.dataset, day.replace('-', "."))
}
