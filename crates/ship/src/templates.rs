//! Index templates with explicit mappings, made from the field tables of `docs/events.md` (the
//! one list of every field), and the lifecycle policy that goes with them (ILM on
//! Elasticsearch, ISM on OpenSearch). `iotw setup` installs them.
//!
//! Reading the tables: a row names one or more fields (`a.b`, `a.{b,c}`, a bare `c` after
//! `a.b` meaning `a.c`) and their types, in order or one for all (`keyword[]` is keyword,
//! `long (ns)` is long, `ip[]` is ip, `object` is an object of keyword values, `geo_point` is
//! a point). Rows whose type is left empty (URI parts, reasons) take long for `port`,
//! `expires` and `cause`, text for `text`, keyword otherwise. Names with `<...>`, `*` or `[]`
//! (headers, codes, media lists) are left to the dynamic templates: strings as keyword,
//! numbers as long, `*.geo.location` as geo_point.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The field table of `docs/events.md`.
pub const EVENTS_MD: &str = include_str!("../../../docs/events.md");

/// Every dataset with a section of its own.
pub const DATASETS: [&str; 13] = [
    "flow",
    "anomaly",
    "sip",
    "call",
    "sip_summary",
    "http",
    "tls",
    "genesys",
    "genesys_summary",
    "journey",
    "dns",
    "inventory",
    "alert",
];

/// Field name -> mapping type, for the documents of `dataset`: the common rows, the endpoint
/// rows, and the dataset's own.
pub fn fields(doc: &str, dataset: &str) -> BTreeMap<String, &'static str> {
    let mut out = BTreeMap::new();
    let mut section = "";
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = match h {
                _ if h.starts_with("Common") => "common",
                _ if h.starts_with("Endpoints") => "endpoints",
                _ => h.split('`').nth(1).and_then(|s| s.strip_prefix("event.dataset: ")).unwrap_or("other"),
            };
            continue;
        }
        // Journeys and alerts are about calls and rules, not about one flow's endpoints.
        let endpoints = !matches!(dataset, "journey" | "alert");
        let keep = section == "common" || section == dataset || (section == "endpoints" && endpoints);
        if !keep || !line.starts_with("| `") {
            continue;
        }
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(names), Some(types)) = (cols.get(1), cols.get(2)) else { continue };
        let names = expand(names);
        let types: Vec<&str> = types.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
        for (i, name) in names.iter().enumerate() {
            if name.contains('<') || name.contains('*') || name.contains("[]") || name.contains(' ') {
                continue;
            }
            let t = match types.len() {
                0 => guess(name),
                1 => kind(types[0]),
                n if n == names.len() => kind(types[i]),
                _ => continue,
            };
            if let Some(t) = t {
                out.insert(name.clone(), t);
            }
        }
    }
    out
}

/// The field names of a table cell: backticked, comma-separated, brace-expanded; a bare name
/// takes the prefix of the name before it.
fn expand(cell: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut prefix = String::new();
    for part in cell.split('`').skip(1).step_by(2) {
        let full = if part.contains('.') || prefix.is_empty() { part.to_owned() } else { format!("{prefix}{part}") };
        if let Some(i) = full.rfind('.') {
            if !full[..i].contains('{') {
                prefix = full[..=i].to_owned();
            }
        }
        match (full.find('{'), full.find('}')) {
            (Some(a), Some(b)) if a < b => {
                for alt in full[a + 1..b].split(',') {
                    out.push(format!("{}{}{}", &full[..a], alt.trim(), &full[b + 1..]));
                }
            }
            _ => out.push(full),
        }
    }
    out
}

fn kind(t: &str) -> Option<&'static str> {
    let t = t.trim_end_matches("[]");
    Some(match t {
        _ if t.starts_with("long") => "long",
        "keyword" | "keyword or keyword" => "keyword",
        "date" => "date",
        "ip" => "ip",
        "boolean" => "boolean",
        "text" => "text",
        "object" => "object",
        "geo_point" => "geo_point",
        _ => return None,
    })
}

fn guess(name: &str) -> Option<&'static str> {
    Some(match name.rsplit('.').next().unwrap_or(name) {
        "port" | "expires" | "cause" => "long",
        "text" => "text",
        _ => "keyword",
    })
}

/// The mapping of a dataset's documents: explicit properties, dynamic templates for the rest.
pub fn mapping(doc: &str, dataset: &str) -> Value {
    fn insert(node: &mut Map<String, Value>, parts: &[&str], leaf: Value) {
        match parts {
            [] => {}
            [last] => {
                node.insert(last.to_string(), leaf);
            }
            [first, rest @ ..] => {
                let entry = node.entry(first.to_string()).or_insert_with(|| json!({"properties": {}}));
                if let Some(props) = entry.get_mut("properties").and_then(Value::as_object_mut) {
                    insert(props, rest, leaf);
                }
            }
        }
    }
    let mut root = Map::new();
    for (name, t) in fields(doc, dataset) {
        let leaf = match t {
            "object" => json!({"type": "object", "dynamic": true}),
            "keyword" => json!({"type": "keyword", "ignore_above": 8191}),
            t => json!({"type": t}),
        };
        let parts: Vec<&str> = name.split('.').collect();
        insert(&mut root, &parts, leaf);
    }
    json!({
        "date_detection": false,
        "dynamic_templates": [
            {"geo_points": {"path_match": "*.geo.location", "mapping": {"type": "geo_point"}}},
            {"strings_as_keyword": {"match_mapping_type": "string", "mapping": {"type": "keyword", "ignore_above": 8191}}}
        ],
        "properties": root,
    })
}

