//! Service-centre timestamps (TP-SCTS, TP-DT, absolute TP-VP): seven swapped
//! BCD octets YY MM DD hh mm ss TZ, where TZ counts quarter hours and its
//! bit 3 is the sign (3GPP TS 23.040 §9.2.3.11).

use super::error::PduError;

/// A timestamp as the network sent it: local time plus its UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// Full year. The PDU carries two digits; they are read as 20YY, since
    /// SMS timestamps of the 1990s no longer reach a running modem.
    pub year: u16,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59.
    pub second: u8,
    /// Offset from UTC in minutes (a multiple of 15; negative west of UTC).
    pub offset_minutes: i16,
}

/// Largest offset a TZ octet can hold: 79 quarter hours.
const MAX_QUARTERS: i16 = 79;

impl Timestamp {
    /// RFC 3339 with the offset, e.g. `2011-02-28T11:50:50-05:00`.
    pub fn to_rfc3339(&self) -> String {
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let offset = self.offset_minutes.unsigned_abs();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            sign,
            offset / 60,
            offset % 60
        )
    }

    /// The same instant as a `time` value, or `None` if the fields do not
    /// form a real date (such as 31 February).
    pub fn to_offset_datetime(&self) -> Option<time::OffsetDateTime> {
        let month = time::Month::try_from(self.month).ok()?;
        let date = time::Date::from_calendar_date(i32::from(self.year), month, self.day).ok()?;
        let clock = time::Time::from_hms(self.hour, self.minute, self.second).ok()?;
        let offset =
            time::UtcOffset::from_whole_seconds(i32::from(self.offset_minutes) * 60).ok()?;
        Some(time::PrimitiveDateTime::new(date, clock).assume_offset(offset))
    }

    /// Builds a timestamp from a `time` value; the offset is truncated to
    /// whole quarter hours, the resolution of the PDU field.
    pub fn from_offset_datetime(value: time::OffsetDateTime) -> Timestamp {
        let offset_minutes = value.offset().whole_minutes();
        Timestamp {
            year: u16::try_from(value.year()).unwrap_or(2000),
            month: u8::from(value.month()),
            day: value.day(),
            hour: value.hour(),
            minute: value.minute(),
            second: value.second(),
            offset_minutes: (offset_minutes / 15).clamp(-MAX_QUARTERS, MAX_QUARTERS) * 15,
        }
    }

    /// Reads the seven-octet field; `field` names it in errors.
    pub(crate) fn decode(octets: [u8; 7], field: &'static str) -> Result<Timestamp, PduError> {
        let invalid = |reason| PduError::InvalidTimestamp { field, reason };
        let digit_pair = |octet: u8| -> Result<u8, PduError> {
            let (tens, units) = (octet & 0x0F, octet >> 4);
            if tens > 9 || units > 9 {
                return Err(invalid("a digit is not decimal"));
            }
            Ok(tens * 10 + units)
        };
        let [yy, mo, dd, hh, mi, ss, tz] = octets;
        let year = 2000 + u16::from(digit_pair(yy)?);
        let month = digit_pair(mo)?;
        let day = digit_pair(dd)?;
        let hour = digit_pair(hh)?;
        let minute = digit_pair(mi)?;
        let second = digit_pair(ss)?;
        if !(1..=12).contains(&month) {
            return Err(invalid("month out of range"));
        }
        if !(1..=31).contains(&day) {
            return Err(invalid("day out of range"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(invalid("time of day out of range"));
        }
        // TZ: low semi-octet holds the tens digit, with bit 3 as the sign.
        // The units semi-octet is not checked for being decimal: some modems
        // (a ZTE capture writes 0xC2 for +08:00) put a binary value there,
        // and tens * 10 + units still gives the offset every other decoder
        // reports; a wrong offset is far less harmful than a lost message.
        let negative = tz & 0x08 != 0;
        let tens = tz & 0x07;
        let units = tz >> 4;
        let quarters = i16::from(tens * 10 + units);
        let offset_minutes = if negative { -quarters } else { quarters } * 15;
        Ok(Timestamp {
            year,
            month,
            day,
            hour,
            minute,
            second,
            offset_minutes,
        })
    }

    /// Writes the seven-octet field. Fields are reduced to what the format
    /// can carry (two-digit year, offset within ±79 quarter hours).
    pub(crate) fn encode(&self) -> [u8; 7] {
        let swap = |value: u8| -> u8 {
            let value = value % 100;
            ((value % 10) << 4) | (value / 10)
        };
        let quarters = (self.offset_minutes / 15).clamp(-MAX_QUARTERS, MAX_QUARTERS);
        let magnitude = quarters.unsigned_abs() as u8;
        let sign = if quarters < 0 { 0x08 } else { 0x00 };
        let tz = ((magnitude % 10) << 4) | (magnitude / 10) | sign;
        [
            swap((self.year % 100) as u8),
            swap(self.month),
            swap(self.day),
            swap(self.hour),
            swap(self.minute),
            swap(self.second),
            tz,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_offset() {
        let ts = Timestamp::decode([0x11, 0x20, 0x82, 0x11, 0x05, 0x05, 0x0A], "TP-SCTS")
            .expect("valid");
        assert_eq!(ts.to_rfc3339(), "2011-02-28T11:50:50-05:00");
        assert_eq!(ts.encode(), [0x11, 0x20, 0x82, 0x11, 0x05, 0x05, 0x0A]);
    }

    #[test]
    fn minus_eight_hours_from_0x2b() {
        let ts = Timestamp::decode([0x12, 0x10, 0x03, 0x21, 0x43, 0x65, 0x2B], "TP-SCTS")
            .expect("valid");
        assert_eq!(ts.offset_minutes, -480);
        assert_eq!(ts.to_rfc3339(), "2021-01-30T12:34:56-08:00");
    }

    #[test]
    fn bad_digits_and_ranges_are_errors() {
        assert!(Timestamp::decode([0x1A, 0x10, 0x10, 0, 0, 0, 0], "TP-SCTS").is_err());
        assert!(Timestamp::decode([0x11, 0x31, 0x10, 0, 0, 0, 0], "TP-SCTS").is_err());
        assert!(Timestamp::decode([0x11, 0x10, 0x00, 0, 0, 0, 0], "TP-SCTS").is_err());
        assert!(Timestamp::decode([0x11, 0x10, 0x10, 0x42, 0, 0, 0], "TP-SCTS").is_err());
        // A non-decimal time zone units digit is tolerated (see decode).
        let ts = Timestamp::decode([0x61, 0x01, 0x03, 0x40, 0x95, 0x44, 0xC2], "TP-SCTS")
            .expect("lenient zone");
        assert_eq!(ts.to_rfc3339(), "2016-10-30T04:59:44+08:00");
    }

    #[test]
    fn offset_datetime_round_trip() {
        let ts = Timestamp {
            year: 2024,
            month: 2,
            day: 29,
            hour: 23,
            minute: 59,
            second: 58,
            offset_minutes: -210,
        };
        let dt = ts.to_offset_datetime().expect("real date");
        assert_eq!(Timestamp::from_offset_datetime(dt), ts);
        let feb31 = Timestamp { day: 31, ..ts };
        assert!(feb31.to_offset_datetime().is_none());
    }
}
