use serde::{Deserialize, Serialize};

/// An amount in minor units. Integers only: no float ever touches money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cents(i64);

impl Cents {
    pub const MIN: i64 = 1;
    pub const MAX: i64 = 1_000_000_000;

    pub fn parse(raw: &serde_json::Value) -> Result<Self, String> {
        let n = super::validation::integer(raw)
            .ok_or_else(|| "must be an integer number of cents".to_owned())?;
        if (Self::MIN..=Self::MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(format!("must be between {} and {}", Self::MIN, Self::MAX))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// An upper-case ISO 4217 code in active use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match iso_currency::Currency::from_code(raw) {
            Some(_) => Ok(Self(raw.to_owned())),
            None => Err("must be an upper-case ISO 4217 currency code".to_owned()),
        }
    }

    pub fn usd() -> Self {
        Self("USD".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cents_take_integers_within_bounds_only() {
        assert_eq!(Cents::parse(&json!(1)).map(Cents::get), Ok(1));
        assert_eq!(
            Cents::parse(&json!(1_000_000_000)).map(Cents::get),
            Ok(1_000_000_000)
        );
        assert_eq!(Cents::parse(&json!(100.0)).map(Cents::get), Ok(100));
        for bad in [
            json!(0),
            json!(-5),
            json!(1_000_000_001),
            json!(12.5),
            json!("100"),
            json!(null),
        ] {
            assert!(Cents::parse(&bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn currency_is_an_upper_case_iso_code() {
        assert!(Currency::parse("EUR").is_ok());
        assert!(Currency::parse("eur").is_err());
        assert!(Currency::parse("XYZ").is_err());
        assert!(Currency::parse("").is_err());
    }
}
