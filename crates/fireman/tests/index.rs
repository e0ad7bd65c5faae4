//! The stage finds the rules a document can concern through an index of what their filters
//! need (a value in a field, one of some values) and reads fields from one walk of the
//! document. Here it must raise exactly what each rule raises when it is given every document
//! alone and reads fields by name: same alerts, same order, over documents with arrays,
//! nulls, numbers, escapes, dotted keys and missing fields, whose containers the walk steps
//! over by their recorded extents.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use iotw_event::{Event, Nanos};
use iotw_fireman::{Engine, Stage};
use std::path::Path;

const S: Nanos = 1_000_000_000;
const T0: Nanos = 1_790_000_000 * S;

/// A small deterministic generator (no dependency, same documents every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn document(i: u64, g: &mut Lcg) -> Event {
    let ts = T0 + (i as Nanos) * S / 4;
    match g.next(4) {
        0 | 1 => {
            let mut e = Event::new("sip", "event", ts, &[&i.to_be_bytes()]);
            e.obj("event").consts("category", &["network"]).end();
            e.obj("source").str("ip", ["10.0.0.1", "10.0.0.2", "10.0.0.3"][g.next(3) as usize]).end();
            e.obj("sip").str("method", ["INVITE", "BYE", "OPTIONS", "REGISTER"][g.next(4) as usize]);
            match g.next(4) {
                0 => {
                    e.str("type", "response").u64("code", [180, 200, 486, 503][g.next(4) as usize]);
                }
                1 => {
                    e.raw("code", b"null");
                }
                _ => {}
            }
            if g.next(2) == 0 {
                e.obj("from")
                    .obj("uri")
                    .str("username", ["01134960001", "07700900666", "anonymous"][g.next(3) as usize]);
                e.end().end();
            }
            match g.next(4) {
                0 => {
                    e.raw("tags", br#"["trunk-a",null,"uk",[1],{"x":1}]"#);
                }
                1 => {
                    e.raw("tags", b"[]");
                }
                2 => {
                    e.raw("tags", b"[null]");
                }
                _ => {}
            }
            if g.next(3) == 0 {
                e.obj("user_agent")
                    .str("original", ["Acme \"SBC\" 4.2", "iotw-sim", "Polycom/5.1"][g.next(3) as usize]);
                e.end();
            }
            e.end();
            e
        }
        2 => {
            let mut e = Event::new("genesys", "event", ts, &[&i.to_be_bytes()]);
            e.obj("event").consts("category", &["network"]).end();
            e.obj("source").str("ip", ["10.1.0.1", "10.1.0.2"][g.next(2) as usize]).end();
            e.obj("genesys").obj("message");
            e.str(
                "name",
                ["EventRinging", "EventAbandoned", "EventReleased", "EventAgentLogin", "EventError"]
                    [g.next(5) as usize],
            );
            e.end();
            e.str("this_dn", &format!("50{:02}", g.next(12)));
            if g.next(2) == 0 {
                e.obj("user_data").str("Cust.Id", ["A1", "B2"][g.next(2) as usize]).u64("Score", g.next(100)).end();
            }
            e.end();
            e
        }
        _ => {
            let mut e = Event::new("call", "event", ts, &[&i.to_be_bytes()]);
            e.obj("event").consts("category", &["network"]).end();
            let mos = serde_json::json!(1.0 + g.next(40) as f64 / 10.0);
            e.obj("call").i64("answer_delay", (g.next(9) as i64) * S).value("mos", &mos).end();
            e
        }
    }
}

const FILTERS: &[&str] = &[
    "- term: {sip.method: INVITE}",
    "- terms: {sip.code: [486, 503]}",
    "- term: {sip.tags: uk}",
    "- exists: {field: sip.tags}",
    "- exists: {field: sip.code}",
    "- exists: {field: sip.from}",
    "- term: {event.dataset: call}",
    "- range: {call.answer_delay: {gte: 3000000000}}",
    "- range: {call.mos: {lt: 3.5}}",
    "- wildcard: {genesys.this_dn: \"500*\"}",
    "- prefix: {sip.user_agent.original: Acme}",
    "- term: {sip.user_agent.original: \"Acme \\\"SBC\\\" 4.2\"}",
    "- match: {sip.user_agent.original: sbc}",
    "- match_phrase: {sip.user_agent.original: \"acme sbc\"}",
    "- term: {genesys.user_data.Cust.Id: A1}",
    "- range: {genesys.user_data.Score: {gt: 50}}",
    "- query_string: {query: \"sip.method:INVITE AND NOT sip.type:response\"}",
    "- query_string: {query: \"sip.code:>=400 OR genesys.message.name:EventError\"}",
    "- query_string: {query: \"_exists_:sip.from.uri.username AND -sip.from.uri.username:anonymous\"}",
    "- query_string: {query: \"sip.method:(BYE OR CANCEL)\"}",
    "- query_string: {query: \"polycom\"}",
    "- query_string: {query: \"eventab*\"}",
    "- bool: {should: [{term: {sip.method: BYE}}, {term: {sip.method: REGISTER}}]}",
    "- bool: {should: [{term: {sip.method: BYE}}, {exists: {field: sip.method}}]}",
    "- bool: {should: [{term: {sip.method: BYE}}, {term: {genesys.this_dn: \"5001\"}}]}",
    "- bool: {must_not: [{term: {genesys.message.name: EventRinging}}]}",
    "- bool: {must: [{match_all: {}}], filter: [{term: {source.ip: 10.1.0.2}}]}",
    "- term: {genesys.message.name: EventAbandoned}\n- term: {genesys.this_dn: \"5003\"}",
    "- match_all: {}",
];

