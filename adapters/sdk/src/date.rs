//! ISO 8601 dates without a date library: adapters compare `YYYY-MM-DD` strings and print
//! amounts, nothing more, and every kilobyte counts in a component.

/// Validates `YYYY-MM-DD` and returns it, or an error naming the field.
pub fn iso_date<'a>(value: &'a str, what: &str) -> Result<&'a str, String> {
    let b = value.as_bytes();
    let ok = b.len() >= 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b[..10]
            .iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if ok {
        Ok(&value[..10])
    } else {
        Err(format!("{what} is not an ISO date: {value:?}"))
    }
}

/// Days since 1970-01-01 of an ISO date (proleptic Gregorian).
pub fn days(date: &str) -> Option<i64> {
    let y: i64 = date.get(0..4)?.parse().ok()?;
    let m: i64 = date.get(5..7)?.parse().ok()?;
    let d: i64 = date.get(8..10)?.parse().ok()?;
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The current time, RFC 3339 in UTC (for the gateway's `messageDate`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (z, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let era = (z + 719_468).div_euclid(146_097);
    let doe = z + 719_468 - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// "45 000 KZT": tenge with thin grouping, as officers write it (P26).
pub fn kzt(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    if amount < 0 {
        out.insert(0, '-');
    }
    out.push_str(" KZT");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_orders_dates() {
        assert_eq!(days("1970-01-01"), Some(0));
        assert_eq!(days("2026-12-01").unwrap() - days("2026-11-30").unwrap(), 1);
        assert_eq!(days("2024-03-01").unwrap() - days("2024-02-28").unwrap(), 2);
    }

    #[test]
    fn kzt_groups_thousands() {
        assert_eq!(kzt(45_000), "45 000 KZT");
        assert_eq!(kzt(1), "1 KZT");
        assert_eq!(kzt(1_234_567), "1 234 567 KZT");
    }

    #[test]
    fn iso_date_rejects_garbage() {
        assert!(iso_date("2026-12-01", "x").is_ok());
        assert!(iso_date("01.12.2026", "x").is_err());
    }
}
