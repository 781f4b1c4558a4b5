use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Where a Query stopped. Every key attribute of this table is a string, so the key is a
/// plain string map that a cursor can carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PageKey(BTreeMap<String, String>);

impl PageKey {
    pub(crate) fn from_dynamo(key: HashMap<String, AttributeValue>) -> Option<Self> {
        key.into_iter()
            .map(|(k, v)| v.as_s().ok().map(|s| (k, s.clone())))
            .collect::<Option<BTreeMap<_, _>>>()
            .map(Self)
    }

    /// A position that is not a table key: a search's place in its merged shards.
    pub(crate) fn of<const N: usize>(pairs: [(&str, String); N]) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub(crate) fn into_dynamo(self) -> HashMap<String, AttributeValue> {
        self.0
            .into_iter()
            .map(|(k, v)| (k, AttributeValue::S(v)))
            .collect()
    }
}

#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<PageKey>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}
