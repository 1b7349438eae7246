//! Working days in England: Monday to Friday except the bank holidays shipped with the core
//! (`core/data/bank-holidays-england.txt`, from the GOV.UK list). Pure: no clock, no I/O;
//! the list is compiled in, so a device offline computes the same deadlines as the server.

use std::sync::OnceLock;

use chrono::{Datelike, Months, NaiveDate, Weekday};

use crate::error::{Error, Result};

const LIST: &str = include_str!("../../data/bank-holidays-england.txt");

/// The shipped bank holidays, sorted (comment and blank lines skipped; a line that does not
/// start with a date is skipped too, and the test `every_line_of_the_list_is_a_date` keeps
/// the file clean).
pub fn bank_holidays() -> &'static [NaiveDate] {
    static DATES: OnceLock<Vec<NaiveDate>> = OnceLock::new();
    DATES.get_or_init(|| {
        let mut dates: Vec<NaiveDate> = LIST
            .lines()
            .filter_map(|line| NaiveDate::parse_from_str(line.get(..10)?, "%Y-%m-%d").ok())
            .collect();
        dates.sort_unstable();
        dates.dedup();
        dates
    })
}

/// The last day the list covers: 31 December of the year of its last date.
pub fn bank_holidays_cover_until() -> NaiveDate {
    bank_holidays()
        .last()
        .and_then(|last| NaiveDate::from_ymd_opt(last.year(), 12, 31))
        .unwrap_or(NaiveDate::MIN)
}

/// Whether the list still covers the 12 months from `today`; the error names the day it
/// ends. Tests call this with the day they run, so a build whose list is about to run out
/// fails.
pub fn check_bank_holiday_coverage(today: NaiveDate) -> Result<()> {
    let needed = today.checked_add_months(Months::new(12)).unwrap_or(today);
    let until = bank_holidays_cover_until();
    if until < needed {
        return Err(Error::invalid(
            "bank_holidays",
            format!("the shipped list ends on {until}; add the next year from GOV.UK"),
        ));
    }
    Ok(())
}

/// Whether `day` is a bank holiday in England.
pub fn is_bank_holiday(day: NaiveDate) -> bool {
    bank_holidays().binary_search(&day).is_ok()
}

/// Whether `day` is a working day: a weekday that is not a bank holiday.
pub fn is_working_day(day: NaiveDate) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !is_bank_holiday(day)
}

/// The `n`th working day after `start` (`start` itself never counts). Refused when the
/// answer lies beyond the shipped list, where a bank holiday could be missed.
pub fn add_working_days(start: NaiveDate, n: u32) -> Result<NaiveDate> {
    let until = bank_holidays_cover_until();
    let mut day = start;
    let mut left = n;
    while left > 0 {
        day = day.succ_opt().filter(|d| *d <= until).ok_or_else(|| {
            Error::invalid(
                "bank_holidays",
                format!("the shipped list ends on {until}; add the next year from GOV.UK"),
            )
        })?;
        if is_working_day(day) {
            left -= 1;
        }
    }
    Ok(day)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn every_line_of_the_list_is_a_date() {
        let lines = LIST
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(lines, bank_holidays().len(), "a line is not a date");
        assert!(bank_holidays_cover_until() >= day(2028, 12, 31));
        for year in 2024..=2028 {
            let n = bank_holidays().iter().filter(|d| d.year() == year).count();
            assert_eq!(n, 8, "England has 8 bank holidays in {year}");
        }
        assert!(bank_holidays().iter().all(|d| is_bank_holiday(*d)));
        assert!(
            bank_holidays()
                .iter()
                .all(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)),
            "a bank holiday falls on a weekday (substitute days are listed instead)"
        );
    }

    #[test]
    fn coverage_is_checked_against_the_day_passed_in() {
        assert!(check_bank_holiday_coverage(day(2026, 11, 30)).is_ok());
        assert!(check_bank_holiday_coverage(day(2027, 12, 31)).is_ok());
        let err = check_bank_holiday_coverage(day(2028, 1, 1)).expect_err("runs out");
        assert!(err.to_string().contains("2028-12-31"), "{err}");
    }

    #[test]
    fn the_bank_holiday_list_covers_the_next_12_months() {
        check_bank_holiday_coverage(Utc::now().date_naive())
            .expect("core/data/bank-holidays-england.txt needs the next year from GOV.UK");
    }

    #[test]
    fn working_days_skip_weekends_and_christmas_and_easter() {
        // Referral on Wednesday 23 December 2026: Christmas Day (Friday), the Boxing Day
        // substitute (Monday 28th) and New Year's Day (Friday) do not count.
        assert_eq!(
            add_working_days(day(2026, 12, 23), 1).ok(),
            Some(day(2026, 12, 24))
        );
        assert_eq!(
            add_working_days(day(2026, 12, 23), 2).ok(),
            Some(day(2026, 12, 29))
        );
        assert_eq!(
            add_working_days(day(2026, 12, 23), 5).ok(),
            Some(day(2027, 1, 4))
        );
        // Easter 2027: Good Friday 26 March, Easter Monday 29 March.
        assert_eq!(
            add_working_days(day(2027, 3, 24), 5).ok(),
            Some(day(2027, 4, 2))
        );
        assert_eq!(
            add_working_days(day(2027, 3, 25), 1).ok(),
            Some(day(2027, 3, 30))
        );
        // An ordinary week.
        assert_eq!(
            add_working_days(day(2026, 11, 30), 5).ok(),
            Some(day(2026, 12, 7))
        );
        // From a Saturday.
        assert_eq!(
            add_working_days(day(2026, 11, 28), 1).ok(),
            Some(day(2026, 11, 30))
        );
    }

    #[test]
    fn a_day_beyond_the_list_is_refused_not_guessed() {
        let err = add_working_days(day(2028, 12, 27), 5).expect_err("beyond the list");
        assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "bank_holidays"));
    }
}