fn rules() -> Vec<iotw_fireman::Rule> {
    let mut out = Vec::new();
    for (i, f) in FILTERS.iter().enumerate() {
        // `any` with no realert: every document the filter lets through is an alert.
        let any = format!("name: any{i}\ntype: any\nrealert: {{minutes: 0}}\nfilter:\n{f}\n");
        let frequency =
            format!("name: freq{i}\ntype: frequency\nnum_events: 3\ntimeframe: {{seconds: 5}}\nquery_key: source.ip\nfilter:\n{f}\n");
        let flatline =
            format!("name: flat{i}\ntype: flatline\nthreshold: 2\ntimeframe: {{seconds: 10}}\nfilter:\n{f}\n");
        for y in [any, frequency, flatline] {
            out.push(iotw_fireman::parse(&y, Path::new("index.yaml")).unwrap_or_else(|e| panic!("{y}: {e}")));
        }
    }
    for y in [
        "name: bl\ntype: blacklist\ncompare_key: sip.from.uri.username\nblacklist: [\"07700900666\"]\n",
        "name: wl\ntype: whitelist\ncompare_key: sip.user_agent.original\nignore_null: true\nwhitelist: [iotw-sim]\n",
        "name: ch\ntype: change\nquery_key: genesys.this_dn\ncompare_key: source.ip\nignore_null: true\n",
        // Rules a document without the compared value still concerns: a whitelist that
        // counts a missing value as unlisted, and a blacklist keeping top counts of every
        // document its filter lets through.
        "name: wl0\ntype: whitelist\ncompare_key: sip.user_agent.original\nignore_null: false\nwhitelist: [iotw-sim]\n",
        "name: blt\ntype: blacklist\ncompare_key: sip.from.uri.username\nblacklist: [\"07700900666\"]\ntop_count_keys: [sip.method]\nfilter:\n- exists: {field: sip.method}\n",
    ] {
        out.push(iotw_fireman::parse(y, Path::new("index.yaml")).unwrap());
    }
    out
}

#[test]
fn the_indexed_stage_raises_what_every_rule_raises_alone() {
    // The documents record their containers, as in a capture run with rules: the stage's walk
    // steps over them by their extents, the rules alone read by name.
    iotw_event::keep_extents(true);
    let mut g = Lcg(7);
    let docs: Vec<Event> = (0..3000).map(|i| document(i, &mut g)).collect();
    assert!(docs.iter().all(|d| d.extents().is_some_and(|x| !x.is_empty())), "documents without extents");
    let mut stage = Stage::new(rules());
    let mut alone: Vec<Engine> = rules().into_iter().map(Engine::new).collect();
    let mut total = 0;
    for (n, e) in docs.iter().enumerate() {
        let mut expected = Vec::new();
        for r in &mut alone {
            expected.extend(r.observe(e));
        }
        let got = stage.alerts_for(e);
        assert_eq!(got, expected, "document {n}: {}", e.to_json());
        total += got.len();
    }
    // Every filter let something through, so no rule agrees by never matching.
    let mut fired: std::collections::BTreeSet<String> = Default::default();
    let mut g = Lcg(7);
    let mut stage = Stage::new(rules());
    for i in 0..3000 {
        fired.extend(stage.alerts_for(&document(i, &mut g)).into_iter().map(|a| a.rule));
    }
    let never: Vec<String> = (0..FILTERS.len())
        .map(|i| format!("any{i}"))
        .chain(["bl", "wl", "ch", "wl0", "blt"].map(String::from))
        .filter(|r| !fired.contains(r))
        .collect();
    assert!(never.is_empty(), "rules that never fired (the comparison proves nothing for them): {never:?}");
    assert!(total > 10_000, "{total} alerts");
}