/// The index template of one dataset (`data_stream`: for data streams), with the lifecycle
/// policy named in its settings on Elasticsearch.
pub fn index_template(doc: &str, prefix: &str, dataset: &str, data_stream: bool, ilm: Option<&str>) -> Value {
    let pattern = if data_stream { format!("{prefix}-{dataset}") } else { format!("{prefix}-{dataset}-*") };
    let mut settings = json!({"index": {"mapping": {"total_fields": {"limit": 5000}}}});
    if let Some(p) = ilm {
        settings["index"]["lifecycle"] = json!({"name": p});
    }
    let mut t = json!({
        "index_patterns": [pattern],
        "priority": 200,
        "template": {"settings": settings, "mappings": mapping(doc, dataset)},
        "_meta": {"description": format!("iotw {dataset} documents (docs/events.md)")},
    });
    if data_stream {
        t["data_stream"] = json!({});
    }
    t
}

/// Delete indices older than `days`: ILM for Elasticsearch.
pub fn ilm_policy(days: u32) -> Value {
    json!({"policy": {"phases": {
        "hot": {"actions": {}},
        "delete": {"min_age": format!("{days}d"), "actions": {"delete": {}}}
    }}})
}

/// The same for OpenSearch (ISM), attached to the prefix's indices.
pub fn ism_policy(prefix: &str, days: u32) -> Value {
    json!({"policy": {
        "description": format!("iotw: delete {prefix} indices after {days} days"),
        "default_state": "hot",
        "states": [
            {"name": "hot", "actions": [], "transitions": [{"state_name": "delete", "conditions": {"min_index_age": format!("{days}d")}}]},
            {"name": "delete", "actions": [{"delete": {}}], "transitions": []}
        ],
        "ism_template": [{"index_patterns": [format!("{prefix}-*")], "priority": 100}]
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_cells_expand_to_field_names() {
        assert_eq!(expand("`sip.code`, `sip.status`"), ["sip.code", "sip.status"]);
        assert_eq!(
            expand("`sip.auth.{scheme,realm,username}`"),
            ["sip.auth.scheme", "sip.auth.realm", "sip.auth.username"]
        );
        assert_eq!(
            expand("`genesys.outbound.campaign`, `calling_list`, `phone`"),
            ["genesys.outbound.campaign", "genesys.outbound.calling_list", "genesys.outbound.phone"]
        );
    }

    #[test]
    fn every_geo_field_is_a_geo_point() {
        for ds in DATASETS {
            let f = fields(EVENTS_MD, ds);
            assert_eq!(f.get("postcode.geo.location").copied(), Some("geo_point"), "{ds}");
            if !matches!(ds, "journey" | "alert") {
                assert_eq!(f.get("source.geo.location").copied(), Some("geo_point"), "{ds}");
                assert_eq!(f.get("destination.geo.location").copied(), Some("geo_point"), "{ds}");
            }
            // Per-role phone places are mapped by the dynamic template.
            let m = mapping(EVENTS_MD, ds);
            let t = &m["dynamic_templates"][0]["geo_points"];
            assert_eq!(t["path_match"], "*.geo.location");
            assert_eq!(t["mapping"]["type"], "geo_point");
        }
    }

    #[test]
    fn documented_fields_get_their_documented_types() {
        let sip = fields(EVENTS_MD, "sip");
        for (f, t) in [
            ("@timestamp", "date"),
            ("source.ip", "ip"),
            ("source.port", "long"),
            ("sip.code", "long"),
            ("sip.status", "keyword"),
            ("sip.uri.port", "long"),
            ("sip.from.uri.host", "keyword"),
            ("sip.reason.cause", "long"),
            ("sip.reason.text", "text"),
            ("event.duration", "long"),
            ("related.ip", "ip"),
            ("message", "text"),
        ] {
            assert_eq!(sip.get(f).copied(), Some(t), "{f}");
        }
        assert!(!sip.keys().any(|k| k.contains('<') || k.contains('*')));
        let g = fields(EVENTS_MD, "genesys");
        assert_eq!(g.get("genesys.user_data").copied(), Some("object"));
        assert_eq!(g.get("genesys.outbound.calling_list").copied(), Some("keyword"));
        assert_eq!(g.get("genesys.outbound.chain_id").copied(), Some("long"));
        let j = fields(EVENTS_MD, "journey");
        assert_eq!(j.get("journey.abandoned").copied(), Some("date"));
        for d in DATASETS {
            assert!(fields(EVENTS_MD, d).len() > 10, "{d} has its table");
        }
    }

    #[test]
    fn a_mapping_nests_dotted_names() {
        let m = mapping(EVENTS_MD, "sip");
        assert_eq!(
            m["properties"]["sip"]["properties"]["from"]["properties"]["uri"]["properties"]["port"]["type"],
            "long"
        );
        assert_eq!(m["properties"]["source"]["properties"]["ip"]["type"], "ip");
        let t = index_template(EVENTS_MD, "iotw", "sip", false, Some("iotw"));
        assert_eq!(t["index_patterns"][0], "iotw-sip-*");
        assert_eq!(t["template"]["settings"]["index"]["lifecycle"]["name"], "iotw");
        assert_eq!(index_template(EVENTS_MD, "x", "call", true, None)["index_patterns"][0], "x-call");
    }
}
