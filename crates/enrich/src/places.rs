//! The UK place tables iotw carries, built by `scripts/build-geo-data.py` from open data
//! (sources and licences in `crates/enrich/data/README.md`) and embedded in the binary:
//! dialling prefixes -> exchange place, postcode districts -> centroid. The build turns them
//! into statics with hash tables (`build.rs`), so a run neither parses nor builds anything;
//! lookups do not allocate.

// The rows are read by the build script and the tests; a run only keys and hashes.
#[cfg_attr(not(test), allow(dead_code))]
mod csv;

/// A place with a point. Its texts lie in the tables' one text constant (see `build.rs`).
#[derive(Clone, Copy, PartialEq)]
pub struct Place {
    name: Span,
    pub lat: f64,
    pub lon: f64,
    precision: Span,
    json: Span,
}

/// Where a text of the embedded tables lies in `TEXT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span(u32, u32);

impl Span {
    fn text(self) -> &'static str {
        TEXT.get(self.0 as usize..self.1 as usize).unwrap_or("")
    }
}

impl Place {
    pub fn name(&self) -> &'static str {
        self.name.text()
    }

    /// How closely the point places it: `town`, `district`, `area`, `region` (dialling codes);
    /// `district`, `council`, `area` (postcodes).
    pub fn precision(&self) -> &'static str {
        self.precision.text()
    }

    /// The ECS `geo` object of this place: `{"country_iso_code":"GB","location":{"lat":..,
    /// "lon":..},"name":..,"precision":..}`.
    pub fn json(&self) -> &'static str {
        self.json.text()
    }
}

impl std::fmt::Debug for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Place")
            .field("name", &self.name())
            .field("lat", &self.lat)
            .field("lon", &self.lon)
            .field("precision", &self.precision())
            .finish()
    }
}

// PREFIXES (keyed by `csv::prefix_key`), DISTRICTS and AREAS (by `csv::name_key`), each with
// its hash table (`_SLOTS`, `_BITS`), LONGEST_PREFIX, and TEXT, where their texts lie.
include!(concat!(env!("OUT_DIR"), "/places.rs"));

/// An entry of an embedded table and its hash table's slots (see `csv::slots`).
#[derive(Debug)]
struct Table<T: 'static> {
    entries: &'static [T],
    slots: &'static [u16],
    bits: u32,
}

impl<T> Table<T> {
    /// The entry whose key is `key`: a probe of the slots from the key's home slot.
    fn find(&self, key: u64, key_of: impl Fn(&T) -> u64) -> Option<&'static T> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut i = csv::home(key, self.bits);
        // At most every slot: the table is at most half full, so an empty one ends it first.
        for _ in 0..self.slots.len() {
            let entry = self.entries.get(usize::from(*self.slots.get(i)?).checked_sub(1)?)?;
            if key_of(entry) == key {
                return Some(entry);
            }
            i = (i + 1) & mask;
        }
        None
    }
}

/// UK geographic dialling prefixes (national form, `0` included), longest match wins.
#[derive(Debug)]
pub struct DiallingCodes {
    by_prefix: Table<(u64, Span, Place)>,
    longest: usize,
}

/// The embedded dialling prefixes.
pub fn dialling_codes() -> &'static DiallingCodes {
    static TABLE: DiallingCodes = DiallingCodes::embedded();
    &TABLE
}

/// The embedded postcode districts and areas.
pub fn postcodes() -> &'static Postcodes {
    static TABLE: Postcodes = Postcodes::embedded();
    &TABLE
}

impl DiallingCodes {
    pub const fn embedded() -> Self {
        DiallingCodes {
            by_prefix: Table { entries: &PREFIXES, slots: &PREFIX_SLOTS, bits: PREFIX_BITS },
            longest: LONGEST_PREFIX,
        }
    }

    pub fn len(&self) -> usize {
        self.by_prefix.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_prefix.entries.is_empty()
    }

