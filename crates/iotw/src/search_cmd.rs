//! `iotw search`: find documents in the embedded store.

use anyhow::Result;
use iotw_ship::store::{SearchRequest, Store};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Query: field:value, wildcards (* ?), "quoted text", field:>N, field:*, AND/OR/NOT, parentheses.
    /// Empty matches everything.
    #[arg(default_value = "")]
    query: String,
    /// Only documents at or after this time (RFC 3339, a date, or an age such as 15m, 2h, 7d).
    #[arg(long)]
    since: Option<String>,
    /// Only documents before this time (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    /// At most this many documents.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Fields shown as table columns (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "@timestamp,event.dataset,message")]
    fields: Vec<String>,
    /// Oldest first (default: newest first).
    #[arg(long)]
    oldest_first: bool,
    /// Where the store is.
    #[arg(long, default_value = "./iotw-data")]
    data_dir: PathBuf,
}

pub fn run(a: SearchArgs) -> Result<()> {
    let store = Store::open_read_only(&a.data_dir)?;
    let t = iotw_event::wall_clock();
    let since = a.since.as_deref().map(|s| iotw_event::parse_time(s, t)).transpose()?;
    let until = a.until.as_deref().map(|s| iotw_event::parse_time(s, t)).transpose()?;
    let req = SearchRequest { query: a.query.clone(), since, until, limit: a.limit, oldest_first: a.oldest_first };
    let hits = store.search(&req)?;
    match a.format {
        Format::Json => {
            for h in &hits {
                println!("{}", h.doc);
            }
        }
        Format::Table => print_table(&hits, &a.fields),
    }
    if a.format == Format::Table {
        eprintln!("{} document{}", hits.len(), if hits.len() == 1 { "" } else { "s" });
    }
    Ok(())
}

fn cell(doc: &serde_json::Value, field: &str) -> String {
    let mut v = doc;
    if let Some(x) = doc.get(field) {
        v = x;
    } else {
        for part in field.split('.') {
            match v.get(part) {
                Some(x) => v = x,
                None => return String::new(),
            }
        }
    }
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn print_table(hits: &[iotw_ship::store::Hit], fields: &[String]) {
    let rows: Vec<Vec<String>> = hits.iter().map(|h| fields.iter().map(|f| cell(&h.doc, f)).collect()).collect();
    print_rows(fields, &rows);
}

/// Columns under their headers, each as wide as its widest cell (at most 100 characters).
pub(crate) fn print_rows(fields: &[String], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = fields.iter().map(|f| f.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count()).min(100);
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let c: String = c.chars().take(*w).collect();
                format!("{c:<w$}", w = *w)
            })
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(fields);
    for r in rows {
        line(r);
    }
}
