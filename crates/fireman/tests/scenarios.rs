//! One scenario per rule type, on documents shaped as the SIP and T-Library decoders write
//! them (docs/events.md), in document time: each checks what fires, when, for which key,
//! what realert holds back, and when a condition that fired is resolved.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use iotw_event::{Event, Nanos};
use iotw_fireman::{Alert, Engine, State};
use std::path::Path;

const S: Nanos = 1_000_000_000;
const T0: Nanos = 1_790_000_000 * S;

fn rule(yaml: &str) -> Engine {
    Engine::new(iotw_fireman::parse(yaml, Path::new("test.yaml")).unwrap())
}

fn sip(ts: Nanos, method: &str, code: Option<u64>, src: &str, ua: Option<&str>, caller: &str) -> Event {
    let mut e = Event::new("sip", "event", ts, &[&ts.to_be_bytes(), src.as_bytes(), method.as_bytes()]);
    e.obj("source").str("ip", src).end();
    e.obj("sip").str("method", method);
    if let Some(c) = code {
        e.str("type", "response").u64("code", c);
    }
    e.obj("from").obj("uri").str("username", caller).end().end();
    if let Some(u) = ua {
        e.obj("user_agent").str("original", u).end();
    }
    e.end();
    e
}

fn tlib(ts: Nanos, name: &str, dn: &str, host: &str) -> Event {
    let mut e = Event::new("genesys", "event", ts, &[&ts.to_be_bytes(), name.as_bytes(), dn.as_bytes()]);
    e.obj("source").str("ip", host).end();
    e.obj("genesys").str("protocol", "tlib").obj("message").str("name", name).end().str("this_dn", dn).end();
    e
}

/// Feeds documents in time order; every alert raised.
fn run(engine: &mut Engine, mut docs: Vec<Event>) -> Vec<Alert> {
    docs.sort_by_key(|d| d.ts);
    docs.iter().flat_map(|d| engine.observe(d)).collect()
}

/// Background traffic that keeps the clock moving: an OPTIONS every 5 s from elsewhere.
fn background(from: Nanos, to: Nanos) -> Vec<Event> {
    (0..)
        .map(|i| from + i * 5 * S)
        .take_while(|t| *t <= to)
        .map(|t| sip(t, "OPTIONS", None, "10.9.9.9", None, ""))
        .collect()
}

fn summary(alerts: &[Alert]) -> Vec<(Nanos, State, Option<String>)> {
    alerts.iter().map(|a| ((a.at - T0) / S, a.state, a.key.clone())).collect()
}

#[test]
fn flatline_fires_when_a_trunk_stops_sending_invites_repeats_each_realert_and_resolves() {
    let mut e = rule(
        "name: trunk-silent\ntype: flatline\nthreshold: 3\ntimeframe: {minutes: 1}\nquery_key: source.ip\n\
         realert: {minutes: 1}\nfilter:\n- term: {sip.method: INVITE}\n",
    );
    // INVITEs every 10 s from 0 to 600 s, none until 900 s, then every 10 s again.
    let mut docs: Vec<Event> = (0..=60).map(|i| sip(T0 + i * 10 * S, "INVITE", None, "10.0.0.1", None, "a")).collect();
    docs.extend((90..=95).map(|i| sip(T0 + i * 10 * S, "INVITE", None, "10.0.0.1", None, "a")));
    docs.extend(background(T0, T0 + 1000 * S));
    let got = summary(&run(&mut e, docs));
    let k = Some("10.0.0.1".to_string());
    // The third-newest INVITE (580 s) leaves the minute at 640 s; then once a minute while it
    // lasts; resolved when the third INVITE after the gap arrives (920 s); and when they stop
    // again at 950 s, it fires at 990 s.
    assert_eq!(
        got,
        vec![
            (640, State::Firing, k.clone()),
            (700, State::Firing, k.clone()),
            (760, State::Firing, k.clone()),
            (820, State::Firing, k.clone()),
            (880, State::Firing, k.clone()),
            (920, State::Resolved, k.clone()),
            (990, State::Firing, k),
        ]
    );
    assert_eq!(e.able_from(), Some(T0 + 60 * S), "a flatline rule says when it can first fire");
}

