//! UK postcodes in attached data: found in any spacing and case, located to their district
//! (within 2 km of the district centroid that OS Code-Point Open gives, as computed in
//! `../shared/geo/uk_postcode_district_centroids.csv`), and rejected when invalid.

use iotw_enrich::places::Postcodes;

/// Postcode as written, its district, and that district's centroid from the shared data file.
const VALID: &[(&str, &str, f64, f64)] = &[
    ("LS1 4AP", "LS1", 53.79766, -1.55147),
    ("s1 2he", "S1", 53.37995, -1.47134),
    ("NG15FS", "NG1", 52.95478, -1.1484),
    ("Le1  5ww", "LE1", 52.63403, -1.13256),
    ("BS1 4ST", "BS1", 51.45326, -2.59384),
    ("rg11jx", "RG1", 51.4517, -0.96972),
    ("B2 4QA", "B2", 52.4888, -1.89677),
    ("EH1 1YZ", "EH1", 55.95085, -3.19294),
    ("g2 1dy", "G2", 55.86294, -4.25598),
    ("M25DB", "M2", 53.48047, -2.24444),
    ("SW1A 1AA", "SW1A", 51.50453, -0.13222),
    ("ec1a 1bb", "EC1A", 51.52049, -0.10408),
    ("W1A 0AX", "W1A", 51.52437, -0.11282),
    ("CF10 1EP", "CF10", 51.47478, -3.17326),
    ("AB10 1AB", "AB10", 57.13518, -2.12045),
    ("IV21 2BQ", "IV21", 57.72433, -5.72181),
    ("ZE2 9LE", "ZE2", 60.31243, -1.2281),
    ("hs1 2xa", "HS1", 58.21266, -6.38141),
    ("KW15 1NX", "KW15", 58.9801, -2.96002),
    ("TR18  4AA", "TR18", 50.11739, -5.5425),
    ("PL1 2AA", "PL1", 50.3706, -4.15494),
    ("NE1 4ST", "NE1", 54.97243, -1.6115),
    ("CA3 8QG", "CA3", 54.90988, -2.94033),
    ("LL55 4AU", "LL55", 53.13408, -4.2042),
    ("SA1 3SN", "SA1", 51.6269, -3.94019),
    ("DG1 2BD", "DG1", 55.07375, -3.58165),
    ("YO1 7HH", "YO1", 53.95863, -1.08265),
    ("cb2 1tn", "CB2", 52.1853, 0.12303),
    ("OX1 3BG", "OX1", 51.74498, -1.26133),
    ("KT1 1EU", "KT1", 51.40758, -0.2983),
];

#[test]
fn valid_postcodes_are_placed_at_their_district() {
    let p = Postcodes::embedded();
    for &(text, district, lat, lon) in VALID {
        for written in [text.to_string(), format!("Customer at {text}, thanks"), format!("pc={text};")] {
            let f = p.find(&written, 0).unwrap_or_else(|| panic!("{written:?} not found"));
            assert_eq!(f.outward.to_ascii_uppercase(), district, "{written:?}");
            let place = p.locate(f.outward).unwrap_or_else(|| panic!("{district} not located"));
            assert_eq!(place.precision(), "district");
            let km = distance_km(place.lat, place.lon, lat, lon);
            assert!(km < 2.0, "{text}: {km:.2} km from the district centroid");
        }
    }
}

#[test]
fn invalid_postcodes_are_rejected() {
    let p = Postcodes::embedded();
    for text in [
        "QA1 1AA",   // Q never starts a postcode
        "VA1 1AA",   // nor V
        "LJ1 1AA",   // J is never second
        "LS1 4CA",   // C is never in the inward code
        "LS1 4AI",   // nor I
        "LS1 AAA",   // the inward code starts with a digit
        "LS 4AP",    // an outward code has a digit
        "LS123 4AP", // ... and at most four characters
        "ZZ1 1AA",   // no such area
        "XLS1 4AP",  // part of a longer word
        "LS1 4APQ",
        "ACC99561820",
        "20260105",
        "",
    ] {
        assert_eq!(p.find(text, 0), None, "{text:?}");
    }
}

#[test]
fn an_unknown_district_falls_back_to_its_area_and_northern_ireland_is_placed() {
    let p = Postcodes::embedded();
    // LS77 is not a district in the data: Leeds's area centroid stands in.
    let f = p.find("LS77 1AA", 0).unwrap_or_else(|| panic!("LS77 1AA"));
    let place = p.locate(f.outward).unwrap_or_else(|| panic!("LS77"));
    assert_eq!(place.precision(), "area");
    assert!(distance_km(place.lat, place.lon, 53.8, -1.55) < 25.0, "near Leeds: {place:?}");
    // BT postcodes are placed through their councils (Code-Point Open has none).
    let bt = p.locate("BT1").unwrap_or_else(|| panic!("BT1"));
    assert_eq!(bt.precision(), "council");
    assert!(distance_km(bt.lat, bt.lon, 54.597, -5.930) < 5.0, "Belfast: {bt:?}");
}

fn distance_km(a_lat: f64, a_lon: f64, b_lat: f64, b_lon: f64) -> f64 {
    let (p1, p2) = (a_lat.to_radians(), b_lat.to_radians());
    let dl = (b_lon - a_lon).to_radians();
    let h = ((p2 - p1) / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    6371.0 * 2.0 * h.sqrt().asin()
}
