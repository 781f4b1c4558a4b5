//! EventBridge's event-pattern language, the one a pipe's `FilterCriteria` is written in, so
//! the local pipe filters with the template's own patterns rather than a check of its own
//! that could drift from them. No maintained Rust crate implements the language, hence this.
//!
//! Covered: nested objects, lists of allowed values (any one), exact strings, numbers
//! (compared as numbers: 300 matches 3.0e2), booleans and null, `prefix`, `suffix` (both
//! also with `equals-ignore-case`), `equals-ignore-case`, `wildcard`, `anything-but` (a
//! value, a list, or a `prefix`/`suffix`/`equals-ignore-case`/`wildcard`), `exists` and
//! `numeric`. `cidr` is refused as unsupported rather than silently never matching.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid event pattern: {0}")]
pub struct PatternError(String);

fn invalid<T>(msg: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError(msg.into()))
}

/// A pipe's `FilterCriteria`: an event passes when any of its patterns matches it, and
/// every event passes a pipe that has none.
#[derive(Debug, Clone, Default)]
pub struct FilterCriteria {
    patterns: Vec<Pattern>,
}

impl FilterCriteria {
    pub fn parse<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<Self, PatternError> {
        Ok(Self {
            patterns: patterns
                .into_iter()
                .map(Pattern::parse)
                .collect::<Result<_, _>>()?,
        })
    }

    pub fn matches(&self, event: &Value) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| p.matches(event))
    }
}

/// One event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    fields: Vec<(String, Node)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Object(Vec<(String, Node)>),
    /// The value there matches any of these.
    Leaf(Vec<Matcher>),
}

#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    Exact(Value),
    Prefix(Text),
    Suffix(Text),
    EqualsIgnoreCase(String),
    Wildcard(String),
    AnythingBut(AnythingBut),
    Exists(bool),
    Numeric(Vec<(Comparison, f64)>),
}

