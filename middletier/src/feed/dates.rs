//! Feed dates as publishers write them: RFC 822/2822 with odd zones, day names and two-digit
//! years, ISO 8601 in its many spellings, and the common non-standard forms (`June 10, 2025`,
//! `2025/06/10 04:00`, `Tue Jun 10 04:00:00 UTC 2025`, `10.06.2025`).
//!
//! Strict RFC 3339 and RFC 2822 are tried first (chrono's parsers, the fast path for nearly
//! every feed); the lenient readers only see what those refuse. A date that cannot be read is
//! `None`, never a guess: an all-numeric date that is ambiguous (`06/10/2025`) is missing, not
//! assumed American. What *is* assumed: a missing time of day is midnight and a missing or
//! unknown zone is UTC, as in feedparser (the day is right; the hour may be off).

use chrono::{
    DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};

/// Longer than any date; longer text is not a date (and is not worth scanning).
const LONGEST_DATE: usize = 100;

/// Parses a feed date; `None` when it cannot be read.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() || text.len() > LONGEST_DATE {
        return None;
    }
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_rfc2822(text))
        .ok()
        .map(|at| at.to_utc())
        .or_else(|| iso8601(text))
        .or_else(|| words(text))
        .filter(|at| (1900..=2200).contains(&at.year()))
}

/// A date and time with its zone, before it is checked and made an instant.
#[derive(Debug, Default)]
struct Parts {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// Seconds east of UTC; `None` is UTC.
    offset: Option<i32>,
}

impl Parts {
    fn instant(&self) -> Option<DateTime<Utc>> {
        let year = self.year.filter(|year| (1900..=2200).contains(year))?;
        let date = NaiveDate::from_ymd_opt(year, self.month?, self.day?)?;
        // 24:00 is the end of the day, i.e. the next midnight; a leap second is kept in range.
        let (date, hour) = if self.hour == 24 && self.minute == 0 && self.second == 0 {
            (date.checked_add_days(Days::new(1))?, 0)
        } else {
            (date, self.hour)
        };
        let time =
            NaiveTime::from_hms_nano_opt(hour, self.minute, self.second.min(59), self.nanos)?;
        let offset = FixedOffset::east_opt(self.offset.unwrap_or(0))?;
        let local = NaiveDateTime::new(date, time);
        offset
            .from_local_datetime(&local)
            .single()
            .map(|at| at.to_utc())
    }
}

/// A cursor over ASCII text.
struct Cursor<'a> {
    text: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn eat_any(&mut self, bytes: &[u8]) -> bool {
        let found = self.peek().is_some_and(|b| bytes.contains(&b));
        if found {
            self.at += 1;
        }
        found
    }

    /// Exactly `min..=max` digits.
    fn number(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.at;
        let mut value: u32 = 0;
        while self.at - start < max
            && let Some(digit) = self.peek().filter(u8::is_ascii_digit)
        {
            value = value * 10 + u32::from(digit - b'0');
            self.at += 1;
        }
        (self.at - start >= min).then_some(value)
    }

    fn rest(&self) -> &str {
        std::str::from_utf8(&self.text[self.at..]).unwrap_or_default()
    }
}

