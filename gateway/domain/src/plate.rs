//! Plates and VINs as everything in Kezek compares them — the booking engine (P21), the
//! adapters (the identifiers they send registries), the device side (a camera's read against
//! a booking, P10, P30) and the mocks: one definition.

/// The identifier form of a plate or VIN: letters and digits only, upper case, and the
/// Cyrillic letters that look like Latin ones written as Latin, so "123 АВС-02" (typed on a
/// Russian keyboard) and "123abc02" are the same plate.
pub fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .map(|c| match c {
            'А' => 'A',
            'В' => 'B',
            'Е' => 'E',
            'К' => 'K',
            'М' => 'M',
            'Н' => 'H',
            'О' => 'O',
            'Р' => 'P',
            'С' => 'C',
            'Т' => 'T',
            'У' => 'Y',
            'Х' => 'X',
            other => other,
        })
        .collect()
}

/// P21: a vehicle's plate key, country and normalised plate: the same plate in another
/// country is another vehicle.
pub fn plate_key(country: &str, plate: &str) -> String {
    format!("{}:{}", country.trim().to_uppercase(), normalise(plate))
}

/// P21: a vehicle's VIN key.
pub fn vin_key(vin: &str) -> String {
    normalise(vin)
}

/// How a camera's read compares with a booked plate (P30).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PlateMatch {
    /// No candidate is the plate.
    None,
    /// A candidate is the plate only once look-alike characters are taken as each other
    /// (a `0` read for an `O`): an officer confirms before the barrier opens.
    Fuzzy,
    /// A candidate is the plate, character for character.
    Exact,
}

/// One position of a country's plate pattern.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Digit,
    /// Latin letters.
    Letter,
    /// Only the Latin letters that have a Cyrillic twin (a Russian plate's alphabet).
    Twin,
    /// A Chinese province character.
    Han,
    /// A Latin letter or a digit.
    Alnum,
}

/// A run of `min..=max` slots of one kind.
type Group = (Slot, usize, usize);

/// The common plate formats of a country, in normalised form (the neighbours' trucks
/// cross the KZ border; other countries have no pattern and match without one).
fn patterns(country: &str) -> &'static [&'static [Group]] {
    use Slot::*;
    match country.trim().to_ascii_uppercase().as_str() {
        // 123ABC02, 123AB02 (companies): ^\d{3}[A-Z]{2,3}\d{2}$
        "KZ" => &[&[(Digit, 3, 3), (Letter, 2, 3), (Digit, 2, 2)]],
        // А123ВС77 / А123ВС777
        "RU" => &[&[(Twin, 1, 1), (Digit, 3, 3), (Twin, 2, 2), (Digit, 2, 3)]],
        // 01123ABC (since 2016): region, number, series
        "KG" => &[&[(Digit, 5, 5), (Letter, 3, 3)]],
        // 01A123BC (persons), 01123ABC (companies)
        "UZ" => &[
            &[(Digit, 2, 2), (Letter, 1, 1), (Digit, 3, 3), (Letter, 2, 2)],
            &[(Digit, 5, 5), (Letter, 3, 3)],
        ],
        // 1234AB7: number, series, region
        "BY" => &[&[(Digit, 4, 4), (Letter, 2, 2), (Digit, 1, 1)]],
        // 京A12345: province, city letter, five letters or digits
        "CN" => &[&[(Han, 1, 1), (Letter, 1, 1), (Alnum, 5, 5)]],
        _ => &[],
    }
}

/// Characters an ALPR engine takes for each other, as one class each: swapping within a
/// class costs nothing in [`match_plate`].
const CONFUSABLE: &[&str] = &["0ODQ", "8B", "5S", "1I", "2Z", "6G"];

/// The class representative of a normalised character.
fn fold(c: char) -> char {
    CONFUSABLE
        .iter()
        .find(|class| class.contains(c))
        .and_then(|class| class.chars().next())
        .unwrap_or(c)
}

