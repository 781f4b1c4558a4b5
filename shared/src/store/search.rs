//! Searching the open board: every search is Queries on the one index its
//! [`JobSearch::source`] names, every shard of it read at once and merged in key order; what
//! the key cannot express is filtered after, with a bounded read per page.
//!
//! A page reads at most `max(limit, SHARD_READ)` items of each partition it reads (one
//! partition for the board and an owner's jobs, [`keys::FIND_SHARDS`] for a discovery
//! index), then the page's jobs with one BatchGetItem; relevance reads
//! [`RELEVANCE_WINDOW_PER_SHARD`] of each shard instead. When the read runs out before the
//! page is full, the page is short and carries a cursor.

use super::keys::{self, FIND_SHARDS};
use super::ops::s;
use super::{Page, PageKey, Store, StoreError};
use crate::domain::search::{MAX_SUGGESTIONS, RELEVANCE_WINDOW_PER_SHARD};
use crate::domain::{Findable, Job, JobId, JobSearch, JobStatus, Sort, Source};
use crate::time::{self, Timestamp};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// Items one page reads of each partition at least, so that filtered-out items cost reads,
/// not round trips.
pub const SHARD_READ: usize = 50;

type Item = HashMap<String, AttributeValue>;

/// Where and how a search reads: the partitions, the key range, the direction.
struct Scan {
    index: Option<&'static str>,
    pk_attr: &'static str,
    sk_attr: &'static str,
    partitions: Vec<String>,
    lo: String,
    hi: String,
    descending: bool,
    per_partition: usize,
}

/// A search's read: items in key order that are complete (no unread item of any partition
/// sorts before the last of them), and where the unread part begins.
struct Read {
    items: Vec<(String, Item)>,
    boundary: Option<String>,
}

impl Scan {
    fn for_search(search: &JobSearch, limit: usize) -> Self {
        let source = search.source();
        let per_partition = limit.max(SHARD_READ);
        let stamp = |t: Timestamp| time::format(t);
        match source {
            Source::Board | Source::Owner => {
                let (index, pk_attr, sk_attr, pk) = match &search.mine {
                    Some(me) => (
                        keys::USER_INDEX,
                        "GSI1PK",
                        "GSI1SK",
                        keys::owner_jobs(me, JobStatus::Open),
                    ),
                    None => (
                        keys::BOARD_INDEX,
                        "GSI2PK",
                        "GSI2SK",
                        keys::board(JobStatus::Open),
                    ),
                };
                Self {
                    index: Some(index),
                    pk_attr,
                    sk_attr,
                    partitions: vec![pk],
                    lo: search
                        .posted_after
                        .map(|t| format!("{}#~", stamp(t)))
                        .unwrap_or_else(|| "0".to_owned()),
                    hi: search.posted_before.map(stamp).unwrap_or("~".into()),
                    descending: true,
                    per_partition,
                }
            }
            source => {
                let partitions = (0..FIND_SHARDS)
                    .map(|n| keys::find_partition(&source, n))
                    .collect();
                let (lo, hi) = if search.sort.by_budget() {
                    let currency = search
                        .currency
                        .as_ref()
                        .map(|c| c.as_str())
                        .unwrap_or("USD");
                    let prefix = keys::find_budget_prefix(currency);
                    (
                        search
                            .min_budget
                            .map(|m| keys::find_budget(currency, m.get()))
                            .unwrap_or_else(|| prefix.clone()),
                        search
                            .max_budget
                            .map(|m| format!("{}~", keys::find_budget(currency, m.get())))
                            .unwrap_or_else(|| format!("{prefix}~")),
                    )
                } else {
                    let t = keys::FIND_TIME_PREFIX;
                    (
                        search
                            .posted_after
                            .map(|a| format!("{t}{}#~", stamp(a)))
                            .unwrap_or_else(|| t.to_owned()),
                        search
                            .posted_before
                            .map(|b| format!("{t}{}", stamp(b)))
                            .unwrap_or_else(|| format!("{t}~")),
                    )
                };
                Self {
                    index: None,
                    pk_attr: keys::PK,
                    sk_attr: keys::SK,
                    partitions,
                    lo,
                    hi,
                    descending: search.sort.descending(),
                    per_partition: if search.sort == Sort::Relevance {
                        RELEVANCE_WINDOW_PER_SHARD
                    } else {
                        per_partition
                    },
                }
            }
        }
    }
}

