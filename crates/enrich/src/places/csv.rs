//! The rows of the place tables in `data/`, read the same way by the build script (which
//! turns them into the tables the binary carries, see `build.rs`) and by the tests (which
//! check those tables against them). Plain code: the build script compiles this file alone.

/// A row of `uk_std_codes.csv`: a geographic dialling prefix and its place.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixRow<'a> {
    pub prefix: &'a str,
    pub name: &'a str,
    pub lat: f64,
    pub lon: f64,
    pub precision: &'static str,
}

/// A row of `uk_postcode_districts.csv`: a postcode district's centroid and how many
/// postcodes it was taken over.
#[derive(Debug, Clone, PartialEq)]
pub struct DistrictRow<'a> {
    pub district: &'a str,
    pub lat: f64,
    pub lon: f64,
    pub precision: &'static str,
    pub postcodes: f64,
}

/// The rows of `uk_std_codes.csv` (after its header line); a row that does not read is an
/// error naming its line.
pub fn prefix_rows(csv: &str) -> impl Iterator<Item = Result<PrefixRow<'_>, String>> {
    csv.lines().enumerate().skip(1).map(|(i, line)| {
        let bad = |what: &str| format!("line {}: {what}: {line}", i + 1);
        let [Some(prefix), Some(name), Some(lat), Some(lon), Some(prec)] = split_csv(line) else {
            return Err(bad("fewer than 5 fields"));
        };
        if prefix_key(prefix.as_bytes()).is_none() {
            return Err(bad("the prefix is not digits"));
        }
        Ok(PrefixRow {
            prefix,
            name,
            lat: lat.parse().map_err(|_| bad("bad latitude"))?,
            lon: lon.parse().map_err(|_| bad("bad longitude"))?,
            precision: precision(prec).ok_or_else(|| bad("unknown precision"))?,
        })
    })
}

/// The rows of `uk_postcode_districts.csv` (after its header line); a row that does not
/// read is an error naming its line.
pub fn district_rows(csv: &str) -> impl Iterator<Item = Result<DistrictRow<'_>, String>> {
    csv.lines().enumerate().skip(1).map(|(i, line)| {
        let bad = |what: &str| format!("line {}: {what}: {line}", i + 1);
        let [Some(district), Some(lat), Some(lon), Some(prec), Some(n)] = split_csv(line) else {
            return Err(bad("fewer than 5 fields"));
        };
        Ok(DistrictRow {
            district,
            lat: lat.parse().map_err(|_| bad("bad latitude"))?,
            lon: lon.parse().map_err(|_| bad("bad longitude"))?,
            precision: precision(prec).ok_or_else(|| bad("unknown precision"))?,
            postcodes: n.parse().map_err(|_| bad("bad postcode count"))?,
        })
    })
}

/// A postcode area (the letters of its districts) placed at the mean of its districts'
/// centroids, each weighted by its postcodes; in area order. Areas without postcodes are
/// left out.
pub fn areas<'a>(districts: &[DistrictRow<'a>]) -> Vec<(&'a str, f64, f64)> {
    let mut sums: std::collections::BTreeMap<&str, (f64, f64, f64)> = Default::default();
    for d in districts {
        let letters = d.district.bytes().take_while(u8::is_ascii_alphabetic).count();
        let s = sums.entry(d.district.get(..letters).unwrap_or_default()).or_default();
        s.0 += d.lat * d.postcodes;
        s.1 += d.lon * d.postcodes;
        s.2 += d.postcodes;
    }
    sums.into_iter().filter(|(_, s)| s.2 > 0.0).map(|(a, s)| (a, s.0 / s.2, s.1 / s.2)).collect()
}

/// The key a dialling prefix is looked up by: its digits as a number, with its length in the
/// top byte (so `0113` and `113` differ); `None` when it is not all digits or too long.
pub fn prefix_key(digits: &[u8]) -> Option<u64> {
    let mut v: u64 = digits.len() as u64;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v | ((digits.len() as u64) << 56))
}

/// The key a postcode district or area is looked up by: its bytes (at most 8) as a number.
pub fn name_key(name: &[u8]) -> Option<u64> {
    let mut b = [0u8; 8];
    b.get_mut(..name.len())?.copy_from_slice(name);
    (!name.is_empty()).then(|| u64::from_le_bytes(b))
}

/// The slot a key's search starts at in a table of `2^bits` slots (Fibonacci hashing); the
/// search goes on to the next slots until it meets the key or an empty slot.
pub fn home(key: u64, bits: u32) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
}

/// The slots of a table of `keys` (at most `u16::MAX - 1`): each holds one plus the
/// position of the key whose search finds it there, or 0. Twice as many slots as keys, at
/// least; `None` when a key is there twice.
pub fn slots(keys: &[u64]) -> Option<(u32, Vec<u16>)> {
    let bits = (keys.len() * 2).next_power_of_two().max(2).trailing_zeros();
    let mut slots = vec![0u16; 1 << bits];
    let mask = slots.len() - 1;
    for (n, key) in keys.iter().enumerate() {
        let mut i = home(*key, bits);
        loop {
            let slot = slots.get_mut(i)?;
            if *slot == 0 {
                *slot = u16::try_from(n + 1).ok()?;
                break;
            }
            if keys.get(usize::from(*slot) - 1) == Some(key) {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
    Some((bits, slots))
}

/// The precisions the tables use.
pub fn precision(s: &str) -> Option<&'static str> {
    ["town", "district", "area", "region", "council"].into_iter().find(|p| *p == s)
}

/// The first `N` fields of one CSV line (quoted fields with `""` escapes are kept whole,
/// quotes removed only when there is nothing to unescape); missing fields are `None`.
pub fn split_csv<const N: usize>(line: &str) -> [Option<&str>; N] {
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
