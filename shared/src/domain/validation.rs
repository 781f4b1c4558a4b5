use serde::Serialize;
use serde_json::Value;

/// A JSON number that is an integer however it is written (`5`, `5.0`, `5e0`): JSON, and the
/// JSON Schema of the published contract, do not tell them apart, so neither may the API. A
/// written fraction is taken only where an f64 holds every integer exactly (up to 2^53), so
/// no rounding ever reaches an amount.
pub fn integer(raw: &Value) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    raw.as_i64().or_else(|| {
        raw.as_f64()
            .filter(|f| !raw.is_u64() && f.fract() == 0.0 && f.abs() <= EXACT)
            .map(|f| f as i64)
    })
}

/// One rejected field of a request body or query, as listed under `errors` in a
/// `VALIDATION_FAILED` problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Collects every field error of a request so the caller hears of all of them at once.
#[derive(Debug, Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the parsed value, or records why it was refused.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(message) => {
                self.0.push(FieldError {
                    field: field.to_owned(),
                    message,
                });
                None
            }
        }
    }

    pub fn reject(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// `Ok(value)` when no field was refused; the value is built only then.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() {
            // Every `check` succeeded, so `build` has all its parts.
            build().ok_or_else(Vec::new)
        } else {
            Err(self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_are_read_however_they_are_written_but_never_rounded() {
        assert_eq!(integer(&json!(5)), Some(5));
        assert_eq!(integer(&json!(-5)), Some(-5));
        assert_eq!(integer(&json!(5.0)), Some(5));
        let written: Value = serde_json::from_str("5e3").unwrap();
        assert_eq!(integer(&written), Some(5000));
        assert_eq!(integer(&json!(5.5)), None);
        assert_eq!(integer(&json!(1e300)), None);
        assert_eq!(integer(&json!(u64::MAX)), None);
        assert_eq!(integer(&json!("5")), None);
        assert_eq!(integer(&json!(null)), None);
    }
}
