use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A skill a job asks for: a lower-case slug such as `rust`, `c++`, `c#` or `node.js`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Skill(String);

impl Skill {
    pub const MAX_CHARS: usize = 40;

    /// Trimmed and lower-cased, then held to `[a-z0-9+#.-]{1,40}`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let slug = raw.trim().to_lowercase();
        if slug.is_empty() || slug.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "each skill must be 1 to {} characters",
                Self::MAX_CHARS
            ));
        }
        if !slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+#.-".contains(c))
        {
            return Err(format!(
                "{slug:?}: a skill holds only a-z, 0-9 and the characters + # . -"
            ));
        }
        Ok(Self(slug))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Skill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parsed skills: each normalised, repeats dropped (the first kept, order kept), at most
/// `max`.
pub fn parse_skills<'a>(
    raw: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> Result<Vec<Skill>, String> {
    let mut skills: Vec<Skill> = Vec::new();
    for s in raw {
        let skill = Skill::parse(s)?;
        if !skills.contains(&skill) {
            skills.push(skill);
        }
    }
    if skills.len() > max {
        return Err(format!("at most {max} skills"));
    }
    Ok(skills)
}

/// A job's `skills`: absent or null is none.
pub const MAX_JOB_SKILLS: usize = 10;

pub fn job_skills(raw: Option<&Value>) -> Result<Vec<Skill>, String> {
    match raw {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            let strings = items
                .iter()
                .map(|v| v.as_str().ok_or_else(|| "must hold strings".to_owned()))
                .collect::<Result<Vec<_>, _>>()?;
            parse_skills(strings, MAX_JOB_SKILLS)
        }
        Some(_) => Err("must be an array of strings".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn slugs(skills: &[Skill]) -> Vec<&str> {
        skills.iter().map(Skill::as_str).collect()
    }

    #[test]
    fn skills_are_trimmed_lower_cased_and_deduplicated() {
        let skills = job_skills(Some(&json!([" Rust ", "C++", "c#", "rust", "Node.js"]))).unwrap();
        assert_eq!(slugs(&skills), ["rust", "c++", "c#", "node.js"]);
        assert_eq!(job_skills(None).unwrap(), Vec::new());
    }

    #[test]
    fn bad_skills_are_refused() {
        for bad in [
            json!([""]),
            json!(["  "]),
            json!(["a b"]),
            json!(["rust!"]),
            json!(["é"]),
            json!(["x".repeat(41)]),
            json!([1]),
            json!("rust"),
            json!((0..11).map(|i| format!("s{i}")).collect::<Vec<_>>()),
        ] {
            assert!(job_skills(Some(&bad)).is_err(), "{bad}");
        }
        assert!(job_skills(Some(&json!(["x".repeat(40)]))).is_ok());
        // Eleven that are ten once repeats are dropped are fine.
        let mut ten: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
        ten.push("S0".into());
        assert_eq!(job_skills(Some(&json!(ten))).unwrap().len(), 10);
    }
}