#[test]
fn spike_fires_when_abandoned_calls_quadruple_and_resolves_when_the_windows_calm() {
    let mut e = rule(
        "name: abandon-spike\ntype: spike\ntimeframe: {minutes: 10}\nspike_height: 4\nspike_type: up\n\
         threshold_cur: 10\nfilter:\n- term: {genesys.message.name: EventAbandoned}\n",
    );
    // Five abandoned calls every ten minutes for 40 minutes, then one every 15 s.
    let mut docs: Vec<Event> =
        (0..20).map(|i| tlib(T0 + i * 120 * S + S, "EventAbandoned", "5001", "10.1.1.1")).collect();
    docs.extend((0..40).map(|i| tlib(T0 + 2400 * S + i * 15 * S, "EventAbandoned", "5001", "10.1.1.1")));
    docs.extend(background(T0, T0 + 5400 * S));
    let alerts = run(&mut e, docs);
    let first = &alerts[0];
    assert_eq!(first.state, State::Firing);
    // The alert comes with the 17th fast one (2640 s): the current ten minutes then hold
    // those 17 and three of the baseline (2041, 2161, 2281 s), 20 = 4 x the reference
    // window's 5 (1441 ... 1921 s).
    assert_eq!(first.figures["reference_count"], 5);
    assert_eq!(first.figures["spike_count"], 20);
    assert_eq!((first.at - T0) / S, 2400 + 16 * 15);
    assert_eq!(e.able_from(), Some(T0 + S + 1200 * S), "two timeframes after the first event");
    let resolved: Vec<_> = alerts.iter().filter(|a| a.state == State::Resolved).collect();
    assert_eq!(resolved.len(), 1, "{:?}", summary(&alerts));
    assert!(resolved[0].at >= first.at + 1200 * S);
    assert_eq!(alerts.iter().filter(|a| a.state == State::Firing).count(), 1, "{:?}", summary(&alerts));
}

#[test]
fn frequency_fires_on_ten_503s_in_a_minute_not_nine_and_resolves_after_a_quiet_minute() {
    let mut e = rule(
        "name: many-503\ntype: frequency\nnum_events: 10\ntimeframe: {minutes: 1}\n\
         filter:\n- query: {query_string: {query: \"sip.code:503\"}}\n",
    );
    // Nine 503s in 50 s (no alert), then ten in 45 s from 200 s.
    let mut docs: Vec<Event> =
        (0..9).map(|i| sip(T0 + i * 6 * S, "INVITE", Some(503), "10.0.0.2", None, "a")).collect();
    docs.extend((0..10).map(|i| sip(T0 + 200 * S + i * 5 * S, "INVITE", Some(503), "10.0.0.2", None, "a")));
    docs.extend((0..20).map(|i| sip(T0 + 300 * S + i * 2 * S, "INVITE", Some(200), "10.0.0.2", None, "a")));
    docs.extend(background(T0, T0 + 600 * S));
    let got = summary(&run(&mut e, docs));
    assert_eq!(got, vec![(245, State::Firing, None), (305, State::Resolved, None)]);
}

#[test]
fn blacklist_fires_on_a_caller_on_the_fraud_list_and_realert_holds_back_the_repeat() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fraud.txt"), "07700900666\n01134960999\n").unwrap();
    let path = dir.path().join("fraud.yaml");
    std::fs::write(
        &path,
        "name: fraud\ntype: blacklist\ncompare_key: sip.from.uri.username\n\
         blacklist:\n- \"!file fraud.txt\"\n- \"02079460123\"\nrealert: {minutes: 1}\n\
         alert_subject: \"Fraud list caller {0}\"\nalert_subject_args: [sip.from.uri.username]\n",
    )
    .unwrap();
    let mut e = Engine::new(iotw_fireman::load(&path).unwrap());
    let docs = vec![
        sip(T0, "INVITE", None, "10.0.0.1", None, "01134960001"),
        sip(T0 + 10 * S, "INVITE", None, "10.0.0.1", None, "07700900666"),
        sip(T0 + 20 * S, "INVITE", None, "10.0.0.1", None, "02079460123"),
        sip(T0 + 200 * S, "INVITE", None, "10.0.0.1", None, "01134960999"),
    ];
    let alerts = run(&mut e, docs);
    assert_eq!(summary(&alerts), vec![(10, State::Firing, None), (200, State::Firing, None)]);
    assert_eq!(alerts[0].subject, "Fraud list caller 07700900666");
    assert_eq!(alerts[1].subject, "Fraud list caller 01134960999");
    assert_eq!(e.silenced, 1, "the second caller within the minute is held back by realert");
}