/// A string operand, compared as written or ignoring case.
#[derive(Debug, Clone, PartialEq)]
struct Text {
    text: String,
    ignore_case: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum AnythingBut {
    Values(Vec<Value>),
    Prefix(Text),
    Suffix(Text),
    EqualsIgnoreCase(Vec<String>),
    Wildcard(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Comparison {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Pattern {
    pub fn parse(json: &str) -> Result<Self, PatternError> {
        let value: Value = serde_json::from_str(json).or_else(|e| invalid(e.to_string()))?;
        match value {
            Value::Object(fields) => Ok(Self {
                fields: parse_fields(&fields)?,
            }),
            _ => invalid("a pattern is a JSON object"),
        }
    }

    pub fn matches(&self, event: &Value) -> bool {
        fields_match(&self.fields, Some(event))
    }
}

fn parse_fields(fields: &Map<String, Value>) -> Result<Vec<(String, Node)>, PatternError> {
    fields
        .iter()
        .map(|(name, v)| {
            let node = match v {
                Value::Object(inner) if inner.is_empty() => {
                    return invalid(format!("{name}: an empty object matches nothing"));
                }
                Value::Object(inner) => Node::Object(parse_fields(inner)?),
                Value::Array(items) => Node::Leaf(
                    items
                        .iter()
                        .map(|m| {
                            parse_matcher(m).map_err(|e| PatternError(format!("{name}: {}", e.0)))
                        })
                        .collect::<Result<_, _>>()?,
                ),
                _ => return invalid(format!("{name}: a value to match must be in a list")),
            };
            Ok((name.clone(), node))
        })
        .collect()
}

fn parse_matcher(m: &Value) -> Result<Matcher, PatternError> {
    let Value::Object(op) = m else {
        return Ok(Matcher::Exact(m.clone()));
    };
    let mut entries = op.iter();
    let (Some((name, arg)), None) = (entries.next(), entries.next()) else {
        return invalid("an operator object has exactly one key");
    };
    Ok(match name.as_str() {
        "prefix" => Matcher::Prefix(text_operand(name, arg)?),
        "suffix" => Matcher::Suffix(text_operand(name, arg)?),
        "equals-ignore-case" => Matcher::EqualsIgnoreCase(string(name, arg)?.to_owned()),
        "wildcard" => Matcher::Wildcard(string(name, arg)?.to_owned()),
        "exists" => match arg {
            Value::Bool(b) => Matcher::Exists(*b),
            _ => return invalid("exists takes true or false"),
        },
        "numeric" => Matcher::Numeric(numeric(arg)?),
        "anything-but" => Matcher::AnythingBut(anything_but(arg)?),
        other => return invalid(format!("unsupported operator {other}")),
    })
}

fn string<'a>(op: &str, arg: &'a Value) -> Result<&'a str, PatternError> {
    arg.as_str()
        .map_or_else(|| invalid(format!("{op} takes a string")), Ok)
}

/// `"text"` or `{"equals-ignore-case": "text"}`.
fn text_operand(op: &str, arg: &Value) -> Result<Text, PatternError> {
    if let Some(inner) = arg.get("equals-ignore-case") {
        return Ok(Text {
            text: string(op, inner)?.to_owned(),
            ignore_case: true,
        });
    }
    Ok(Text {
        text: string(op, arg)?.to_owned(),
        ignore_case: false,
    })
}

fn strings(op: &str, arg: &Value) -> Result<Vec<String>, PatternError> {
    match arg {
        Value::Array(items) => items
            .iter()
            .map(|i| string(op, i).map(str::to_owned))
            .collect(),
        _ => Ok(vec![string(op, arg)?.to_owned()]),
    }
}

fn anything_but(arg: &Value) -> Result<AnythingBut, PatternError> {
    let scalar = |v: &Value| match v {
        Value::String(_) | Value::Number(_) => Ok(v.clone()),
        _ => invalid("anything-but takes strings or numbers"),
    };
    Ok(match arg {
        Value::Array(items) => {
            AnythingBut::Values(items.iter().map(scalar).collect::<Result<_, _>>()?)
        }
        Value::Object(op) => {
            let mut entries = op.iter();
            let (Some((name, inner)), None) = (entries.next(), entries.next()) else {
                return invalid("anything-but takes one operator");
            };
            match name.as_str() {
                "prefix" => AnythingBut::Prefix(text_operand(name, inner)?),
                "suffix" => AnythingBut::Suffix(text_operand(name, inner)?),
                "equals-ignore-case" => AnythingBut::EqualsIgnoreCase(strings(name, inner)?),
                "wildcard" => AnythingBut::Wildcard(strings(name, inner)?),
                other => return invalid(format!("anything-but does not take {other}")),
            }
        }
        v => AnythingBut::Values(vec![scalar(v)?]),
    })
}

fn numeric(arg: &Value) -> Result<Vec<(Comparison, f64)>, PatternError> {
    let Value::Array(items) = arg else {
        return invalid("numeric takes a list");
    };
    if items.is_empty() || items.len() % 2 != 0 {
        return invalid("numeric takes operator and number pairs");
    }
    items
        .chunks(2)
        .map(|pair| {
            let op = match pair[0].as_str() {
                Some("<") => Comparison::Lt,
                Some("<=") => Comparison::Le,
                Some("=") => Comparison::Eq,
                Some(">=") => Comparison::Ge,
                Some(">") => Comparison::Gt,
                _ => return invalid(format!("numeric: unknown operator {}", pair[0])),
            };
            let bound = pair[1].as_f64().map_or_else(
                || invalid(format!("numeric: {} is not a number", pair[1])),
                Ok,
            )?;
            Ok((op, bound))
        })
        .collect()
}

fn fields_match(fields: &[(String, Node)], value: Option<&Value>) -> bool {
    fields
        .iter()
        .all(|(name, node)| node_matches(node, value.and_then(|v| v.get(name))))
}

fn node_matches(node: &Node, value: Option<&Value>) -> bool {
    match (node, value) {
        // An array in the event matches when one of its elements does.
        (_, Some(Value::Array(items))) => items.iter().any(|i| node_matches(node, Some(i))),
        (Node::Object(fields), _) => fields_match(fields, value),
        (Node::Leaf(matchers), _) => matchers.iter().any(|m| m.matches(value)),
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn fold(s: &str) -> String {
    s.to_lowercase()
}

impl Text {
    fn test(&self, value: &str, test: impl Fn(&str, &str) -> bool) -> bool {
        if self.ignore_case {
            test(&fold(value), &fold(&self.text))
        } else {
            test(value, &self.text)
        }
    }
}

/// `*` stands for any run of characters, `\*` for a star.
fn wildcard(pattern: &str, value: &str) -> bool {
    enum Token {
        Char(char),
        Star,
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '\\' => Token::Char(chars.next().unwrap_or('\\')),
            '*' => Token::Star,
            c => Token::Char(c),
        });
    }
    let value: Vec<char> = value.chars().collect();
    // matched[j]: the tokens so far can match value[..j].
    let mut matched = vec![false; value.len() + 1];
    matched[0] = true;
    for token in &tokens {
        let mut next = vec![false; value.len() + 1];
        match token {
            Token::Star => {
                let mut any = false;
                for j in 0..=value.len() {
                    any |= matched[j];
                    next[j] = any;
                }
            }
            Token::Char(c) => {
                for j in 0..value.len() {
                    next[j + 1] = matched[j] && value[j] == *c;
                }
            }
        }
        matched = next;
    }
    matched[value.len()]
}

impl Matcher {
    fn matches(&self, value: Option<&Value>) -> bool {
        if let Matcher::Exists(wanted) = self {
            return *wanted == value.is_some();
        }
        let Some(value) = value else {
            return false;
        };
        let text = value.as_str();
        match self {
            Matcher::Exists(_) => unreachable!("answered above"),
            Matcher::Exact(expected) => same_value(expected, value),
            Matcher::Prefix(p) => text.is_some_and(|t| p.test(t, |t, p| t.starts_with(p))),
            Matcher::Suffix(s) => text.is_some_and(|t| s.test(t, |t, s| t.ends_with(s))),
            Matcher::EqualsIgnoreCase(s) => text.is_some_and(|t| fold(t) == fold(s)),
            Matcher::Wildcard(w) => text.is_some_and(|t| wildcard(w, t)),
            Matcher::Numeric(bounds) => value.as_f64().is_some_and(|n| {
                bounds.iter().all(|(op, bound)| match op {
                    Comparison::Lt => n < *bound,
                    Comparison::Le => n <= *bound,
                    Comparison::Eq => n == *bound,
                    Comparison::Ge => n >= *bound,
                    Comparison::Gt => n > *bound,
                })
            }),
            Matcher::AnythingBut(but) => match but {
                AnythingBut::Values(excluded) => {
                    !value.is_object() && !excluded.iter().any(|e| same_value(e, value))
                }
                AnythingBut::Prefix(p) => text.is_some_and(|t| !p.test(t, |t, p| t.starts_with(p))),
                AnythingBut::Suffix(s) => text.is_some_and(|t| !s.test(t, |t, s| t.ends_with(s))),
                AnythingBut::EqualsIgnoreCase(excluded) => {
                    text.is_some_and(|t| !excluded.iter().any(|e| fold(e) == fold(t)))
                }
                AnythingBut::Wildcard(excluded) => {
                    text.is_some_and(|t| !excluded.iter().any(|w| wildcard(w, t)))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pattern(p: Value) -> Pattern {
        Pattern::parse(&p.to_string()).unwrap()
    }

    /// Whether `{"f": [matcher]}` matches `{"f": value}`.
    fn field(matcher: Value, value: Value) -> bool {
        pattern(json!({ "f": [matcher] })).matches(&json!({ "f": value }))
    }

    #[test]
    fn exact_values_match_only_themselves() {
        assert!(field(json!("INSERT"), json!("INSERT")));
        assert!(!field(json!("INSERT"), json!("insert")));
        assert!(!field(json!("INSERT"), json!("MODIFY")));
        assert!(field(json!(300), json!(3.0e2)));
        assert!(!field(json!(300), json!(301)));
        assert!(!field(json!(5), json!("5")));
        assert!(field(json!(true), json!(true)));
        assert!(!field(json!(true), json!(false)));
        assert!(field(json!(null), json!(null)));
        assert!(!field(json!(null), json!("null")));
        // A missing field is no value at all.
        assert!(!pattern(json!({"f": [null]})).matches(&json!({})));
    }

    #[test]
    fn a_list_allows_any_of_its_values_and_an_event_array_any_of_its_elements() {
        let p = pattern(json!({"eventName": ["INSERT", "MODIFY"]}));
        assert!(p.matches(&json!({"eventName": "INSERT"})));
        assert!(p.matches(&json!({"eventName": "MODIFY"})));
        assert!(!p.matches(&json!({"eventName": "REMOVE"})));
        assert!(p.matches(&json!({"eventName": ["REMOVE", "MODIFY"]})));
        assert!(!p.matches(&json!({"eventName": ["REMOVE"]})));
        assert!(!pattern(json!({"f": []})).matches(&json!({"f": "x"})));
    }

    #[test]
    fn nested_objects_match_field_by_field_and_every_field_must_match() {
        let p = pattern(json!({"a": {"b": {"c": ["x"]}, "d": ["y"]}, "e": ["z"]}));
        assert!(p.matches(&json!({"a": {"b": {"c": "x"}, "d": "y"}, "e": "z", "other": 1})));
        assert!(!p.matches(&json!({"a": {"b": {"c": "x"}, "d": "y"}, "e": "no"})));
        assert!(!p.matches(&json!({"a": {"b": {"c": "no"}, "d": "y"}, "e": "z"})));
        assert!(!p.matches(&json!({"a": {"d": "y"}, "e": "z"})));
        assert!(!p.matches(&json!({"a": "x", "e": "z"})));
        // Objects inside an array: one element must match the whole sub-pattern.
        let p = pattern(json!({"items": {"kind": ["a"]}}));
        assert!(p.matches(&json!({"items": [{"kind": "b"}, {"kind": "a"}]})));
        assert!(!p.matches(&json!({"items": [{"kind": "b"}]})));
    }

    #[test]
    fn prefix_and_suffix_match_strings_that_start_or_end_so() {
        assert!(field(json!({"prefix": "OUTBOX#"}), json!("OUTBOX#01J")));
        assert!(!field(json!({"prefix": "OUTBOX#"}), json!("JOB#01J")));
        assert!(!field(json!({"prefix": "OUTBOX#"}), json!("outbox#01J")));
        assert!(!field(json!({"prefix": "1"}), json!(12)));
        assert!(field(
            json!({"prefix": {"equals-ignore-case": "outbox#"}}),
            json!("OutBox#1")
        ));
        assert!(field(json!({"suffix": ".png"}), json!("logo.png")));
        assert!(!field(json!({"suffix": ".png"}), json!("logo.jpg")));
        assert!(!field(json!({"suffix": ".png"}), json!("logo.PNG")));
        assert!(field(
            json!({"suffix": {"equals-ignore-case": ".png"}}),
            json!("logo.PNG")
        ));
    }

    #[test]
    fn equals_ignore_case_and_wildcard_match_strings() {
        assert!(field(
            json!({"equals-ignore-case": "insert"}),
            json!("INSERT")
        ));
        assert!(!field(
            json!({"equals-ignore-case": "insert"}),
            json!("INSERTS")
        ));
        assert!(!field(json!({"equals-ignore-case": "1"}), json!(1)));
        assert!(field(
            json!({"wildcard": "JOB#*#APP#*"}),
            json!("JOB#1#APP#2")
        ));
        assert!(field(json!({"wildcard": "*"}), json!("")));
        assert!(!field(
            json!({"wildcard": "JOB#*#APP#*"}),
            json!("JOB#1#EVENT#2")
        ));
        assert!(field(json!({"wildcard": "a\\*b"}), json!("a*b")));
        assert!(!field(json!({"wildcard": "a\\*b"}), json!("axb")));
    }

    #[test]
    fn anything_but_matches_every_present_value_except_those_named() {
        assert!(field(json!({"anything-but": "REMOVE"}), json!("INSERT")));
        assert!(!field(json!({"anything-but": "REMOVE"}), json!("REMOVE")));
        assert!(field(
            json!({"anything-but": ["REMOVE", "MODIFY"]}),
            json!("INSERT")
        ));
        assert!(!field(
            json!({"anything-but": ["REMOVE", "MODIFY"]}),
            json!("MODIFY")
        ));
        assert!(field(json!({"anything-but": 5}), json!(6)));
        assert!(!field(json!({"anything-but": 5}), json!(5.0)));
        assert!(field(
            json!({"anything-but": {"prefix": "OUTBOX#"}}),
            json!("JOB#1")
        ));
        assert!(!field(
            json!({"anything-but": {"prefix": "OUTBOX#"}}),
            json!("OUTBOX#1")
        ));
        assert!(field(
            json!({"anything-but": {"suffix": "#1"}}),
            json!("JOB#2")
        ));
        assert!(!field(
            json!({"anything-but": {"suffix": "#1"}}),
            json!("JOB#1")
        ));
        assert!(!field(
            json!({"anything-but": {"equals-ignore-case": ["a", "b"]}}),
            json!("B")
        ));
        assert!(field(
            json!({"anything-but": {"equals-ignore-case": ["a", "b"]}}),
            json!("c")
        ));
        assert!(!field(
            json!({"anything-but": {"wildcard": "J*"}}),
            json!("JOB")
        ));
        // Never a field that is missing.
        assert!(!pattern(json!({"f": [{"anything-but": "x"}]})).matches(&json!({})));
    }

    #[test]
    fn exists_asks_whether_the_field_is_there() {
        let there = pattern(json!({"a": {"b": [{"exists": true}]}}));
        let absent = pattern(json!({"a": {"b": [{"exists": false}]}}));
        assert!(there.matches(&json!({"a": {"b": "x"}})));
        assert!(there.matches(&json!({"a": {"b": null}})));
        assert!(!there.matches(&json!({"a": {"c": "x"}})));
        assert!(!there.matches(&json!({})));
        assert!(absent.matches(&json!({"a": {"c": "x"}})));
        assert!(absent.matches(&json!({})));
        assert!(!absent.matches(&json!({"a": {"b": "x"}})));
    }

    #[test]
    fn numeric_ranges_hold_every_bound_and_only_numbers() {
        let m = json!({"numeric": [">", 0, "<=", 5]});
        assert!(field(m.clone(), json!(5)));
        assert!(field(m.clone(), json!(0.5)));
        assert!(!field(m.clone(), json!(0)));
        assert!(!field(m.clone(), json!(5.01)));
        assert!(!field(m, json!("3")));
        assert!(field(json!({"numeric": ["=", 2]}), json!(2.0)));
        assert!(!field(json!({"numeric": ["=", 2]}), json!(3)));
        assert!(field(json!({"numeric": [">=", 2, "<", 3]}), json!(2)));
        assert!(!field(json!({"numeric": [">=", 2, "<", 3]}), json!(3)));
    }

    #[test]
    fn filter_criteria_pass_an_event_that_any_pattern_matches() {
        let criteria = FilterCriteria::parse([r#"{"a": ["1"]}"#, r#"{"b": ["2"]}"#]).unwrap();
        assert!(criteria.matches(&json!({"a": "1"})));
        assert!(criteria.matches(&json!({"b": "2"})));
        assert!(!criteria.matches(&json!({"a": "2", "b": "1"})));
        assert!(FilterCriteria::default().matches(&json!({"anything": true})));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            r#"["INSERT"]"#,
            r#"{"eventName": "INSERT"}"#,
            r#"{"a": {}}"#,
            r#"{"a": [{"prefix": 1}]}"#,
            r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#,
            r#"{"a": [{"exists": "yes"}]}"#,
            r#"{"a": [{"numeric": [">"]}]}"#,
            r#"{"a": [{"numeric": ["~", 1]}]}"#,
            r#"{"a": [{"numeric": [">", "1"]}]}"#,
            r#"{"a": [{"anything-but": {"exists": true}}]}"#,
            r#"{"a": [{"anything-but": [true]}]}"#,
            r#"{"a": [{"cidr": "10.0.0.0/24"}]}"#,
            r#"{"a": [{"nope": 1}]}"#,
            "not json",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