impl Store {
    /// One page of a search of the open board, in its sort's order.
    pub async fn search_jobs(
        &self,
        search: &JobSearch,
        limit: u32,
        start: Option<PageKey>,
        now: Timestamp,
    ) -> Result<Page<Job>, StoreError> {
        let limit = limit as usize;
        let scan = Scan::for_search(search, limit);
        if search.sort == Sort::Relevance {
            return self.by_relevance(search, scan, limit, start, now).await;
        }
        let after = start.as_ref().and_then(|k| k.get("after"));
        let read = self.read(&scan, after, None).await?;
        let mut chosen: Vec<(String, Item)> = Vec::new();
        let mut next = read.boundary.clone();
        let total = read.items.len();
        for (i, (sk, item)) in read.items.into_iter().enumerate() {
            let findable = match scan.index {
                Some(_) => Findable::of(&serde_dynamo::from_item::<_, Job>(item.clone())?),
                None => serde_dynamo::from_item(item.clone())?,
            };
            if !search.matches(&findable, now) {
                continue;
            }
            chosen.push((sk.clone(), item));
            if chosen.len() == limit {
                next = (i + 1 < total || read.boundary.is_some()).then_some(sk);
                break;
            }
        }
        let jobs = match scan.index {
            Some(_) => chosen
                .into_iter()
                .map(|(_, item)| serde_dynamo::from_item(item))
                .collect::<Result<Vec<Job>, _>>()?,
            None => self.open_jobs(&chosen, now).await?,
        };
        Ok(Page {
            items: jobs,
            next: next.map(|sk| PageKey::of([("after", sk)])),
        })
    }

    /// Relevance: the newest [`RELEVANCE_WINDOW_PER_SHARD`] of each shard of the word's
    /// partition (no newer than the first page's newest, so pages hold still while jobs are
    /// posted), ranked title matches first, then the others, each newest first.
    async fn by_relevance(
        &self,
        search: &JobSearch,
        scan: Scan,
        limit: usize,
        start: Option<PageKey>,
        now: Timestamp,
    ) -> Result<Page<Job>, StoreError> {
        let top = start.as_ref().and_then(|k| k.get("top"));
        let read = self.read(&scan, top, Some(top.is_some())).await?;
        let top = top
            .map(str::to_owned)
            .or_else(|| read.items.first().map(|(sk, _)| sk.clone()));
        let mut ranked: Vec<(u8, String, Item)> = Vec::new();
        for (sk, item) in read.items {
            let f: Findable = serde_dynamo::from_item(item.clone())?;
            if search.matches(&f, now) {
                ranked.push((u8::from(!search.title_holds_all(&f)), sk, item));
            }
        }
        ranked.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
        let position = start.as_ref().and_then(|k| {
            Some((
                k.get("group")?.parse::<u8>().ok()?,
                k.get("after")?.to_owned(),
            ))
        });
        let rest: Vec<_> = ranked
            .into_iter()
            .filter(|(group, sk, _)| match &position {
                None => true,
                Some((g, after)) => group > g || (group == g && sk < after),
            })
            .collect();
        let more = rest.len() > limit;
        let page: Vec<_> = rest.into_iter().take(limit).collect();
        let next = match (more, page.last(), top) {
            (true, Some((group, sk, _)), Some(top)) => Some(PageKey::of([
                ("top", top),
                ("group", group.to_string()),
                ("after", sk.clone()),
            ])),
            _ => None,
        };
        let chosen: Vec<(String, Item)> = page.into_iter().map(|(_, sk, i)| (sk, i)).collect();
        Ok(Page {
            items: self.open_jobs(&chosen, now).await?,
            next,
        })
    }

