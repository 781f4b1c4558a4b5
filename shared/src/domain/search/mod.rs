//! Finding work: what of a job is searchable ([`Findable`]), what a search asks
//! ([`JobSearch`]) and which index serves it ([`Source`]). Pure: the store turns these
//! into keys and Queries, the `index` consumer into index items.

use super::skill::parse_skills;
use super::words::{plain_words, stems};
use super::{Cents, Currency, Fields, Job, JobId, Skill, UserId};
use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Distinct words indexed per job: the title's first, then the skills', then the
/// description's, in order. Words past the cap are not searchable.
pub const MAX_WORDS: usize = 40;
/// Skills one search may ask for.
pub const MAX_SEARCH_SKILLS: usize = 3;
pub const MAX_QUERY_CHARS: usize = 100;
/// Relevance ranks the newest this many jobs of each shard holding the query's chosen word.
pub const RELEVANCE_WINDOW_PER_SHARD: usize = 125;
/// A suggestion's prefix, in characters.
pub const SUGGEST_MIN_CHARS: usize = 3;
pub const SUGGEST_MAX_CHARS: usize = 40;
pub const MAX_SUGGESTIONS: usize = 10;

/// What an index item holds of its job: enough to filter and order without reading the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Findable {
    pub job_id: JobId,
    pub owner_id: UserId,
    #[serde(with = "time::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub expires_at: Timestamp,
    pub budget_cents: Cents,
    pub currency: Currency,
    pub skills: Vec<Skill>,
    /// Stems of the title, the skills and the description, at most [`MAX_WORDS`].
    pub words: Vec<String>,
    /// Stems of the title (those within the cap).
    pub title: Vec<String>,
}

impl Findable {
    pub fn of(job: &Job) -> Self {
        let title = stems(&job.title);
        let mut words: Vec<String> = Vec::new();
        let skill_text: Vec<&str> = job.skills.iter().map(Skill::as_str).collect();
        for stem in title
            .iter()
            .cloned()
            .chain(stems(&skill_text.join(" ")))
            .chain(stems(&job.description))
        {
            if words.len() == MAX_WORDS {
                break;
            }
            if !words.contains(&stem) {
                words.push(stem);
            }
        }
        let title = title.into_iter().filter(|s| words.contains(s)).collect();
        Self {
            job_id: job.job_id,
            owner_id: job.owner_id.clone(),
            created_at: job.created_at,
            expires_at: job.expires_at,
            budget_cents: job.budget_cents,
            currency: job.currency.clone(),
            skills: job.skills.clone(),
            words,
            title,
        }
    }

    /// What `suggest` offers for this job: its skills and its title's words of at least
    /// [`SUGGEST_MIN_CHARS`], each once.
    pub fn suggestible(job: &Job) -> BTreeSet<String> {
        job.skills
            .iter()
            .map(|s| s.as_str().to_owned())
            .chain(plain_words(&job.title))
            .filter(|w| {
                let n = w.chars().count();
                (SUGGEST_MIN_CHARS..=SUGGEST_MAX_CHARS).contains(&n)
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Newest,
    BudgetDesc,
    BudgetAsc,
    Relevance,
}

impl Sort {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "newest" => Some(Self::Newest),
            "budget_desc" => Some(Self::BudgetDesc),
            "budget_asc" => Some(Self::BudgetAsc),
            "relevance" => Some(Self::Relevance),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Newest => "newest",
            Self::BudgetDesc => "budget_desc",
            Self::BudgetAsc => "budget_asc",
            Self::Relevance => "relevance",
        }
    }

    pub fn by_budget(self) -> bool {
        matches!(self, Self::BudgetDesc | Self::BudgetAsc)
    }

    /// Whether the index is read from its high end: newest first, or the highest budget.
    pub fn descending(self) -> bool {
        !matches!(self, Self::BudgetAsc)
    }
}

/// Which partitions (sharded) or index a search reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The board of open jobs by creation (the job items, BoardIndex).
    Board,
    /// The caller's open jobs by creation (UserIndex).
    Owner,
    /// Every open job by budget, in one currency.
    All,
    Skill(Skill),
    Word(String),
}

/// A search of the open board, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSearch {
    pub skills: Vec<Skill>,
    pub min_budget: Option<Cents>,
    pub max_budget: Option<Cents>,
    /// The currency budgets compare in; `None` lists every currency.
    pub currency: Option<Currency>,
    pub posted_after: Option<Timestamp>,
    pub posted_before: Option<Timestamp>,
    /// The query's stems; every one must match.
    pub words: Vec<String>,
    pub sort: Sort,
    pub mine: Option<UserId>,
}

/// The parameters of a search, by name, for messages and for refusing them on another status.
pub const SEARCH_PARAMETERS: [&str; 8] = [
    "skill",
    "min_budget",
    "max_budget",
    "currency",
    "posted_after",
    "posted_before",
    "q",
    "sort",
];