#[test]
fn whitelist_fires_on_a_user_agent_off_the_approved_list_per_query_key() {
    let mut e = rule(
        "name: rogue-ua\ntype: whitelist\ncompare_key: sip.user_agent.original\nignore_null: true\n\
         whitelist: [\"Genesys SIP Server 8.1\", \"Acme SBC 4.2\"]\nquery_key: source.ip\n",
    );
    let docs = vec![
        sip(T0, "INVITE", None, "10.0.0.1", Some("Acme SBC 4.2"), "a"),
        sip(T0 + S, "INVITE", None, "10.0.0.2", Some("friendly-scanner"), "a"),
        sip(T0 + 2 * S, "INVITE", None, "10.0.0.3", None, "a"),
        sip(T0 + 3 * S, "INVITE", None, "10.0.0.4", Some("sipvicious"), "a"),
        sip(T0 + 4 * S, "INVITE", None, "10.0.0.2", Some("friendly-scanner"), "a"),
    ];
    let got = summary(&run(&mut e, docs));
    // Each source once (realert is per key); no user agent at all is ignored (ignore_null).
    assert_eq!(got, vec![(1, State::Firing, Some("10.0.0.2".into())), (3, State::Firing, Some("10.0.0.4".into()))]);
    let mut strict =
        rule("name: ua\ntype: whitelist\ncompare_key: sip.user_agent.original\nignore_null: false\nwhitelist: [x]\n");
    assert_eq!(run(&mut strict, vec![sip(T0, "INVITE", None, "10.0.0.3", None, "a")]).len(), 1);
}

#[test]
fn change_fires_when_an_agent_dn_moves_to_another_host() {
    let mut e = rule(
        "name: dn-moved\ntype: change\nquery_key: genesys.this_dn\ncompare_key: source.ip\nignore_null: true\n\
         realert: {minutes: 0}\n",
    );
    let docs = vec![
        tlib(T0, "EventAgentLogin", "5001", "10.1.1.1"),
        tlib(T0 + S, "EventAgentLogin", "5002", "10.1.1.7"),
        tlib(T0 + 60 * S, "EventAgentReady", "5001", "10.1.1.1"),
        tlib(T0 + 120 * S, "EventAgentLogin", "5001", "10.1.1.2"),
        tlib(T0 + 130 * S, "EventAgentReady", "5002", "10.1.1.7"),
    ];
    let alerts = run(&mut e, docs);
    assert_eq!(summary(&alerts), vec![(120, State::Firing, Some("5001".into()))]);
    assert_eq!(alerts[0].figures["old_value"], serde_json::json!(["10.1.1.1"]));
    assert_eq!(alerts[0].figures["new_value"], serde_json::json!(["10.1.1.2"]));
}

#[test]
fn any_fires_on_every_tlib_event_error_realert_permitting() {
    let yaml = "name: tlib-errors\ntype: any\nfilter:\n- term: {genesys.message.name: EventError}\n";
    let docs = || {
        vec![
            tlib(T0, "EventError", "5001", "10.1.1.1"),
            tlib(T0 + S, "EventRinging", "5001", "10.1.1.1"),
            tlib(T0 + 2 * S, "EventError", "5002", "10.1.1.1"),
            tlib(T0 + 90 * S, "EventError", "5001", "10.1.1.1"),
        ]
    };
    let mut every = rule(&format!("{yaml}realert: {{minutes: 0}}\n"));
    assert_eq!(summary(&run(&mut every, docs())).len(), 3);
    // ElastAlert's default realert is one minute.
    let mut default = rule(yaml);
    assert_eq!(summary(&run(&mut default, docs())), vec![(0, State::Firing, None), (90, State::Firing, None)]);
    assert_eq!(default.silenced, 1);
}