impl Slot {
    fn fits(self, c: char) -> bool {
        match self {
            Slot::Digit => c.is_ascii_digit(),
            Slot::Letter => c.is_ascii_uppercase(),
            Slot::Twin => "ABEKMHOPCTYX".contains(c),
            Slot::Han => ('\u{4e00}'..='\u{9fff}').contains(&c),
            Slot::Alnum => c.is_ascii_uppercase() || c.is_ascii_digit(),
        }
    }

    /// The character of `c`'s confusable class that fits this slot, if one does.
    fn correct(self, c: char) -> Option<char> {
        if self.fits(c) {
            return Some(c);
        }
        let class = CONFUSABLE.iter().find(|class| class.contains(c))?;
        class.chars().find(|&alt| self.fits(alt))
    }
}

/// Fits `plate` to `groups` from the start, correcting look-alikes slot by slot; the first
/// fit wins (groups of variable length are tried shortest first).
fn fit(plate: &[char], groups: &[Group], out: &mut String) -> bool {
    let Some((&(slot, min, max), rest)) = groups.split_first() else {
        return plate.is_empty();
    };
    let mark = out.len();
    for n in min..=max.min(plate.len()) {
        out.truncate(mark);
        if plate[..n]
            .iter()
            .all(|&c| slot.correct(c).map(|c| out.push(c)).is_some())
            && fit(&plate[n..], rest, out)
        {
            return true;
        }
    }
    out.truncate(mark);
    false
}

/// Whether a plate, as written, has one of its country's formats. A country without a
/// known format accepts any plate.
pub fn fits_country(country: &str, plate: &str) -> bool {
    let plate: Vec<char> = normalise(plate).chars().collect();
    let formats = patterns(country);
    formats.is_empty()
        || formats.iter().any(|groups| {
            let mut out = String::new();
            fit(&plate, groups, &mut out) && out.chars().eq(plate.iter().copied())
        })
}

/// A read corrected to its country's format: a digit read where the format wants a letter
/// becomes its look-alike letter and back (`1Z3ABC0Z` → `123ABC02` for KZ). None when no
/// format fits even so; the read as normalised for a country without a known format.
pub fn correct(country: &str, read: &str) -> Option<String> {
    let plate: Vec<char> = normalise(read).chars().collect();
    let formats = patterns(country);
    if formats.is_empty() {
        return Some(plate.into_iter().collect());
    }
    formats.iter().find_map(|groups| {
        let mut out = String::new();
        fit(&plate, groups, &mut out).then_some(out)
    })
}

