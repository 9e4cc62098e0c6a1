//! The text form of the status and role enums stored as TEXT columns: `Display` and `FromStr`
//! derived from each enum's `ALL` and `as_str`, so the spelling has one source per enum.

/// Implements `Display` and `FromStr` (error: [`crate::ParseEnumError`]) for an enum with
/// `const ALL: [Self; N]` and `fn as_str(self) -> &'static str`. `$kind` names it in errors.
macro_rules! text_enum {
    ($ty:ty, $kind:literal, $expected:literal) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::ParseEnumError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::ParseEnumError {
                        kind: $kind,
                        value: s.to_owned(),
                        expected: $expected,
                    })
            }
        }
    };
}

pub(crate) use text_enum;