impl JobSearch {
    /// Parses the search parameters; every problem is recorded in `fields`, named after its
    /// parameter. `param` answers a query parameter's value (repeats joined with commas).
    pub fn parse(
        param: impl Fn(&str) -> Option<String>,
        mine: Option<UserId>,
        fields: &mut Fields,
    ) -> Option<Self> {
        let skills = fields.check(
            "skill",
            match param("skill") {
                None => Ok(Vec::new()),
                Some(raw) => parse_skills(raw.split(','), MAX_SEARCH_SKILLS),
            },
        );
        let budget = |name: &str, fields: &mut Fields| {
            fields.check(
                name,
                param(name)
                    .map(|raw| {
                        raw.trim()
                            .parse::<i64>()
                            .ok()
                            .and_then(|n| Cents::parse(&serde_json::json!(n)).ok())
                            .ok_or_else(|| {
                                format!(
                                    "must be an integer of minor units between {} and {}",
                                    Cents::MIN,
                                    Cents::MAX
                                )
                            })
                    })
                    .transpose(),
            )
        };
        let min_budget = budget("min_budget", fields);
        let max_budget = budget("max_budget", fields);
        if let (Some(Some(min)), Some(Some(max))) = (min_budget, max_budget)
            && min > max
        {
            fields.reject("min_budget", "must not be greater than max_budget");
        }
        let currency = fields.check(
            "currency",
            param("currency").map(|c| Currency::parse(&c)).transpose(),
        );
        let date = |name: &str, fields: &mut Fields| {
            fields.check(
                name,
                param(name)
                    .map(|raw| {
                        time::parse(raw.trim())
                            .ok_or_else(|| "must be an RFC 3339 timestamp".to_owned())
                    })
                    .transpose(),
            )
        };
        let posted_after = date("posted_after", fields);
        let posted_before = date("posted_before", fields);
        let words = fields.check(
            "q",
            match param("q") {
                None => Ok(Vec::new()),
                Some(q) if q.chars().count() > MAX_QUERY_CHARS => {
                    Err(format!("must be at most {MAX_QUERY_CHARS} characters"))
                }
                Some(q) => {
                    let words = stems(&q);
                    if words.is_empty() {
                        Err("holds no word to search for (stop words are not searched)".into())
                    } else {
                        Ok(words)
                    }
                }
            },
        );
        let sort = fields.check(
            "sort",
            match param("sort") {
                None => Ok(Sort::Newest),
                Some(raw) => Sort::parse(&raw).ok_or_else(|| {
                    "must be one of newest, budget_desc, budget_asc, relevance".to_owned()
                }),
            },
        );
        if sort == Some(Sort::Relevance) && param("q").is_none() {
            fields.reject("sort", "relevance needs q");
        }
        let (skills, min_budget, max_budget, currency, posted_after, posted_before, words, sort) = (
            skills?,
            min_budget?,
            max_budget?,
            currency?,
            posted_after?,
            posted_before?,
            words?,
            sort?,
        );
        let by_budget = min_budget.is_some() || max_budget.is_some() || sort.by_budget();
        let currency = currency.or_else(|| by_budget.then(Currency::usd));
        Some(Self {
            skills,
            min_budget,
            max_budget,
            currency,
            posted_after,
            posted_before,
            words,
            sort,
            mine,
        })
    }

    /// The index that serves this search.
    pub fn source(&self) -> Source {
        if let Some(word) = self.chosen_word() {
            Source::Word(word.to_owned())
        } else if let Some(skill) = self.skills.first() {
            Source::Skill(skill.clone())
        } else if self.sort.by_budget() {
            Source::All
        } else if self.mine.is_some() {
            Source::Owner
        } else {
            Source::Board
        }
    }

    /// The query's word whose partition is read: the longest (longer words are rarer), the
    /// first of equals.
    fn chosen_word(&self) -> Option<&str> {
        self.words
            .iter()
            .rev()
            .max_by_key(|w| w.chars().count())
            .map(String::as_str)
    }

    /// Whether a job matches every criterion, as of `now` (a job past its deadline is not
    /// open). The index serving a search applies some of these in its key already; checking
    /// all of them again keeps this the one definition of a match.
    pub fn matches(&self, f: &Findable, now: Timestamp) -> bool {
        f.expires_at > now
            && self.mine.as_ref().is_none_or(|me| &f.owner_id == me)
            && self.skills.iter().all(|s| f.skills.contains(s))
            && self.words.iter().all(|w| f.words.contains(w))
            && self.currency.as_ref().is_none_or(|c| &f.currency == c)
            && self.min_budget.is_none_or(|min| f.budget_cents >= min)
            && self.max_budget.is_none_or(|max| f.budget_cents <= max)
            && self.posted_after.is_none_or(|t| f.created_at > t)
            && self.posted_before.is_none_or(|t| f.created_at < t)
    }

    /// Relevance's first group: the title holds every word.
    pub fn title_holds_all(&self, f: &Findable) -> bool {
        self.words.iter().all(|w| f.title.contains(w))
    }

    /// Whether a search of the open board was asked for at all (any parameter beyond
    /// `status`, `owner`, `limit` and `cursor`).
    pub fn is_plain(&self) -> bool {
        self.skills.is_empty()
            && self.min_budget.is_none()
            && self.max_budget.is_none()
            && self.currency.is_none()
            && self.posted_after.is_none()
            && self.posted_before.is_none()
            && self.words.is_empty()
            && self.sort == Sort::Newest
    }

    /// A stable name of this search, which a cursor is bound to.
    pub fn scope(&self) -> String {
        let stamp = |t: Option<Timestamp>| t.map(time::format).unwrap_or_default();
        let cents = |c: Option<Cents>| c.map(|c| c.get().to_string()).unwrap_or_default();
        format!(
            "search:{}:{}:{}:{}:{}:{}:{}:{}:{}",
            self.sort.as_str(),
            self.skills
                .iter()
                .map(Skill::as_str)
                .collect::<Vec<_>>()
                .join(","),
            cents(self.min_budget),
            cents(self.max_budget),
            self.currency.as_ref().map(Currency::as_str).unwrap_or(""),
            stamp(self.posted_after),
            stamp(self.posted_before),
            self.words.join(","),
            self.mine.as_ref().map(|u| u.as_str()).unwrap_or(""),
        )
    }
}

#[cfg(test)]
mod tests;