#[test]
fn exponential_realert_doubles_the_silence_while_alerts_keep_coming() {
    let mut e = rule(
        "name: e\ntype: any\nrealert: {minutes: 1}\nexponential_realert: {hours: 1}\nfilter:\n- term: {sip.code: 503}\n",
    );
    // A 503 every 10 s for an hour.
    let docs = (0..360).map(|i| sip(T0 + i * 10 * S, "INVITE", Some(503), "10.0.0.1", None, "a")).collect();
    let at: Vec<Nanos> = run(&mut e, docs).iter().map(|a| (a.at - T0) / S).collect();
    // 0, then silences of 1, 2, 4, 8, 16, 32 minutes (ElastAlert's next_alert_time).
    assert_eq!(at, vec![0, 60, 180, 420, 900, 1860, 3780].into_iter().filter(|t| *t < 3600).collect::<Vec<_>>());
}

#[test]
fn rule_file_mistakes_name_the_key_and_line() {
    let err = |yaml: &str| iotw_fireman::parse(yaml, Path::new("r.yaml")).unwrap_err().to_string();
    let e = err("name: x\ntype: frequency\nnum_events: 3\ntimeframe: {minutes: 1}\nquery_kye: source.ip\n");
    assert!(e.contains("r.yaml") && e.contains("query_kye") && e.contains("line 5"), "{e}");
    let e = err("name: x\ntype: frequency\nnum_events: 3\ntimeframe: {minuts: 1}\n");
    assert!(e.contains("minuts") && e.contains("line 4"), "{e}");
    assert!(err("name: x\ntype: frequency\ntimeframe: {minutes: 1}\n").contains("num_events"));
    assert!(err("name: x\ntype: spikey\n").contains("spikey"));
    assert!(err("name: x\ntype: whitelist\ncompare_key: a\nwhitelist: [b]\n").contains("ignore_null"));
    assert!(err("name: x\ntype: any\nfilter:\n- geo_shape: {}\n").contains("geo_shape"));
    assert!(err("name: x\ntype: spike\ntimeframe: {hours: 1}\nspike_height: 2\n").contains("spike_type"));
    // Counts feed frequency, spike and flatline rules only; terms need one query_key.
    assert!(err("name: x\ntype: any\nuse_count_query: true\n").contains("use_count_query"));
    let freq = "name: x\ntype: frequency\nnum_events: 3\ntimeframe: {minutes: 1}\n";
    assert!(err(&format!("{freq}use_terms_query: true\n")).contains("query_key"));
    assert!(err(&format!("{freq}use_terms_query: true\nquery_key: [a, b]\n")).contains("query_key"));
    assert!(err(&format!("{freq}use_terms_query: true\nuse_count_query: true\nquery_key: a\n")).contains("exclude"));
    // An aggregation is a period or a cron schedule that comes.
    for bad in [
        "{minutes: 0}",
        "{schedule: '61 * * * *'}",
        "{schedule: '0 0 30 feb *'}",
        "{schedule: 'often'}",
        "{schedule: '@daily', hours: 1}",
    ] {
        let e = err(&format!("name: x\ntype: any\naggregation: {bad}\n"));
        assert!(e.contains("r.yaml") && e.contains("aggregation"), "{bad}: {e}");
    }
    let e = err("name: x\ntype: any\naggregation: {minuts: 3}\n");
    assert!(e.contains("minuts") && e.contains("line 3"), "{e}");
    let ok =
        iotw_fireman::parse("name: x\ntype: any\naggregation: {schedule: '2 4 * * mon,fri'}\n", Path::new("r.yaml"));
    assert!(ok.is_ok_and(|r| matches!(r.aggregation, Some(iotw_fireman::rule::Aggregation::Schedule(_)))));
}