    /// Every partition of `scan` at once, from `after` (exclusive; `inclusive` keeps an
    /// item at `after`, for relevance's top), merged in key order.
    async fn read(
        &self,
        scan: &Scan,
        after: Option<&str>,
        inclusive: Option<bool>,
    ) -> Result<Read, StoreError> {
        let (mut lo, mut hi) = (scan.lo.clone(), scan.hi.clone());
        if let Some(after) = after {
            if scan.descending {
                hi = hi.min(after.to_owned());
            } else {
                lo = lo.max(after.to_owned());
            }
        }
        if lo > hi {
            return Ok(Read {
                items: Vec::new(),
                boundary: None,
            });
        }
        let queries = scan.partitions.iter().map(|pk| {
            let query = self
                .client
                .query()
                .table_name(self.table())
                .set_index_name(scan.index.map(str::to_owned))
                .key_condition_expression("#p = :p AND #s BETWEEN :lo AND :hi")
                .expression_attribute_names("#p", scan.pk_attr)
                .expression_attribute_names("#s", scan.sk_attr)
                .expression_attribute_values(":p", s(pk.clone()))
                .expression_attribute_values(":lo", s(lo.clone()))
                .expression_attribute_values(":hi", s(hi.clone()))
                .scan_index_forward(!scan.descending)
                .limit(scan.per_partition as i32);
            async move { query.send().await }
        });
        let answers = futures::future::join_all(queries).await;
        let mut items = Vec::new();
        let mut boundary: Option<String> = None;
        for answer in answers {
            let out = answer?;
            let got = out.items.unwrap_or_default();
            if out.last_evaluated_key.is_some()
                && let Some(last) = got.last().and_then(|i| sort_key(i, scan.sk_attr))
            {
                boundary = Some(match boundary {
                    None => last,
                    Some(b) if scan.descending => b.max(last),
                    Some(b) => b.min(last),
                });
            }
            items.extend(
                got.into_iter()
                    .filter_map(|i| sort_key(&i, scan.sk_attr).map(|sk| (sk, i))),
            );
        }
        let keep_after = inclusive.unwrap_or(false);
        items.retain(|(sk, _)| {
            let complete = match &boundary {
                None => true,
                Some(b) if scan.descending => sk >= b,
                Some(b) => sk <= b,
            };
            complete && (keep_after || Some(sk.as_str()) != after)
        });
        if scan.descending {
            items.sort_by(|a, b| b.0.cmp(&a.0));
        } else {
            items.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Ok(Read { items, boundary })
    }

    /// The jobs of discovery items, in their order, with one BatchGetItem; a job that left
    /// `open` since it was indexed (the index is a moment behind) is left out.
    async fn open_jobs(
        &self,
        chosen: &[(String, Item)],
        now: Timestamp,
    ) -> Result<Vec<Job>, StoreError> {
        if chosen.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<(String, String)> = chosen
            .iter()
            .filter_map(|(_, item)| item.get("job_id").and_then(|v| v.as_s().ok()))
            .filter_map(|id| JobId::parse(id))
            .map(|id| (keys::job_pk(id), keys::JOB_SK.to_owned()))
            .collect();
        let mut found = self.get_all(wanted.clone()).await?;
        let mut jobs = Vec::new();
        for key in wanted {
            if let Some(item) = found.remove(&key) {
                let job: Job = serde_dynamo::from_item(item)?;
                if job.status_at(now) == JobStatus::Open {
                    jobs.push(job);
                }
            }
        }
        Ok(jobs)
    }
}

fn sort_key(item: &Item, attr: &str) -> Option<String> {
    item.get(attr).and_then(|v| v.as_s().ok()).cloned()
}

/// Suggestion counters one `suggest` reads at most: every word under a prefix of three
/// characters is one item, so a prefix used by more words than this ranks only the first
/// this many in key (alphabetical) order.
pub const SUGGEST_READ: usize = 300;

/// A suggestion: a skill or title word, and how many open jobs use it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Suggestion {
    #[serde(rename = "text", alias = "word")]
    pub text: String,
    pub jobs: i64,
}

impl Store {
    /// Up to [`MAX_SUGGESTIONS`] words starting with `prefix` (at least three characters),
    /// most used first, then alphabetical; one Query of the prefix's counters.
    pub async fn suggest(&self, prefix: &str) -> Result<Vec<Suggestion>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("PK = :p AND begins_with(SK, :w)")
            .expression_attribute_values(":p", s(keys::suggest_pk(prefix)))
            .expression_attribute_values(":w", s(keys::suggest_sk(prefix)))
            .limit(SUGGEST_READ as i32)
            .send()
            .await?;
        let mut found: Vec<Suggestion> = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(serde_dynamo::from_item)
            .collect::<Result<_, _>>()?;
        found.retain(|s| s.jobs > 0);
        found.sort_by(|a, b| b.jobs.cmp(&a.jobs).then_with(|| a.text.cmp(&b.text)));
        found.truncate(MAX_SUGGESTIONS);
        Ok(found)
    }
}