    /// The longest prefix of a national number (`0113...`) in the table, and its place.
    pub fn lookup(&self, national: &str) -> Option<(&'static str, &'static Place)> {
        let b = national.as_bytes();
        (3..=self.longest.min(b.len())).rev().find_map(|n| {
            let (_, prefix, place) = self.by_prefix.find(csv::prefix_key(b.get(..n)?)?, |e| e.0)?;
            Some((prefix.text(), place))
        })
    }
}

/// UK postcode districts and areas, with centroids.
#[derive(Debug)]
pub struct Postcodes {
    districts: Table<(u64, Place)>,
    areas: Table<(u64, Place)>,
}

/// A postcode found in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found<'t> {
    /// Byte range in the text.
    pub start: usize,
    pub end: usize,
    /// Outward code as written (case kept) and inward code.
    pub outward: &'t str,
    pub inward: &'t str,
}

impl Postcodes {
    pub const fn embedded() -> Self {
        Postcodes {
            districts: Table { entries: &DISTRICTS, slots: &DISTRICT_SLOTS, bits: DISTRICT_BITS },
            areas: Table { entries: &AREAS, slots: &AREA_SLOTS, bits: AREA_BITS },
        }
    }

    pub fn districts(&self) -> usize {
        self.districts.entries.len()
    }

    /// The place of a postcode's outward code: its district, else its area (a district the
    /// data does not know, e.g. a new one); `None` when the area is not a UK postcode area.
    pub fn locate(&self, outward: &str) -> Option<&'static Place> {
        let mut buf = [0u8; 4];
        let up = upper(outward, &mut buf)?;
        if let Some((_, p)) = self.districts.find(csv::name_key(up.as_bytes())?, |e| e.0) {
            return Some(p);
        }
        let letters = up.bytes().take_while(u8::is_ascii_alphabetic).count();
        self.areas.find(csv::name_key(up.as_bytes().get(..letters)?)?, |e| e.0).map(|(_, p)| p)
    }

    /// The first valid UK postcode in `text` at or after byte `from` (grammar checked and its
    /// area known), in any case and with zero, one or two spaces between its halves.
    pub fn find<'t>(&self, text: &'t str, from: usize) -> Option<Found<'t>> {
        let b = text.as_bytes();
        let mut i = from;
        while i < b.len() {
            // A token starts after a character that is not a letter or digit.
            let starts = b.get(i).is_some_and(u8::is_ascii_alphabetic)
                && (i == 0 || !b.get(i - 1).is_some_and(u8::is_ascii_alphanumeric));
            if starts {
                if let Some(f) = self.match_at(text, i) {
                    return Some(f);
                }
            }
            i += 1;
        }
        None
    }

    /// The postcode that starts at byte `i` of `text`, if one does (`i` must start a token).
    pub fn match_at<'t>(&self, text: &'t str, i: usize) -> Option<Found<'t>> {
        let b = text.as_bytes();
        let token_end =
            |s: usize| s + b.get(s..).map_or(0, |r| r.iter().take_while(|c| c.is_ascii_alphanumeric()).count());
        let end1 = token_end(i);
        let tok = text.get(i..end1)?;
        // "LS14AP": one token of 5 to 7; the inward code is always its last three.
        if (5..=7).contains(&tok.len()) {
            let (out, inw) = tok.split_at(tok.len() - 3);
            if valid_outward(out) && valid_inward(inw) && self.locate(out).is_some() {
                return Some(Found { start: i, end: end1, outward: out, inward: inw });
            }
        }
        // "LS1 4AP", "LS1  4AP".
        if (2..=4).contains(&tok.len()) {
            let spaces = b.get(end1..).map_or(0, |r| r.iter().take_while(|&&c| c == b' ').count());
            if (1..=2).contains(&spaces) {
                let s2 = end1 + spaces;
                let end2 = token_end(s2);
                let inw = text.get(s2..end2)?;
                if inw.len() == 3 && valid_outward(tok) && valid_inward(inw) && self.locate(tok).is_some() {
                    return Some(Found { start: i, end: end2, outward: tok, inward: inw });
                }
            }
        }
        None
    }
}

