//! Plates and VINs as everything in Kezek compares them — the booking engine (P21), the
//! adapters (the identifiers they send registries) and the mock registries: one definition.

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

#[cfg(test)]
mod tests {
    use super::*;

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
