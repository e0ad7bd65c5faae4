//! The UK place tables iotw carries, built by `scripts/build-geo-data.py` from open data
//! (sources and licences in `crates/enrich/data/README.md`) and embedded in the binary:
//! dialling prefixes -> exchange place, postcode districts -> centroid. Parsed once at start;
//! lookups do not allocate.

use iotw_event::json;
use std::collections::HashMap as StdMap;

/// Tables are read on the packet path: a fast hash (their keys are ours, not the wire's).
type HashMap<K, V> = StdMap<K, V, foldhash::fast::RandomState>;

const STD_CSV: &str = include_str!("../data/uk_std_codes.csv");
const POSTCODE_CSV: &str = include_str!("../data/uk_postcode_districts.csv");

/// A place with a point.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub name: Box<str>,
    pub lat: f64,
    pub lon: f64,
    /// How closely the point places it: `town`, `district`, `area`, `region` (dialling codes);
    /// `district`, `council`, `area` (postcodes).
    pub precision: &'static str,
    /// The ECS `geo` object of this place, rendered once: `{"name":..,"location":{"lat":..,
    /// "lon":..},"country_iso_code":"GB","precision":..}`.
    pub json: Box<str>,
}

impl Place {
    fn new(name: &str, lat: f64, lon: f64, precision: &'static str) -> Self {
        // Written directly (thousands of places are rendered at start-up), members in the
        // order serde_json's map kept them, numbers as serde_json writes them.
        let mut out = Vec::with_capacity(name.len() + 128);
        out.extend_from_slice(b"{\"country_iso_code\":\"GB\",\"location\":{\"lat\":");
        serde_json::to_writer(&mut out, &lat).unwrap_or_default();
        out.extend_from_slice(b",\"lon\":");
        serde_json::to_writer(&mut out, &lon).unwrap_or_default();
        out.extend_from_slice(b"},\"name\":");
        json::write_str(&mut out, name);
        out.extend_from_slice(b",\"precision\":");
        json::write_str(&mut out, precision);
        out.push(b'}');
        let json = String::from_utf8(out).unwrap_or_default().into_boxed_str();
        Place { name: name.into(), lat, lon, precision, json }
    }
}

fn precision(s: &str) -> Option<&'static str> {
    ["town", "district", "area", "region", "council"].into_iter().find(|p| *p == s)
}

/// UK geographic dialling prefixes (national form, `0` included), longest match wins.
#[derive(Debug)]
pub struct DiallingCodes {
    /// Key: the prefix's digits as a number, with its length in the top byte (so `0113` and
    /// `113` differ).
    by_prefix: HashMap<u64, (Box<str>, Place)>,
    longest: usize,
}

fn prefix_key(digits: &[u8]) -> Option<u64> {
    let mut v: u64 = digits.len() as u64;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v | ((digits.len() as u64) << 56))
}

/// The embedded tables, built once per process on first use: building them takes a few
/// milliseconds, which [`warm`] can spend on another thread while a run starts.
pub fn dialling_codes() -> &'static DiallingCodes {
    static TABLE: std::sync::OnceLock<DiallingCodes> = std::sync::OnceLock::new();
    TABLE.get_or_init(DiallingCodes::embedded)
}

/// See [`dialling_codes`].
pub fn postcodes() -> &'static Postcodes {
    static TABLE: std::sync::OnceLock<Postcodes> = std::sync::OnceLock::new();
    TABLE.get_or_init(Postcodes::embedded)
}

/// Builds both embedded tables on a thread of their own, so that whoever needs them first
/// waits only for what is left to do.
pub fn warm() {
    let built = std::thread::Builder::new().name("iotw-places".into()).spawn(|| {
        dialling_codes();
        postcodes();
    });
    // Without a thread the tables are built on first use instead.
    drop(built);
}

impl DiallingCodes {
    pub fn embedded() -> Self {
        let mut by_prefix = HashMap::with_capacity_and_hasher(rows(STD_CSV), Default::default());
        let mut longest = 0;
        for line in lines(STD_CSV).skip(1) {
            let [Some(prefix), Some(name), Some(lat), Some(lon), Some(prec)] = split_csv(line) else {
                continue;
            };
            let (Ok(lat), Ok(lon), Some(precision)) = (lat.parse(), lon.parse(), precision(prec)) else { continue };
            let Some(key) = prefix_key(prefix.as_bytes()) else { continue };
            longest = longest.max(prefix.len());
            by_prefix.insert(key, (prefix.into(), Place::new(name, lat, lon, precision)));
        }
        DiallingCodes { by_prefix, longest }
    }

    pub fn len(&self) -> usize {
        self.by_prefix.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_prefix.is_empty()
    }

    /// The longest prefix of a national number (`0113...`) in the table, and its place.
    pub fn lookup(&self, national: &str) -> Option<(&str, &Place)> {
        let b = national.as_bytes();
        (3..=self.longest.min(b.len())).rev().find_map(|n| {
            let (prefix, place) = self.by_prefix.get(&prefix_key(b.get(..n)?)?)?;
            Some((prefix.as_ref(), place))
        })
    }
}

/// How many rows a CSV text has at most (its lines), counted without splitting it.
fn rows(csv: &str) -> usize {
    iotw_event::bytes::positions(csv.as_bytes(), b'\n').count() + 1
}