fn upper<'b>(s: &str, buf: &'b mut [u8; 4]) -> Option<&'b str> {
    let dst = buf.get_mut(..s.len())?;
    dst.copy_from_slice(s.as_bytes());
    dst.make_ascii_uppercase();
    std::str::from_utf8(dst).ok()
}

/// The outward code grammar: A9, A99, AA9, AA99, A9A, AA9A, with the letters each position
/// allows (Royal Mail's rules: Q, V, X never first; I, J, Z never second; ...).
fn valid_outward(s: &str) -> bool {
    let mut buf = [0u8; 4];
    let Some(u) = buf.get_mut(..s.len()) else { return false };
    u.copy_from_slice(s.as_bytes());
    u.make_ascii_uppercase();
    let l = |c: u8| c.is_ascii_uppercase();
    let d = |c: u8| c.is_ascii_digit();
    let first_ok = |c: u8| l(c) && !b"QVX".contains(&c);
    let second_ok = |c: u8| l(c) && !b"IJZ".contains(&c);
    match *u {
        [a, n] => first_ok(a) && d(n),
        [a, n, m] if d(n) => first_ok(a) && (d(m) || b"ABCDEFGHJKPSTUW".contains(&m)),
        [a, b, n] => first_ok(a) && second_ok(b) && d(n),
        [a, b, n, m] => first_ok(a) && second_ok(b) && d(n) && (d(m) || b"ABEHMNPRVWXY".contains(&m)),
        _ => false,
    }
}