/// P30: compares every candidate of a camera's read with the booked plate of a vehicle
/// registered in `country`. Exact when a candidate is the plate; fuzzy when one is the
/// plate up to look-alike characters (0/O/D/Q, 8/B, 5/S, 1/I, 2/Z, 6/G) and the booked
/// plate has one of the country's formats (so the read corrects to it, [`correct`]); a
/// booked plate outside its country's formats matches exactly or not at all.
pub fn match_plate<S: AsRef<str>>(country: &str, booked: &str, candidates: &[S]) -> PlateMatch {
    let booked = normalise(booked);
    if booked.is_empty() {
        return PlateMatch::None;
    }
    let reads: Vec<String> = candidates.iter().map(|c| normalise(c.as_ref())).collect();
    if reads.contains(&booked) {
        return PlateMatch::Exact;
    }
    let look_alike = |read: &String| read.chars().map(fold).eq(booked.chars().map(fold));
    if reads.iter().any(look_alike) && fits_country(country, &booked) {
        PlateMatch::Fuzzy
    } else {
        PlateMatch::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13 item 5: the KZ pattern and the neighbours' common formats.
    #[test]
    fn country_formats() {
        fn check(country: &str, plate: &str, expect: bool) {
            assert_eq!(fits_country(country, plate), expect, "{country} {plate}");
        }
        check("KZ", "123 ABC 02", true);
        check("kz", "123AB02", true); // a company's two-letter series
        check("KZ", "123ABCD02", false);
        check("KZ", "12ABC02", false);
        check("KZ", "123ABC2", false);
        check("KZ", "A123BC77", false);
        check("RU", "А123ВС77", true); // Cyrillic, as printed
        check("RU", "A123BC777", true);
        check("RU", "A123BZ77", false); // Z has no Cyrillic twin
        check("KG", "01 123 ABC", true);
        check("UZ", "01 A 123 BC", true);
        check("UZ", "01 123 ABC", true);
        check("BY", "1234 AB-7", true);
        check("CN", "京A12345", true);
        check("CN", "京AB1C23", true);
        check("CN", "A123456", false);
        check("DE", "anything 1", true); // no known format: not refused
        check("KZ", "", false);
    }

    /// "Correct by the country's pattern": look-alikes move to the slot's kind.
    #[test]
    fn reads_corrected_by_the_country_format() {
        fn check(country: &str, read: &str, expect: Option<&str>) {
            assert_eq!(
                correct(country, read).as_deref(),
                expect,
                "{country} {read}"
            );
        }
        check("KZ", "123ABC02", Some("123ABC02"));
        check("KZ", "1Z3A8C0Z", Some("123ABC02"));
        check("KZ", "I23 5DO 02", Some("123SDO02"));
        check("KZ", "123AB0S", Some("123AB05"));
        check("KZ", "123A4C02", None); // 4 has no letter twin
        check("RU", "0123BC77", Some("O123BC77"));
        check("KG", "O1123A8C", Some("01123ABC"));
        check("UZ", "0IA1Z3BC", Some("01A123BC"));
        check("XX", "ab-1", Some("AB1"));
    }

    /// Issue 13 item 5: all candidates, look-alike swaps cost nothing, the answer says how.
    #[test]
    fn reads_match_bookings_exactly_fuzzily_or_not() {
        use PlateMatch::*;
        fn check(country: &str, booked: &str, candidates: &[&str], expect: PlateMatch) {
            assert_eq!(
                match_plate(country, booked, candidates),
                expect,
                "{country} {booked} {candidates:?}"
            );
        }
        check("KZ", "123ABC02", &["123ABC02"], Exact);
        check("KZ", "123 abc 02", &["123-АВС-02"], Exact); // Cyrillic read
        check("KZ", "123ABC02", &["123A8C02", "123ABC02"], Exact); // any candidate
        check("KZ", "123ABC02", &["123A8C02"], Fuzzy);
        check("KZ", "123ABC02", &["1Z3ABCOZ"], Fuzzy);
        check("KZ", "100DOQ02", &["1OOQD002"], Fuzzy); // 0/O/D/Q one class
        check("KZ", "555SSS55", &["S5S55SS5"], Fuzzy);
        check("KZ", "123ABC02", &["123ABC03"], None);
        check("KZ", "123ABC02", &["123ABC0"], None);
        check("KZ", "123ABC02", &["123ABC022"], None);
        check("KZ", "123ABC02", &[], None);
        check("KZ", "123ABC02", &[""], None);
        check("KZ", "", &[""], None);
        // A booked plate outside its country's formats matches exactly or not at all.
        check("KZ", "12OABC02", &["120ABC02"], None);
        check("KZ", "12OABC02", &["12OABC02"], Exact);
        check("RU", "A123BC77", &["A1Z3BC77"], Fuzzy);
        check("DE", "B MW 1234", &["8MW1234"], Fuzzy); // no format: look-alikes alone
        check("CN", "京A12345", &["京A1Z345"], Fuzzy);
        check("CN", "京A12345", &["沪A12345"], None);
    }

    #[test]
    fn identifiers_ignore_spelling() {
        fn check(input: &str, expect: &str) {
            assert_eq!(normalise(input), expect, "{input:?}");
        }
        check("123 abc 02", "123ABC02");
        check("123-АВС-02", "123ABC02"); // Cyrillic А, В, С
        check("01114AKA", "01114AKA");
        check("wdb 9634031l123456", "WDB9634031L123456");
        check(" KZ 777 ZZZ 02 ", "KZ777ZZZ02");
        check("", "");
    }

    #[test]
    fn p21_plate_keys_carry_the_country() {
        assert_eq!(plate_key("kz", "123 АВС 02"), plate_key("KZ", "123abc-02"));
        assert_ne!(plate_key("KZ", "123ABC02"), plate_key("RU", "123ABC02"));
        assert_eq!(vin_key("wdb 9634031l123456"), "WDB9634031L123456");
    }
}
