use super::*;
use crate::domain::{JobStatus, NewJob};
use serde_json::json;
use std::collections::HashMap;

fn now() -> Timestamp {
    time::parse("2026-01-01T00:00:00.000Z").unwrap()
}

fn job(body: serde_json::Value) -> Job {
    NewJob::parse(body.as_object().unwrap(), now())
        .unwrap()
        .into_job(JobId::generate(), UserId::parse("owner").unwrap(), now())
}

fn search(params: &[(&str, &str)]) -> Result<JobSearch, Vec<String>> {
    let map: HashMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut fields = Fields::new();
    let parsed = JobSearch::parse(|name| map.get(name).cloned(), None, &mut fields);
    fields
        .finish(|| parsed)
        .map_err(|errors| errors.into_iter().map(|e| e.field).collect())
}

#[test]
fn a_job_is_findable_by_its_title_skills_and_description_words() {
    let j = job(json!({
        "title": "Senior Rust developer",
        "description": "Build an API with Node.js",
        "skills": ["rust", "c#"],
        "budget_cents": 100
    }));
    let f = Findable::of(&j);
    assert_eq!(f.title, ["senior", "rust", "develop"]);
    assert!(
        f.words
            .starts_with(&["senior".into(), "rust".into(), "develop".into()])
    );
    assert!(f.words.contains(&"api".to_owned()));
    assert_eq!(
        Findable::suggestible(&j).into_iter().collect::<Vec<_>>(),
        ["developer", "rust", "senior"]
    );
}

#[test]
fn words_per_job_are_capped_title_first() {
    let description: Vec<String> = (0..100).map(|i| format!("word{i}")).collect();
    let j = job(json!({
        "title": "Alpha beta",
        "description": description.join(" "),
        "budget_cents": 100
    }));
    let f = Findable::of(&j);
    assert_eq!(f.words.len(), MAX_WORDS);
    assert_eq!(&f.words[..2], ["alpha", "beta"]);
    assert_eq!(f.title, ["alpha", "beta"]);
}

#[test]
fn each_bad_parameter_is_named() {
    for (params, field) in [
        (
            vec![("min_budget", "500"), ("max_budget", "100")],
            "min_budget",
        ),
        (vec![("sort", "cheapest")], "sort"),
        (vec![("sort", "relevance")], "sort"),
        (vec![("q", "the and of")], "q"),
        (vec![("q", &"x".repeat(101))], "q"),
        (vec![("skill", "a,b,c,d")], "skill"),
        (vec![("skill", "no spaces")], "skill"),
        (vec![("posted_after", "yesterday")], "posted_after"),
        (
            vec![("posted_before", "2026-13-01T00:00:00Z")],
            "posted_before",
        ),
        (vec![("min_budget", "1.5")], "min_budget"),
        (vec![("max_budget", "0")], "max_budget"),
        (vec![("currency", "usd")], "currency"),
    ] {
        assert_eq!(search(&params).unwrap_err(), [field], "{params:?}");
    }
}

#[test]
fn a_budget_bound_or_sort_compares_in_one_currency() {
    assert_eq!(search(&[]).unwrap().currency, None);
    assert!(search(&[]).unwrap().is_plain());
    assert_eq!(
        search(&[("min_budget", "5")]).unwrap().currency,
        Some(Currency::usd())
    );
    assert_eq!(
        search(&[("sort", "budget_asc"), ("currency", "EUR")])
            .unwrap()
            .currency,
        Currency::parse("EUR").ok()
    );
    assert_eq!(
        search(&[("skill", "Rust,rust,c#")]).unwrap().skills.len(),
        2,
        "repeats count once"
    );
}

#[test]
fn each_search_is_served_by_one_index() {
    let s = |p: &[(&str, &str)]| search(p).unwrap().source();
    assert_eq!(s(&[]), Source::Board);
    assert_eq!(
        s(&[
            ("min_budget", "5"),
            ("posted_after", "2026-01-01T00:00:00Z")
        ]),
        Source::Board
    );
    assert_eq!(s(&[("sort", "budget_desc")]), Source::All);
    assert_eq!(
        s(&[("skill", "rust,go"), ("sort", "budget_asc")]),
        Source::Skill(Skill::parse("rust").unwrap())
    );
    assert_eq!(
        s(&[("q", "api developers"), ("skill", "rust")]),
        Source::Word("develop".into())
    );
}

#[test]
fn a_match_holds_every_criterion() {
    let mut j = job(json!({
        "title": "Logo design",
        "description": "For a bakery",
        "skills": ["figma"],
        "budget_cents": 5_000
    }));
    let f = Findable::of(&j);
    let yes = |p: &[(&str, &str)]| search(p).unwrap().matches(&f, now());
    assert!(yes(&[("q", "bakery logos"), ("skill", "figma")]));
    assert!(!yes(&[("q", "bakery website")]));
    assert!(yes(&[("min_budget", "5000"), ("max_budget", "5000")]));
    assert!(!yes(&[("min_budget", "5001")]));
    assert!(!yes(&[("min_budget", "1"), ("currency", "EUR")]));
    assert!(
        !yes(&[("posted_after", "2026-01-01T00:00:00Z")]),
        "strictly after"
    );
    assert!(yes(&[("posted_before", "2026-01-01T00:00:00.001Z")]));
    j.expires_at = now();
    assert!(!yes_of(&Findable::of(&j)));
    assert_eq!(j.status, JobStatus::Open);
}

fn yes_of(f: &Findable) -> bool {
    search(&[]).unwrap().matches(f, now())
}