/// The inward code: a digit and two letters, never C, I, K, M, O or V.
fn valid_inward(s: &str) -> bool {
    match s.as_bytes() {
        [n, a, b] => {
            let ok = |c: &u8| c.is_ascii_alphabetic() && !b"CIKMOV".contains(&c.to_ascii_uppercase());
            n.is_ascii_digit() && ok(a) && ok(b)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STD_CSV: &str = include_str!("../data/uk_std_codes.csv");
    const POSTCODE_CSV: &str = include_str!("../data/uk_postcode_districts.csv");

    /// A place's `geo` object as the enrichment wrote it when it built the tables at start.
    fn geo_json(name: &str, lat: f64, lon: f64, precision: &str) -> String {
        let mut out = b"{\"country_iso_code\":\"GB\",\"location\":{\"lat\":".to_vec();
        serde_json::to_writer(&mut out, &lat).unwrap();
        out.extend_from_slice(b",\"lon\":");
        serde_json::to_writer(&mut out, &lon).unwrap();
        out.extend_from_slice(b"},\"name\":");
        iotw_event::json::write_str(&mut out, name);
        out.extend_from_slice(b",\"precision\":");
        iotw_event::json::write_str(&mut out, precision);
        out.push(b'}');
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_row_of_the_data_files_is_found_as_written() {
        let rows: Vec<_> = csv::prefix_rows(STD_CSV).collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), STD_CSV.lines().count() - 1);
        let d = dialling_codes();
        assert_eq!(d.len(), rows.len(), "one entry per row");
        for r in &rows {
            // The prefix, then digits no longer prefix takes: the prefix is the longest match.
            let (prefix, place) = (b'0'..=b'9')
                .map(|fill| format!("{}{}", r.prefix, char::from(fill).to_string().repeat(11 - r.prefix.len())))
                .filter_map(|number| d.lookup(&number))
                .find(|(p, _)| *p == r.prefix)
                .unwrap_or_else(|| panic!("{} is never the longest match", r.prefix));
            assert_eq!(
                (prefix, place.name(), place.lat, place.lon, place.precision()),
                (r.prefix, r.name, r.lat, r.lon, r.precision)
            );
            assert_eq!(place.json(), geo_json(r.name, r.lat, r.lon, r.precision), "{}", r.prefix);
        }
        let rows: Vec<_> = csv::district_rows(POSTCODE_CSV).collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), POSTCODE_CSV.lines().count() - 1);
        let p = postcodes();
        assert_eq!(p.districts(), rows.len(), "one entry per row");
        for r in &rows {
            let place = p.locate(&r.district.to_ascii_lowercase()).unwrap_or_else(|| panic!("{}", r.district));
            assert_eq!(
                (place.name(), place.lat, place.lon, place.precision()),
                (r.district, r.lat, r.lon, r.precision)
            );
            assert_eq!(place.json(), geo_json(r.district, r.lat, r.lon, r.precision), "{}", r.district);
        }
        let areas = csv::areas(&rows);
        assert!(areas.len() > 100, "{} areas", areas.len());
        for (area, lat, lon) in areas {
            // A district the data does not have: the area is the fallback.
            let unknown = (0..100)
                .map(|n| format!("{area}{n}"))
                .find(|d| rows.iter().all(|r| r.district != d))
                .unwrap_or_else(|| panic!("{area} has every district"));
            let place = p.locate(&unknown).unwrap_or_else(|| panic!("{unknown}"));
            assert_eq!((place.name(), place.lat, place.lon, place.precision()), (area, lat, lon, "area"));
            assert_eq!(place.json(), geo_json(area, lat, lon, "area"), "{area}");
        }
    }

    #[test]
    fn hash_tables_find_every_key_and_no_other() {
        // Keys that share their low bits, and more than fit a power of two.
        let keys: &'static [u64] = Vec::leak((1..=1500u64).map(|k| k << 20).collect());
        let (bits, slots) = csv::slots(keys).unwrap();
        assert!(slots.len() >= 2 * keys.len());
        let table = Table { entries: keys, slots: Vec::leak(slots), bits };
        for k in keys {
            assert_eq!(table.find(*k, |e| *e), Some(k));
        }
        for absent in [0, 1, 1501 << 20, u64::MAX] {
            assert_eq!(table.find(absent, |e| *e), None);
        }
        assert_eq!(csv::slots(&[5, 9, 5]), None, "a key twice");
    }

    #[test]
    fn csv_fields_are_cut_at_commas_outside_quotes() {
        use csv::split_csv;
        assert_eq!(split_csv::<3>("a,b,c,d"), [Some("a"), Some("b"), Some("c")]);
        assert_eq!(split_csv::<3>("a,,"), [Some("a"), Some(""), Some("")]);
        assert_eq!(split_csv::<3>("a,b"), [Some("a"), Some("b"), None]);
        assert_eq!(
            split_csv::<2>("01595,\"Lerwick, Foula & Fair Isle\",60.1"),
            [Some("01595"), Some("Lerwick, Foula & Fair Isle")]
        );
        assert_eq!(split_csv::<2>("\"say \"\"hi\"\"\",x"), [Some("say \"\"hi\"\""), Some("x")]);
        let (_, lerwick) = dialling_codes().lookup("01595123456").unwrap();
        assert_eq!(lerwick.name(), "Lerwick, Foula & Fair Isle");
    }

    #[test]
    fn longest_prefix_wins() {
        let d = DiallingCodes::embedded();
        assert_eq!(d.lookup("01134960000").map(|(p, pl)| (p, pl.name())), Some(("0113", "Leeds")));
        assert_eq!(d.lookup("01697300000").map(|(p, _)| p), Some("016973"), "Wigton, in Brampton's area");
        assert_eq!(d.lookup("01697200000").map(|(p, _)| p), Some("01697"));
        assert_eq!(d.lookup("07700900000"), None);
    }

    #[test]
    fn postcodes_are_found_in_any_spacing_and_case() {
        let p = Postcodes::embedded();
        for (text, out, inw) in [
            ("LS1 4AP", "LS1", "4AP"),
            ("ls14ap", "ls1", "4ap"),
            ("at SW1A 1AA today", "SW1A", "1AA"),
            ("EC1A  1BB", "EC1A", "1BB"),
            ("postcode=M2 5DB;", "M2", "5DB"),
        ] {
            let f = p.find(text, 0).unwrap_or_else(|| panic!("{text}"));
            assert_eq!((f.outward, f.inward), (out, inw), "{text}");
        }
        for text in ["QA1 1AA", "LS1 4CP", "ACC99561820", "XLS1 4AP", "LS1 4APX", "12345", "ZZ9 9ZZ", "LS1-4AP"] {
            assert_eq!(p.find(text, 0), None, "{text}");
        }
    }
}