/// ISO 8601 and its relatives: `2025-06-10`, `2025-06-10 04:00`, `2025-06-10T04:00:00.5+0200`,
/// `20250610T040000Z`, `2025/06/10 04:00:00 GMT`.
fn iso8601(text: &str) -> Option<DateTime<Utc>> {
    let mut cursor = Cursor {
        text: text.as_bytes(),
        at: 0,
    };
    let mut parts = Parts {
        year: Some(i32::try_from(cursor.number(4, 4)?).ok()?),
        ..Parts::default()
    };
    let separated = cursor.eat_any(b"-/");
    let (width, max) = if separated { (1, 2) } else { (2, 2) };
    parts.month = Some(cursor.number(width, max)?);
    if separated {
        cursor.eat_any(b"-/").then_some(())?;
    }
    parts.day = Some(cursor.number(width, max)?);
    if cursor.eat_any(b"Tt ") {
        while cursor.eat(b' ') {}
        parts.hour = cursor.number(2, 2).or_else(|| cursor.number(1, 1))?;
        let colons = cursor.eat(b':');
        parts.minute = cursor.number(2, 2)?;
        if (colons && cursor.eat(b':'))
            || (!colons && cursor.peek().is_some_and(|b| b.is_ascii_digit()))
        {
            parts.second = cursor.number(2, 2)?;
        }
        if cursor.eat_any(b".,") {
            let start = cursor.at;
            let fraction = cursor.number(1, 9)?;
            let digits = u32::try_from(cursor.at - start).ok()?;
            parts.nanos = fraction * 10u32.pow(9 - digits);
            while cursor.peek().is_some_and(|b| b.is_ascii_digit()) {
                cursor.at += 1;
            }
        }
    }
    let zone = cursor.rest().trim();
    if !zone.is_empty() {
        parts.offset = Some(zone_offset(zone)?);
    }
    parts.instant()
}

/// `+0200`, `-07:00`, `+05`, `Z`, `UTC`, `GMT+2`, `EST`, `CEST`...
fn zone_offset(zone: &str) -> Option<i32> {
    let lower = zone
        .trim_matches(|c| c == '(' || c == ')')
        .to_ascii_lowercase();
    if let Some(sign) = lower.chars().next().filter(|c| matches!(c, '+' | '-')) {
        return numeric_offset(sign, &lower[1..]);
    }
    for prefix in ["utc", "gmt", "ut"] {
        if let Some(rest) = lower.strip_prefix(prefix)
            && let Some(sign) = rest.chars().next().filter(|c| matches!(c, '+' | '-'))
        {
            return numeric_offset(sign, &rest[1..]);
        }
    }
    named_zone(&lower)
}

fn numeric_offset(sign: char, digits: &str) -> Option<i32> {
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        3 => (
            digits[..1].parse::<i32>().ok()?,
            digits[1..].parse::<i32>().ok()?,
        ),
        _ => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
    };
    if hours > 14 || minutes > 59 {
        return None;
    }
    let seconds = hours * 3600 + minutes * 60;
    Some(if sign == '-' { -seconds } else { seconds })
}

