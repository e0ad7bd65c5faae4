//! Geotagging and masking end to end, on a simulated site: capture mode writes NDJSON with
//! `[enrich.mask] preset = "standard"`, and no phone number or full postcode the site put on
//! the wire appears in any byte of it, in any of the forms a number is written in; the places
//! are still there, and a number hashes the same in every document. With masking off the same
//! grep finds them all (so the test can fail).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn capture(pcap: &Path, config: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_iotw"))
        .args(["capture", "--output", "ndjson", "--no-progress", "-c"])
        .arg(config)
        .arg("-r")
        .arg(pcap)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("panicked"), "{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn simulate(dir: &Path) -> std::path::PathBuf {
    let pcap = dir.join("site.pcapng");
    let out = Command::new(env!("CARGO_BIN_EXE_iotw"))
        .args(["simulate", "--duration", "4m", "--agents", "6", "--out"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    pcap
}

fn docs(ndjson: &str) -> Vec<Value> {
    ndjson.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Every form a UK number may be written in, from its E.164 form.
fn forms(e164: &str) -> Vec<String> {
    let digits = e164.trim_start_matches('+');
    let nsn = digits.strip_prefix("44").unwrap_or(digits);
    vec![format!("+{digits}"), format!("0{nsn}"), format!("44{nsn}"), format!("0044{nsn}"), nsn.to_string()]
}

#[test]
fn standard_masking_leaves_no_number_or_postcode_and_keeps_the_places() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = simulate(dir.path());
    let off = dir.path().join("off.toml");
    std::fs::write(&off, "[enrich.mask]\npreset = \"off\"\n").unwrap();
    let plain = capture(&pcap, &off);
    // What the site put on the wire: every number iotw recognised and every postcode in
    // attached data, read from the unmasked output.
    let mut numbers = BTreeSet::new();
    let mut postcodes = BTreeSet::new();
    for d in docs(&plain) {
        if let Some(Value::Object(roles)) = d.get("phone") {
            for r in roles.values() {
                if let Some(n) = r["number"].as_str() {
                    numbers.insert(n.to_string());
                }
            }
        }
        for ud in [&d["genesys"]["user_data"], &d["journey"]["user_data"]] {
            if let Some(pc) = ud["PostCode"].as_str() {
                postcodes.insert(pc.to_string());
            }
        }
    }
    assert!(numbers.len() >= 20, "the site has callers, a DNIS and callback numbers: {numbers:?}");
    assert!(postcodes.len() >= 5, "{postcodes:?}");
    for n in &numbers {
        assert!(n.starts_with("+44") && n.len() == 13, "a whole UK number: {n}");
        assert!(plain.contains(&forms(n)[1]), "unmasked output has {n} in national form");
    }
    for pc in &postcodes {
        assert!(plain.contains(pc.as_str()), "unmasked output has {pc}");
    }

    let standard = dir.path().join("standard.toml");
    std::fs::write(&standard, "[enrich.mask]\npreset = \"standard\"\nsecret = \"site secret\"\n").unwrap();
    let masked = capture(&pcap, &standard);
    assert_eq!(masked.lines().count(), plain.lines().count(), "masking drops no document");
    for n in &numbers {
        for f in forms(n) {
            assert!(!masked.contains(&f), "{f} (of {n}) is in the masked output");
        }
    }
    for pc in &postcodes {
        assert!(!masked.contains(pc.as_str()), "{pc} is in the masked output");
        assert!(!masked.contains(&pc.replace(' ', "")), "{pc} is in the masked output");
    }

    // The places survive, and each number has one hash everywhere.
    let mut hash_of: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let (mut placed, mut postcode_placed) = (0, 0);
    for (p, m) in docs(&plain).iter().zip(docs(&masked)) {
        assert_eq!(p["@timestamp"], m["@timestamp"]);
        if let Some(Value::Object(roles)) = m.get("phone") {
            for (role, r) in roles {
                let h = r["number"].as_str().unwrap().to_string();
                assert!(h.starts_with("h:") && h.len() == 22, "{h}");
                let raw = p["phone"][role]["number"].as_str().unwrap().to_string();
                hash_of.entry((raw, String::new())).or_default().insert(h);
                if r["geo"]["location"]["lat"].is_f64() {
                    placed += 1;
                    assert_eq!(r["geo"], p["phone"][role]["geo"], "the place is kept");
                    assert!(r["area_code"].as_str().is_some_and(|a| a.starts_with('0')), "{r}");
                }
            }
        }
        if m["postcode"]["geo"]["location"]["lat"].is_f64() {
            postcode_placed += 1;
            let district = m["postcode"]["district"].as_str().unwrap();
            // The attached data keeps the district only.
            assert_eq!(
                m["genesys"]["user_data"]["PostCode"].as_str().or(m["journey"]["user_data"]["PostCode"].as_str()),
                Some(district)
            );
        }
    }
    assert!(placed > 100, "geographic numbers keep their place: {placed}");
    assert!(postcode_placed > 10, "{postcode_placed}");
    for ((raw, _), hashes) in &hash_of {
        assert_eq!(hashes.len(), 1, "{raw} hashed {} ways", hashes.len());
    }
    let distinct: BTreeSet<_> = hash_of.values().flatten().collect();
    assert_eq!(distinct.len(), hash_of.len(), "different numbers, different hashes");
}

#[test]
fn strict_masking_drops_numbers_and_attached_data_and_a_missing_secret_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = simulate(dir.path());
    let strict = dir.path().join("strict.toml");
    std::fs::write(&strict, "[enrich.mask]\npreset = \"strict\"\n").unwrap();
    let out = capture(&pcap, &strict);
    let mut with_user_data = 0;
    for d in docs(&out) {
        for ud in [&d["genesys"]["user_data"], &d["journey"]["user_data"]] {
            if let Value::Object(m) = ud {
                with_user_data += 1;
                assert!(m.is_empty(), "attached-data values are dropped: {m:?}");
            }
        }
        if let Some(Value::Object(roles)) = d.get("phone") {
            for r in roles.values() {
                assert!(r.get("number").is_none() && r.get("area_code").is_none(), "{r}");
            }
        }
    }
    assert!(with_user_data > 10);
    assert!(out.contains("\"postcode\":{\"district\""), "the postcode's district is kept");

    let hashing = dir.path().join("hash.toml");
    std::fs::write(&hashing, "[enrich.mask]\npreset = \"standard\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_iotw"))
        .args(["capture", "--output", "ndjson", "-c"])
        .arg(&hashing)
        .arg("-r")
        .arg(&pcap)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("secret"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing is written unmasked");
}

