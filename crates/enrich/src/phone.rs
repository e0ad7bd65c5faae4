//! Phone numbers: normalised to E.164 and classified by the UK numbering plan, without
//! allocating. A number is read from what SIP and T-Library carry: `0113 496 0000`,
//! `+441134960000`, `00441134960000`, `441134960000`, `tel:+44-113-496-0000`, a number behind
//! an outside-line prefix (`901134960000`, the prefix configurable), or a withheld marker
//! (`anonymous`, `withheld`, ...). Short strings of digits are extensions, not numbers.

/// Longest number kept (E.164 allows 15 digits; a little room for national forms).
const MAX_DIGITS: usize = 17;

/// What a number is, by the UK numbering plan (Ofcom) or as international.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// 01 and 02: a place.
    Geographic,
    /// 03: charged like geographic numbers, not tied to a place.
    NonGeographic,
    /// 071-075, 077-079 (and 07624, the Isle of Man).
    Mobile,
    /// 070.
    Personal,
    /// 076.
    Pager,
    /// 080 and 0500.
    Freephone,
    /// 084 and 087.
    Special,
    /// 09.
    Premium,
    /// 055 and 056.
    Corporate,
    /// Another country's number.
    International,
    /// The caller withheld it (`anonymous`, `withheld`, `private`, ...).
    Withheld,
    /// UK-shaped but not a valid UK number.
    Invalid,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Geographic => "geographic",
            Class::NonGeographic => "non_geographic",
            Class::Mobile => "mobile",
            Class::Personal => "personal",
            Class::Pager => "pager",
            Class::Freephone => "freephone",
            Class::Special => "special",
            Class::Premium => "premium",
            Class::Corporate => "corporate",
            Class::International => "international",
            Class::Withheld => "withheld",
            Class::Invalid => "invalid",
        }
    }
}

/// A number in E.164 digits (no `+`), kept on the stack.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Phone {
    digits: [u8; MAX_DIGITS],
    len: u8,
    /// Length of the country code.
    cc_len: u8,
    pub class: Class,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "+{} ({})", self.e164_digits(), self.class.as_str())
    }
}

impl Phone {
    fn withheld() -> Self {
        Phone { digits: [0; MAX_DIGITS], len: 0, cc_len: 0, class: Class::Withheld }
    }

    /// [`Phone::e164_digits`] as bytes, without checking them again.
    pub fn e164_bytes(&self) -> &[u8] {
        self.digits.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// [`Phone::country_code`] as bytes.
    pub fn country_code_bytes(&self) -> &[u8] {
        self.e164_bytes().get(..usize::from(self.cc_len)).unwrap_or_default()
    }

    /// The E.164 digits without `+` (empty when withheld).
    pub fn e164_digits(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(self.digits.get(..usize::from(self.len)).unwrap_or_default()).unwrap_or_default()
    }

    pub fn country_code(&self) -> &str {
        self.e164_digits().get(..usize::from(self.cc_len)).unwrap_or_default()
    }

    /// The national significant number (after the country code).
    pub fn national_significant(&self) -> &str {
        self.e164_digits().get(usize::from(self.cc_len)..).unwrap_or_default()
    }

    pub fn is_uk(&self) -> bool {
        self.country_code() == "44"
    }

    /// Writes the UK national form (`0` and the national significant number) into `out`.
    pub fn national<'b>(&self, out: &'b mut [u8; MAX_DIGITS + 1]) -> &'b str {
        let nsn = self.national_significant().as_bytes();
        out[0] = b'0';
        let n = nsn.len().min(MAX_DIGITS);
        if let (Some(dst), Some(src)) = (out.get_mut(1..=n), nsn.get(..n)) {
            dst.copy_from_slice(src);
        }
        std::str::from_utf8(out.get(..=n).unwrap_or_default()).unwrap_or_default()
    }
}

/// How numbers are read at this site.
#[derive(Debug, Clone, Default)]
pub struct Dialling {
    /// Digits dialled for an outside line before the number (e.g. `9`), stripped when what
    /// follows is a whole national or international number.
    pub outside_line: String,
}

const WITHHELD: [&str; 8] =
    ["anonymous", "withheld", "private", "restricted", "unavailable", "unknown", "blocked", "anonymous.invalid"];

/// Reads a number; `None` when the text is not a phone number (an extension, a name, ...).
pub fn parse(text: &str, dialling: &Dialling) -> Option<Phone> {
    let text = strip_scheme(text.trim_ascii());
    // URI parameters (`;phone-context=...`, `;npdi`) and SIP hosts are not part of the number.
    let end = text.bytes().position(|c| c == b';' || c == b'@').unwrap_or(text.len());
    let text = text.get(..end).unwrap_or_default().trim_ascii();
    // A name is no number: only the words for a withheld one are worth comparing.
    if text.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        return WITHHELD.iter().any(|w| text.eq_ignore_ascii_case(w)).then(Phone::withheld);
    }
    let (plus, body) = match text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut raw = [0u8; MAX_DIGITS + 4];
    let mut n = 0;
    for c in body.bytes() {
        match c {
            b'0'..=b'9' => {
                *raw.get_mut(n)? = c;
                n += 1;
            }
            b' ' | b'-' | b'.' | b'(' | b')' | b'/' => {}
            _ => return None,
        }
    }
    let mut digits = raw.get(..n)?;
    if plus {
        return international(digits);
    }
    let outside = dialling.outside_line.as_bytes();
    if !outside.is_empty() && digits.starts_with(outside) {
        let rest = digits.get(outside.len()..)?;
        if rest.first() == Some(&b'0') && rest.len() >= 9 {
            digits = rest;
        }
    }
    if let Some(rest) = digits.strip_prefix(b"00") {
        return international(rest);
    }
    if let Some(nsn) = digits.strip_prefix(b"0") {
        return uk(nsn);
    }
    if digits.starts_with(b"44") && (11..=12).contains(&digits.len()) {
        return uk(digits.get(2..)?);
    }
    None
}