#[test]
fn rules_fed_counts_take_no_documents_and_count_as_elastalert_does() {
    let yaml = |body: &str| iotw_fireman::parse(body, Path::new("r.yaml")).unwrap();
    let mut stage = iotw_fireman::Stage::new(vec![
        yaml("name: busy\ntype: frequency\nnum_events: 5\ntimeframe: {minutes: 1}\nrealert: {minutes: 0}\nuse_count_query: true\n"),
        yaml("name: quiet\ntype: flatline\nthreshold: 2\ntimeframe: {minutes: 1}\nrealert: {minutes: 0}\nuse_count_query: true\n"),
        yaml("name: per_ua\ntype: frequency\nnum_events: 4\ntimeframe: {minutes: 1}\nrealert: {minutes: 0}\n\
              query_key: sip.user_agent.original\nuse_terms_query: true\n"),
        yaml("name: docs\ntype: frequency\nnum_events: 2\ntimeframe: {minutes: 1}\nrealert: {minutes: 0}\n"),
    ]);
    assert_eq!(stage.feed_counts(), vec![0, 1, 2]);
    // Documents reach only the rule without the options.
    let mut docs: Vec<Event> = (0..8).map(|i| sip(T0 + i * S, "INVITE", None, "10.0.0.1", Some("Acme"), "")).collect();
    stage.observe(&mut docs);
    let names =
        |d: &[Event]| d.iter().filter_map(|e| e.get_str("rule.name").map(|n| n.into_owned())).collect::<Vec<_>>();
    let fired = names(&docs[8..]);
    assert!(!fired.is_empty() && fired.iter().all(|n| n == "docs"), "{fired:?}");
    // Runs of ten seconds: 2 + 2 documents stay under 5; 2 more make 6 within the minute.
    let mut at = T0 + 10 * S;
    assert!(stage.counted(0, at, &[(None, 2)]).is_empty());
    at += 10 * S;
    assert!(stage.counted(0, at, &[(None, 2)]).is_empty());
    at += 10 * S;
    let alerts = stage.counted(0, at, &[(None, 2)]);
    assert_eq!(names(&alerts), vec!["busy"]);
    assert_eq!(alerts[0].ts, at, "a count is taken at the end of its run");
    // Per key: only the key that reaches 4.
    let alerts = stage.counted(2, at, &[(Some("Acme".into()), 4), (Some("Other".into()), 3)]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].get_str("fireman.key").as_deref(), Some("Acme"));
    // Flatline: counts of 1 per run; a timeframe after it started, below the threshold fires.
    let mut fired_at = None;
    for k in 1..=9 {
        let d = stage.counted(1, T0 + k * 10 * S, &[(None, if k < 3 { 5 } else { 0 })]);
        if fired_at.is_none() && !d.is_empty() {
            fired_at = Some(k);
        }
    }
    // The last 5 (at 20 s) is still in the window at 80 s (ElastAlert's window keeps what is
    // exactly a timeframe old), gone at 90 s.
    assert_eq!(fired_at, Some(9));
}

#[test]
fn top_count_keys_lists_the_most_frequent_values_before_the_alert() {
    let mut e = rule(
        "name: busy\ntype: frequency\nnum_events: 6\ntimeframe: {minutes: 1}\nquery_key: sip.method\n\
         top_count_keys: [source.ip, sip.user_agent.original]\ntop_count_number: 2\n",
    );
    // Six INVITEs within a minute from three sources; an older one falls outside the window,
    // and a BYE (another key) is not counted.
    let mut docs = vec![sip(T0, "INVITE", None, "10.0.0.9", Some("Old"), "")];
    for (i, src) in ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3", "10.0.0.1", "10.0.0.2"].iter().enumerate() {
        let t = T0 + 100 * S + i as Nanos * S;
        docs.push(sip(t, "INVITE", None, src, Some("Acme"), ""));
        docs.push(sip(t, "BYE", None, "10.0.0.3", Some("Acme"), ""));
    }
    let alerts = run(&mut e, docs);
    let fired: Vec<&Alert> = alerts.iter().filter(|a| a.key.as_deref() == Some("INVITE")).collect();
    assert_eq!(fired.len(), 1, "{alerts:?}");
    assert_eq!(
        fired[0].top_counts,
        vec![
            ("source.ip".to_string(), vec![("10.0.0.1".to_string(), 3), ("10.0.0.2".to_string(), 2)]),
            ("sip.user_agent.original".to_string(), vec![("Acme".to_string(), 6)]),
        ]
    );
}
