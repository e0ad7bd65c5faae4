//! Fireman: any rule file reads or errors; any query string parses or errors; the filters
//! that parse are evaluated on documents built from the rest of the input (values taken from
//! traffic), and a rule runs over a stream of them, alone and in a stage, without panicking;
//! the stage (fields found by one walk, rules picked by an index) raises exactly what the rule
//! alone (fields looked up by name) raises, containers stepped over by their extents and
//! strings by their quotes.
#![no_main]
use iotw_event::Event;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    // The walk steps over strings by their closing quotes' bits: on any bytes, that splits
    // members as reading them through does.
    let mut quotes = iotw_event::json::Quotes::default();
    quotes.find(data);
    let through = iotw_event::json::Members::new(data).map(|m| m.whole);
    assert!(through.eq(iotw_event::json::Members::with_quotes(data, 0, &[], &quotes).map(|m| m.whole)));
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (head, rest) = text.split_once('\n').unwrap_or((text, ""));
    // A whole rule file.
    let _ = iotw_fireman::parse(text, Path::new("fuzz.yaml"));
    // A cron schedule (aggregation), and when it next comes after a time made of the input.
    if let Ok(cron) = head.parse::<iotw_fireman::cron::Cron>() {
        let at = data.iter().fold(0i64, |t, &b| t.wrapping_mul(31).wrapping_add(i64::from(b)));
        if let Some(next) = cron.next_after(at) {
            assert!(next > at);
        }
    }
    // A query string against documents whose values are the input's lines.
    let clauses = [serde_json::json!({"query_string": {"query": head}})];
    let Ok(filter) = iotw_fireman::filter::Filter::parse(&clauses) else { return };
    let rule = format!(
        "name: f\ntype: spike\ntimeframe: {{seconds: 5}}\nspike_height: 2\nspike_type: both\nquery_key: a.b\nrealert: {{seconds: 1}}\nfilter:\n- query_string: {{query: {}}}\n",
        serde_json::to_string(head).unwrap_or_default()
    );
    let parsed = iotw_fireman::parse(&rule, Path::new("f.yaml")).ok();
    let mut engine = parsed.clone().map(iotw_fireman::Engine::new);
    // The stage walks each document once for the fields its rules read.
    let mut stage = iotw_fireman::Stage::new(parsed.into_iter().collect());
    for (i, line) in rest.lines().take(64).enumerate() {
        let mut e = Event::new("sip", "event", (i as i64) * 700_000_000, &[line.as_bytes()]);
        // Containers before the read fields, which the walk steps over by their extents.
        e.obj("event").consts("category", &["network"]).end();
        e.obj("x").arr("l").item_str(line).item_obj().str("y", line).end().end().end();
        e.obj("a").str("b", line).u64("n", line.len() as u64).end();
        e.obj("sip").str("method", line).end();
        let _ = filter.matches(&e);
        let _ = iotw_fireman::filter::glob(head.as_bytes(), line.as_bytes());
        let staged = stage.alerts_for(&e);
        if let Some(en) = engine.as_mut() {
            assert_eq!(staged, en.observe(&e), "stage and rule alone disagree on {}", e.to_json());
        }
    }
});
