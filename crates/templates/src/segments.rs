//! How many SMS parts a text costs. Text that fits the GSM 03.38 alphabet goes as GSM-7
//! (160 characters in one part, 153 per part when concatenated, extension characters such as
//! `€` or `{` counting twice); anything else (an accented capital outside the alphabet, an
//! emoji, Arabic) switches the whole message to UCS-2: 70 UTF-16 units, 67 per part. A single
//! `ł` in a name can triple what a school pays for a message, so the count is recorded.

/// The encoding a text needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsEncoding {
    /// The GSM 03.38 7-bit default alphabet (with its extension table).
    Gsm7,
    /// UCS-2 / UTF-16.
    Ucs2,
}

impl SmsEncoding {
    /// `gsm7` or `ucs2`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SmsEncoding::Gsm7 => "gsm7",
            SmsEncoding::Ucs2 => "ucs2",
        }
    }
}

/// The cost of one SMS text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmsSegments {
    /// The encoding the text needs.
    pub encoding: SmsEncoding,
    /// Length in the encoding's units (septets for GSM-7, UTF-16 units for UCS-2).
    pub units: usize,
    /// Number of parts.
    pub segments: usize,
}

/// The GSM 03.38 basic character set (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The extension table, reached through an escape septet (two septets each).
const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// Counts the parts `text` needs.
pub fn sms_segments(text: &str) -> SmsSegments {
    let mut septets = 0;
    for c in text.chars() {
        if GSM7_BASIC.contains(c) {
            septets += 1;
        } else if GSM7_EXTENSION.contains(c) {
            septets += 2;
        } else {
            let units = text.encode_utf16().count();
            return SmsSegments {
                encoding: SmsEncoding::Ucs2,
                units,
                segments: parts(units, 70, 67),
            };
        }
    }
    SmsSegments {
        encoding: SmsEncoding::Gsm7,
        units: septets,
        segments: parts(septets, 160, 153),
    }
}

fn parts(units: usize, single: usize, per_part: usize) -> usize {
    match units {
        0 => 1,
        n if n <= single => 1,
        n => n.div_ceil(per_part),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gsm7_limits() {
        let one = sms_segments(&"a".repeat(160));
        assert_eq!(
            (one.encoding, one.units, one.segments),
            (SmsEncoding::Gsm7, 160, 1)
        );
        assert_eq!(sms_segments(&"a".repeat(161)).segments, 2);
        assert_eq!(sms_segments(&"a".repeat(306)).segments, 2);
        assert_eq!(sms_segments(&"a".repeat(307)).segments, 3);
        assert_eq!(sms_segments("").segments, 1);
    }

    #[test]
    fn extension_characters_count_twice() {
        let s = sms_segments("Fee: 45€ {due}");
        assert_eq!(s.encoding, SmsEncoding::Gsm7);
        assert_eq!(s.units, 14 + 3);
        assert_eq!(sms_segments(&"€".repeat(80)).segments, 1);
        assert_eq!(sms_segments(&"€".repeat(81)).segments, 2);
    }

    #[test]
    fn one_character_outside_the_alphabet_switches_to_ucs2() {
        let s = sms_segments("Dear Wojciech Łukasz, your child was absent today.");
        assert_eq!(s.encoding, SmsEncoding::Ucs2);
        assert_eq!(s.units, 50);
        assert_eq!(sms_segments(&"ł".repeat(70)).segments, 1);
        assert_eq!(sms_segments(&"ł".repeat(71)).segments, 2);
        assert_eq!(sms_segments(&"ł".repeat(134)).segments, 2);
        assert_eq!(sms_segments(&"ł".repeat(135)).segments, 3);
        // An emoji is two UTF-16 units.
        assert_eq!(sms_segments("👍").units, 2);
    }

    proptest! {
        #[test]
        fn segments_cover_the_text(text in "\\PC{0,400}") {
            let s = sms_segments(&text);
            let (single, per_part) = match s.encoding {
                SmsEncoding::Gsm7 => (160, 153),
                SmsEncoding::Ucs2 => (70, 67),
            };
            prop_assert!(s.segments >= 1);
            if s.segments == 1 {
                prop_assert!(s.units <= single);
            } else {
                prop_assert!(s.units > single);
                prop_assert!(s.units <= s.segments * per_part);
                prop_assert!(s.units > (s.segments - 1) * per_part);
            }
        }
    }
}