/// Zone abbreviations seen in feeds. Ambiguous ones (IST, BST as Bangladesh...) take their
/// most common reading in feeds; single military letters are unknown offsets per RFC 2822.
fn named_zone(lower: &str) -> Option<i32> {
    let hours = |h: i32| Some(h * 3600);
    match lower {
        "z" | "ut" | "utc" | "gmt" | "wet" | "uct" | "zulu" => hours(0),
        "bst" | "cet" | "met" | "mez" | "wat" | "west" => hours(1),
        "ist" => Some(5 * 3600 + 1800),
        "cest" | "mest" | "mesz" | "eet" | "sast" | "cat" => hours(2),
        "eest" | "msk" | "eat" => hours(3),
        "pkt" => hours(5),
        "ict" | "wib" => hours(7),
        "hkt" | "sgt" | "awst" | "pht" | "cst8" => hours(8),
        "jst" | "kst" => hours(9),
        "acst" => Some(9 * 3600 + 1800),
        "aest" => hours(10),
        "aedt" => hours(11),
        "nzst" => hours(12),
        "nzdt" => hours(13),
        "ast" => hours(-4),
        "adt" => hours(-3),
        "edt" => hours(-4),
        "est" | "cdt" => hours(-5),
        "cst" | "mdt" => hours(-6),
        "mst" | "pdt" => hours(-7),
        "pst" | "akdt" => hours(-8),
        "akst" => hours(-9),
        "hst" => hours(-10),
        zone if zone.len() == 1 && zone.bytes().all(|b| b.is_ascii_alphabetic()) => hours(0),
        _ => None,
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Words in any order: `Tuesday, June 10th, 2025 at 4:00 PM EST`, `10 Jun 25 04:00 +0200`,
/// `Tue Jun 10 04:00:00 UTC 2025`, `10/06/2025 16:00`.
fn words(text: &str) -> Option<DateTime<Utc>> {
    let mut parts = Parts::default();
    let mut time = false;
    let mut pm = None;
    let mut unknown_zone = false;
    let lower = text.to_ascii_lowercase();
    for token in lower
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|token| !token.is_empty())
    {
        let token = token.trim_end_matches('.');
        if token.is_empty() || matches!(token, "at" | "of" | "the" | "on") {
            continue;
        }
        if let Some(month) = month_number(token) {
            parts.month.is_none().then_some(())?;
            parts.month = Some(month);
        } else if is_weekday(token) {
        } else if matches!(token, "am" | "a.m" | "pm" | "p.m") {
            pm = Some(token.starts_with('p'));
        } else if token.contains(':') && !time && token.starts_with(|c: char| c.is_ascii_digit()) {
            time = true;
            clock(token, &mut parts, &mut pm)?;
        } else if token.starts_with(['+', '-'])
            || (parts.offset.is_none()
                && zone_offset(token).is_some()
                && !token.bytes().all(|b| b.is_ascii_digit()))
        {
            parts.offset = Some(zone_offset(token)?);
        } else if token.bytes().all(|b| b.is_ascii_digit()) {
            let value: u32 = token.parse().ok()?;
            if token.len() == 4 && parts.year.is_none() {
                parts.year = Some(i32::try_from(value).ok()?);
            } else if token.len() <= 2 && parts.day.is_none() {
                parts.day = Some(value);
            } else if token.len() == 2 && parts.year.is_none() {
                parts.year = Some(two_digit_year(value));
            } else {
                return None;
            }
        } else if let Some(day) = ordinal(token) {
            parts.day.is_none().then_some(())?;
            parts.day = Some(day);
        } else if token.contains(['/', '-', '.']) && numeric_date(token, &mut parts).is_some() {
        } else if !unknown_zone
            && time
            && token.len() <= 5
            && token.bytes().all(|b| b.is_ascii_alphabetic())
        {
            // An unknown zone abbreviation after the time: the day is right, the hour may not be.
            unknown_zone = true;
        } else {
            return None;
        }
    }
    if let Some(pm) = pm {
        if !(1..=12).contains(&parts.hour) {
            return None;
        }
        parts.hour = match (pm, parts.hour) {
            (false, 12) => 0,
            (true, 12) => 12,
            (true, hour) => hour + 12,
            (false, hour) => hour,
        };
    }
    parts.instant()
}

fn month_number(token: &str) -> Option<u32> {
    if token.len() < 3 || !token.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let token = if token == "sept" { "sep" } else { token };
    MONTHS
        .iter()
        .position(|month| month.starts_with(token))
        .and_then(|index| u32::try_from(index + 1).ok())
}

fn is_weekday(token: &str) -> bool {
    token.len() >= 2
        && token.bytes().all(|b| b.is_ascii_alphabetic())
        && (WEEKDAYS.iter().any(|day| day.starts_with(token))
            || matches!(token, "tues" | "thur" | "thurs" | "weds"))
}

/// `10th`, `1st`, `2nd`, `3rd`.
fn ordinal(token: &str) -> Option<u32> {
    let digits = token
        .strip_suffix("th")
        .or_else(|| token.strip_suffix("st"))
        .or_else(|| token.strip_suffix("nd"))
        .or_else(|| token.strip_suffix("rd"))?;
    (digits.len() <= 2).then(|| digits.parse().ok()).flatten()
}

fn two_digit_year(value: u32) -> i32 {
    let value = i32::try_from(value).unwrap_or_default();
    if value < 70 {
        2000 + value
    } else {
        1900 + value
    }
}

/// `04:00`, `4:00:00`, `04:00:00.123`, `04:00:00Z`, `04:00:00+02:00`, `4:00pm`.
fn clock(token: &str, parts: &mut Parts, pm: &mut Option<bool>) -> Option<()> {
    let (clock, suffix) = match token.find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
    {
        Some(at) => token.split_at(at),
        None => (token, ""),
    };
    let (clock, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut fields = clock.split(':');
    parts.hour = fields.next()?.parse().ok()?;
    parts.minute = fields.next()?.parse().ok()?;
    parts.second = fields.next().map_or(Some(0), |s| s.parse().ok())?;
    if fields.next().is_some() {
        return None;
    }
    if !fraction.is_empty() {
        let digits = &fraction[..fraction.len().min(9)];
        let value: u32 = digits.parse().ok()?;
        parts.nanos = value * 10u32.pow(9 - u32::try_from(digits.len()).ok()?);
    }
    match suffix {
        "" => {}
        "am" | "a.m" => *pm = Some(false),
        "pm" | "p.m" => *pm = Some(true),
        zone => parts.offset = Some(zone_offset(zone)?),
    }
    Some(())
}

/// `2025/06/10`, `10/06/2025` when unambiguous, `06/23/2025`, `10.06.2025` (European), `10-06-2025`.
fn numeric_date(token: &str, parts: &mut Parts) -> Option<()> {
    let separator = token.chars().find(|c| matches!(c, '/' | '-' | '.'))?;
    let fields: Vec<&str> = token.split(separator).collect();
    let [a, b, c] = fields.as_slice() else {
        return None;
    };
    let number = |field: &str| -> Option<u32> {
        (!field.is_empty() && field.len() <= 4 && field.bytes().all(|b| b.is_ascii_digit()))
            .then(|| field.parse().ok())
            .flatten()
    };
    let (a_value, b_value, c_value) = (number(a)?, number(b)?, number(c)?);
    let (year, month, day) = if a.len() == 4 {
        (a_value, b_value, c_value)
    } else if c.len() == 4 || c.len() == 2 {
        let year = if c.len() == 2 {
            u32::try_from(two_digit_year(c_value)).ok()?
        } else {
            c_value
        };
        if separator == '.' || a_value > 12 {
            (year, b_value, a_value)
        } else if b_value > 12 || a_value == b_value {
            (year, a_value, b_value)
        } else {
            // 06/10/2025: June or October? Missing, not guessed.
            return None;
        }
    } else {
        return None;
    };
    parts.year = Some(i32::try_from(year).ok()?);
    parts.month = Some(month);
    parts.day = Some(day);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<String> {
        parse(text).map(|at| at.to_rfc3339())
    }

    #[test]
    fn rfc_822_and_2822_in_their_wild_forms() {
        for (text, expected) in [
            ("Tue, 10 Jun 2025 04:00:00 GMT", "2025-06-10T04:00:00+00:00"),
            (
                "Tue, 10 Jun 2025 04:00:00 +0200",
                "2025-06-10T02:00:00+00:00",
            ),
            ("Tue, 10 Jun 2025 04:00:00 EST", "2025-06-10T09:00:00+00:00"),
            ("Tue, 10 Jun 2025 04:00:00 PDT", "2025-06-10T11:00:00+00:00"),
            ("Tue, 10 Jun 2025 04:00:00 UT", "2025-06-10T04:00:00+00:00"),
            ("Tue, 10 Jun 2025 04:00:00 UTC", "2025-06-10T04:00:00+00:00"),
            ("Tue, 10 Jun 2025 04:00:00 Z", "2025-06-10T04:00:00+00:00"),
            (
                "Tue, 10 Jun 2025 04:00:00 CEST",
                "2025-06-10T02:00:00+00:00",
            ),
            (
                "Tue, 10 Jun 2025 04:00:00 -0000",
                "2025-06-10T04:00:00+00:00",
            ),
            ("Tue, 10 Jun 2025 04:00 GMT", "2025-06-10T04:00:00+00:00"),
            ("Tue, 10 Jun 2025 4:00:00 GMT", "2025-06-10T04:00:00+00:00"),
            (
                "Tuesday, 10 June 2025 04:00:00 GMT",
                "2025-06-10T04:00:00+00:00",
            ),
            (
                "Thurs, 12 Jun 2025 04:00:00 GMT",
                "2025-06-12T04:00:00+00:00",
            ),
            // Wrong day name: the date wins.
            ("Fri, 10 Jun 2025 04:00:00 GMT", "2025-06-10T04:00:00+00:00"),
            ("Tue, 10 Jun 25 04:00:00 GMT", "2025-06-10T04:00:00+00:00"),
            ("10 Jun 2025 04:00:00 +02:00", "2025-06-10T02:00:00+00:00"),
            (
                "Tue, 10 Jun 2025 04:00:00 GMT+2",
                "2025-06-10T02:00:00+00:00",
            ),
            ("Tue, 10 Jun 2025 04:00:00", "2025-06-10T04:00:00+00:00"),
            ("Tue, 10 Jun 2025 24:00:00 GMT", "2025-06-11T00:00:00+00:00"),
            ("Tue, 10 Jun 2025 04:00:00 XYZ", "2025-06-10T04:00:00+00:00"),
        ] {
            assert_eq!(at(text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn iso_8601_variants() {
        for (text, expected) in [
            ("2025-06-10T04:00:00Z", "2025-06-10T04:00:00+00:00"),
            (
                "2025-06-10T04:00:00.123+02:00",
                "2025-06-10T02:00:00.123+00:00",
            ),
            ("2025-06-10T04:00:00+0200", "2025-06-10T02:00:00+00:00"),
            ("2025-06-10T04:00:00+02", "2025-06-10T02:00:00+00:00"),
            ("2025-06-10T04:00Z", "2025-06-10T04:00:00+00:00"),
            ("2025-06-10 04:00:00", "2025-06-10T04:00:00+00:00"),
            ("2025-06-10 04:00:00 GMT", "2025-06-10T04:00:00+00:00"),
            ("2025-06-10t04:00:00z", "2025-06-10T04:00:00+00:00"),
            ("20250610T040000Z", "2025-06-10T04:00:00+00:00"),
            ("2025-06-10", "2025-06-10T00:00:00+00:00"),
            ("2025/06/10 04:00", "2025-06-10T04:00:00+00:00"),
            ("2025-6-9", "2025-06-09T00:00:00+00:00"),
        ] {
            assert_eq!(at(text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn common_non_standard_forms() {
        for (text, expected) in [
            ("June 10, 2025", "2025-06-10T00:00:00+00:00"),
            ("June 10th, 2025 at 4:00 PM", "2025-06-10T16:00:00+00:00"),
            ("10 June 2025", "2025-06-10T00:00:00+00:00"),
            ("Tue Jun 10 04:00:00 UTC 2025", "2025-06-10T04:00:00+00:00"),
            ("Tue Jun 10 04:00:00 2025", "2025-06-10T04:00:00+00:00"),
            ("10.06.2025 16:30", "2025-06-10T16:30:00+00:00"),
            ("23/06/2025", "2025-06-23T00:00:00+00:00"),
            ("06/23/2025 4:00pm", "2025-06-23T16:00:00+00:00"),
            ("Sept 3, 2025 12:00 AM EDT", "2025-09-03T04:00:00+00:00"),
        ] {
            assert_eq!(at(text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn unknown_dates_are_missing_not_invented() {
        for text in [
            "",
            "   ",
            "yesterday",
            "n/a",
            "06/10/2025",
            "2025-13-01",
            "31 Feb 2025",
            "Tue, 10 Foo 2025 04:00:00 GMT",
            "1749528000",
            "2025",
            "June 2025",
            "10 Jun 2025 25:61:00 GMT",
            "0001-01-01T00:00:00Z",
            "Tue, 10 Jun 2025 04:00:00 +9999",
        ] {
            assert_eq!(at(text), None, "{text:?}");
        }
    }
}