fn strip_scheme(s: &str) -> &str {
    if !matches!(s.as_bytes().first(), Some(b't' | b'T' | b's' | b'S')) {
        return s;
    }
    for scheme in ["tel:", "sip:", "sips:"] {
        if s.len() >= scheme.len() && s.get(..scheme.len()).is_some_and(|p| p.eq_ignore_ascii_case(scheme)) {
            return s.get(scheme.len()..).unwrap_or_default();
        }
    }
    s
}

fn build(cc: &[u8], nsn: &[u8], class: Class) -> Option<Phone> {
    let mut p = Phone { digits: [0; MAX_DIGITS], len: 0, cc_len: cc.len() as u8, class };
    let total = cc.len() + nsn.len();
    let dst = p.digits.get_mut(..total)?;
    let (a, b) = dst.split_at_mut(cc.len());
    a.copy_from_slice(cc);
    b.copy_from_slice(nsn);
    p.len = total as u8;
    Some(p)
}

/// A UK number from its national significant number.
fn uk(nsn: &[u8]) -> Option<Phone> {
    if nsn.len() < 7 {
        return None;
    }
    let at = |i: usize| nsn.get(i).copied().unwrap_or(b'x');
    let len = nsn.len();
    let class = match (at(0), at(1)) {
        (b'1' | b'2', _) if (9..=10).contains(&len) => Class::Geographic,
        (b'3', _) if len == 10 => Class::NonGeographic,
        (b'5', b'0') if at(2) == b'0' && (9..=10).contains(&len) => Class::Freephone,
        (b'5', b'5' | b'6') if len == 10 => Class::Corporate,
        (b'7', b'0') if len == 10 => Class::Personal,
        (b'7', b'6') if len == 10 => {
            if nsn.starts_with(b"7624") {
                Class::Mobile
            } else {
                Class::Pager
            }
        }
        (b'7', b'1'..=b'5' | b'7'..=b'9') if len == 10 => Class::Mobile,
        (b'8', b'0') if (9..=10).contains(&len) => Class::Freephone,
        (b'8', b'4' | b'7') if len == 10 => Class::Special,
        (b'9', _) if len == 10 => Class::Premium,
        _ if len <= 10 => Class::Invalid,
        _ => return None,
    };
    build(b"44", nsn, class)
}

/// An international number from its E.164 digits.
fn international(d: &[u8]) -> Option<Phone> {
    if !(7..=15).contains(&d.len()) || d.first() == Some(&b'0') {
        return None;
    }
    let cc = country_code_len(d);
    let (cc_digits, nsn) = d.split_at(cc);
    if cc_digits == b"44" {
        let mut phone = uk(nsn)?;
        phone.cc_len = 2;
        return Some(phone);
    }
    build(cc_digits, nsn, Class::International)
}

/// Length of the country code at the start of E.164 digits (ITU-T E.164 assignments: zones 1
/// and 7 are one digit; the two-digit codes are listed; every other code has three digits).
fn country_code_len(d: &[u8]) -> usize {
    const TWO: [&[u8]; 44] = [
        b"20", b"27", b"30", b"31", b"32", b"33", b"34", b"36", b"39", b"40", b"41", b"43", b"44", b"45", b"46", b"47",
        b"48", b"49", b"51", b"52", b"53", b"54", b"55", b"56", b"57", b"58", b"60", b"61", b"62", b"63", b"64", b"65",
        b"66", b"81", b"82", b"84", b"86", b"90", b"91", b"92", b"93", b"94", b"95", b"98",
    ];
    match d.first() {
        Some(b'1' | b'7') => 1,
        _ if TWO.iter().any(|t| d.starts_with(t)) => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<(String, &'static str)> {
        let d = Dialling { outside_line: "9".into() };
        parse(s, &d).map(|p| (p.e164_digits().to_string(), p.class.as_str()))
    }

    #[test]
    fn formats_normalise_to_the_same_number() {
        for s in [
            "01134960000",
            "0113 496 0000",
            "(0113) 496-0000",
            "+441134960000",
            "+44 113 496 0000",
            "00441134960000",
            "441134960000",
            "901134960000",
            "tel:+44-113-496-0000",
            "sip:01134960000",
            "01134960000;npdi",
        ] {
            assert_eq!(p(s), Some(("441134960000".into(), "geographic")), "{s}");
        }
    }

    #[test]
    fn extensions_names_and_junk_are_not_numbers() {
        for s in ["5004", "8000", "", "service", "OCS_Comm", "0113496000000000000000", "+0123", "12345678901234"] {
            assert_eq!(p(s), None, "{s}");
        }
        assert_eq!(p("Anonymous"), Some((String::new(), "withheld")));
    }
}