/// The lines of `text`, as [`str::lines`] gives them, found 64 bytes at a time.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let ends = iotw_event::bytes::positions(text.as_bytes(), b'\n').map(Some).chain([None]);
    ends.filter_map(move |end| {
        // `\n` is ASCII: a character boundary. A `\r` goes with the `\n` after it only.
        let line = match end {
            Some(i) => text.get(start..i).map(|l| l.strip_suffix('\r').unwrap_or(l)),
            None => text.get(start..).filter(|rest| !rest.is_empty()),
        };
        start = end.map_or(text.len(), |i| i + 1);
        line
    })
}

/// The first `N` fields of one CSV line (quoted fields with `""` escapes are kept whole,
/// quotes removed only when there is nothing to unescape); missing fields are `None`.
fn split_csv<const N: usize>(line: &str) -> [Option<&str>; N] {
    let mut out = [None; N];
    let (mut start, mut n, mut quoted) = (0, 0, false);
    // Quotes and commas are ASCII: the cuts are on character boundaries.
    for (i, c) in line.bytes().enumerate() {
        match c {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                let Some(slot) = out.get_mut(n) else { return out };
                *slot = Some(unquote(line.get(start..i).unwrap_or_default()));
                (start, n) = (i + 1, n + 1);
            }
            _ => {}
        }
    }
    if let Some(slot) = out.get_mut(n) {
        *slot = Some(unquote(line.get(start..).unwrap_or_default()));
    }
    out
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s)
}

/// UK postcode districts and areas, with centroids.
#[derive(Debug)]
pub struct Postcodes {
    districts: HashMap<Box<str>, Place>,
    areas: HashMap<Box<str>, Place>,
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
    pub fn embedded() -> Self {
        let mut districts = HashMap::with_capacity_and_hasher(rows(POSTCODE_CSV), Default::default());
        let mut sums: HashMap<&str, (f64, f64, f64)> = HashMap::default();
        for line in lines(POSTCODE_CSV).skip(1) {
            let [Some(d), Some(lat), Some(lon), Some(prec), Some(n)] = split_csv(line) else {
                continue;
            };
            let (Ok(lat), Ok(lon), Some(precision), Ok(n)) =
                (lat.parse::<f64>(), lon.parse::<f64>(), precision(prec), n.parse::<f64>())
            else {
                continue;
            };
            let area = d.get(..d.bytes().take_while(u8::is_ascii_alphabetic).count()).unwrap_or_default();
            let s = sums.entry(area).or_default();
            s.0 += lat * n;
            s.1 += lon * n;
            s.2 += n;
            districts.insert(d.into(), Place::new(d, lat, lon, precision));
        }
        let areas = sums
            .into_iter()
            .filter(|(_, s)| s.2 > 0.0)
            .map(|(a, s)| {
                let place = Place::new(a, s.0 / s.2, s.1 / s.2, "area");
                (a.into(), place)
            })
            .collect();
        Postcodes { districts, areas }
    }

    pub fn districts(&self) -> usize {
        self.districts.len()
    }

    /// The place of a postcode's outward code: its district, else its area (a district the
    /// data does not know, e.g. a new one); `None` when the area is not a UK postcode area.
    pub fn locate(&self, outward: &str) -> Option<&Place> {
        let mut buf = [0u8; 4];
        let up = upper(outward, &mut buf)?;
        if let Some(p) = self.districts.get(up) {
            return Some(p);
        }
        let letters = up.bytes().take_while(u8::is_ascii_alphabetic).count();
        self.areas.get(up.get(..letters)?)
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

    #[test]
    fn the_embedded_tables_load_whole() {
        let d = DiallingCodes::embedded();
        assert_eq!(d.len(), STD_CSV.lines().count() - 1, "every dialling prefix row parses");
        let p = Postcodes::embedded();
        assert_eq!(p.districts(), POSTCODE_CSV.lines().count() - 1, "every district row parses");
    }

    #[test]
    fn lines_are_those_str_gives() {
        for text in ["", "\n", "a", "a\n", "a\r\nb", "a\n\nb\r\n", "\r\n\r", STD_CSV] {
            assert_eq!(lines(text).collect::<Vec<_>>(), text.lines().collect::<Vec<_>>(), "{text:?}");
        }
    }

    #[test]
    fn csv_fields_are_cut_at_commas_outside_quotes() {
        assert_eq!(split_csv::<3>("a,b,c,d"), [Some("a"), Some("b"), Some("c")]);
        assert_eq!(split_csv::<3>("a,,"), [Some("a"), Some(""), Some("")]);
        assert_eq!(split_csv::<3>("a,b"), [Some("a"), Some("b"), None]);
        assert_eq!(
            split_csv::<2>("01595,\"Lerwick, Foula & Fair Isle\",60.1"),
            [Some("01595"), Some("Lerwick, Foula & Fair Isle")]
        );
        assert_eq!(split_csv::<2>("\"say \"\"hi\"\"\",x"), [Some("say \"\"hi\"\""), Some("x")]);
        let (_, lerwick) = dialling_codes().lookup("01595123456").unwrap();
        assert_eq!(&*lerwick.name, "Lerwick, Foula & Fair Isle");
    }

    #[test]
    fn longest_prefix_wins() {
        let d = DiallingCodes::embedded();
        assert_eq!(d.lookup("01134960000").map(|(p, pl)| (p, &*pl.name)), Some(("0113", "Leeds")));
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
