//! IP geolocation against MaxMind's test databases (testdata/geo/maxmind-test, from the
//! maxminddb Python package's test data, Apache-2.0 or MIT), and the broken databases in
//! its bad-data/: each is refused at start-up with an error naming the file, never a panic.

use iotw_enrich::ipgeo::{GeoDb, IpGeo, Site};
use iotw_enrich::Enricher;
use iotw_event::Event;
use std::path::{Path, PathBuf};

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/geo/maxmind-test").join(p)
}

#[test]
fn the_city_test_database_places_81_2_69_160_in_london() {
    for db in ["GeoIP2-City-Test.mmdb", "GeoLite2-City-Test.mmdb"] {
        let city = GeoDb::open(&data(db)).unwrap_or_else(|e| panic!("{e}"));
        let geo = IpGeo::new(vec![city], Vec::new(), Vec::new());
        let l = geo.locate("81.2.69.160".parse().unwrap_or_else(|_| unreachable!())).unwrap_or_default();
        assert_eq!(l.city.as_deref(), Some("London"), "{db}");
        assert_eq!(l.country_iso.as_deref(), Some("GB"), "{db}");
        let (lat, lon) = l.location.unwrap_or_default();
        assert!((lat - 51.51).abs() < 0.1 && (lon + 0.09).abs() < 0.2, "{db}: {lat},{lon}");
    }
}

#[test]
fn documents_get_ecs_geo_and_as_fields_and_private_addresses_their_site() {
    let city = GeoDb::open(&data("GeoIP2-City-Test.mmdb")).unwrap_or_else(|e| panic!("{e}"));
    let asn = GeoDb::open(&data("GeoLite2-ASN-Test.mmdb")).unwrap_or_else(|e| panic!("{e}"));
    let site = Site::new("10.10.0.0/16", "Leeds contact centre", Some((53.8, -1.55))).unwrap_or_else(|e| panic!("{e}"));
    let geo = IpGeo::new(vec![city], vec![asn], vec![site]);
    // Documents laid out as decoders write them (finished, endpoints first) are enriched in
    // place; others (still open, another order) the slower way. All get the same fields.
    fn endpoints(e: &mut Event, order: [(&'static str, &str); 2]) {
        for (side, ip) in order {
            e.obj(side).str("ip", ip).u64("port", 5060).end();
        }
    }
    let sides = [("source", "81.2.69.160"), ("destination", "10.10.0.10")];
    let mut open = Event::new("flow", "event", 0, &[]);
    endpoints(&mut open, sides);
    let mut decoded = Event::new("flow", "event", 0, &[]);
    endpoints(&mut decoded, sides);
    decoded.obj("event").str("kind", "event").end().str("message", "m");
    let mut reordered = Event::new("flow", "event", 0, &[]);
    reordered.obj("event").str("kind", "event").end();
    endpoints(&mut reordered, [sides[1], sides[0]]);
    for (name, mut e) in [("open", open), ("decoded", decoded), ("reordered", reordered)] {
        geo.enrich(&mut e);
        assert_eq!(e.get_str("source.geo.city_name").as_deref(), Some("London"), "{name}");
        assert_eq!(e.get_str("source.geo.country_iso_code").as_deref(), Some("GB"), "{name}");
        assert!(e.get("source.geo.location.lat").is_some(), "{name}");
        assert_eq!(e.get("source.port").and_then(|v| v.as_u64()), Some(5060), "{name}");
        assert_eq!(e.get_str("destination.geo.name").as_deref(), Some("Leeds contact centre"), "{name}");
        assert_eq!(e.get("destination.geo.location.lon").and_then(|v| v.as_f64()), Some(-1.55), "{name}");
        let text = e.to_json();
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "{name}");
        if name == "decoded" {
            assert!(e.finished_members().is_some(), "enriched in place, still finished");
        }
    }
    // An object of the same name deeper down, written before the endpoint, is not the
    // endpoint: its address is not the one located.
    let mut e = Event::new("flow", "event", 0, &[]);
    e.obj("event").str("kind", "event").end();
    e.obj("labels").obj("source").str("ip", "10.10.0.10").end().end();
    e.obj("source").str("ip", "81.2.69.160").end();
    e.str("message", "m");
    geo.enrich(&mut e);
    assert_eq!(e.get_str("source.geo.city_name").as_deref(), Some("London"), "{}", e.to_json());
    assert_eq!(e.get("labels.source.geo"), None);
    assert!(e.finished_members().is_some(), "enriched in place, still finished");
    // A private address outside the site table is not looked up and gets nothing.
    let mut e = Event::new("flow", "event", 0, &[]);
    e.obj("source").str("ip", "192.168.1.1").end();
    geo.enrich(&mut e);
    assert_eq!(e.get("source.geo"), None);
    // The ASN test database knows 1.128.0.0/11 (AS1221, Telstra).
    let mut e = Event::new("flow", "event", 0, &[]);
    e.obj("source").str("ip", "1.128.0.1").end();
    geo.enrich(&mut e);
    assert_eq!(e.get("source.as.number").and_then(|v| v.as_u64()), Some(1221));
}

#[test]
fn broken_databases_are_refused_when_opened() {
    let mut refused = 0;
    let mut files = 0;
    for dir in ["libmaxminddb", "maxminddb-golang", "maxminddb-python"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(data("bad-data").join(dir))
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
            .map(|d| d.path())
            .collect();
        names.sort();
        for path in names {
            files += 1;
            match GeoDb::open(&path) {
                Err(e) => {
                    refused += 1;
                    let msg = e.to_string();
                    assert!(msg.contains(&path.display().to_string()), "the error names the file: {msg}");
                }
                Ok(_) => panic!("{} opened", path.display()),
            }
        }
    }
    assert_eq!(files, 21);
    assert_eq!(refused, files);
}