/// SIP, call, T-Library and journey documents tag the values that name a party (`iotw_event::Tag`), and the
/// geotagger reads the tags instead of searching the text. Both ways must give the same
/// places: each document is geotagged once by its tags and once with the tags set aside (a
/// patch makes them unusable), on a simulated site whose repeated From and To values are
/// copied from the writer's cache, and the two results must be equal. The sipp capture's
/// users are not numbers, so it shows that nothing is invented either.
#[test]
fn geotagging_by_tags_agrees_with_searching_the_text() {
    use iotw_enrich::Enricher;
    let dir = tempfile::tempdir().unwrap();
    let pcap = simulate(dir.path());
    let tag = iotw_enrich::geotag::Geotag::new(Default::default(), Vec::new());
    let sipp = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures/sipp-tcp-10calls.pcap");
    for (capture, min_tagged) in [(pcap.as_path(), 100), (sipp.as_path(), 0)] {
        let docs = iotw::pipeline::documents_of(capture, &iotw::config::Config::default()).unwrap();
        let (mut by_tags, mut with_phones) = (0, 0);
        let mut datasets = BTreeSet::new();
        for d in docs.iter().filter(|d| matches!(d.dataset, "sip" | "call" | "genesys" | "journey")) {
            datasets.insert(d.dataset);
            let mut searched = d.clone();
            assert!(d.tagged().is_some(), "{} document not tagged: {}", d.dataset, d.to_json());
            let mut fresh = d.clone();
            tag.enrich(&mut fresh);
            searched.set("test.mark", 1);
            tag.enrich(&mut searched);
            // `fresh` went by the tags; the patch is added after, to compare like with like.
            fresh.set("test.mark", 1);
            let (a, b): (Value, Value) =
                (serde_json::from_str(&fresh.to_json()).unwrap(), serde_json::from_str(&searched.to_json()).unwrap());
            assert_eq!(a, b, "tags and search disagree on {}", d.to_json());
            by_tags += 1;
            with_phones += usize::from(a.get("phone").is_some());
        }
        assert!(by_tags > 0, "{}: no SIP documents", capture.display());
        if min_tagged > 0 {
            assert_eq!(datasets, BTreeSet::from(["call", "genesys", "journey", "sip"]));
        }
        assert!(with_phones >= min_tagged, "{}: only {with_phones} documents with numbers", capture.display());
        if min_tagged == 0 {
            assert_eq!(with_phones, 0, "sipp's users are not phone numbers");
        }
    }
}
