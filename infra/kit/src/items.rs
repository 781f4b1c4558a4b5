//! Reading what the API wrote: table keys from the API's ids, attributes of items and
//! answers, and the counts a queue reports.

use crate::app::Item;
use serde_json::Value;

/// Table keys from ids as the API answers them, through `keys.rs`: no test spells a key.
pub mod key {
    use shared::domain::{ApplicationId, ContractId, JobId, UserId};
    use shared::store::keys;

    pub fn job(id: &str) -> String {
        keys::job_pk(JobId::parse(id).expect("a job id"))
    }

    pub fn application(id: &str) -> String {
        keys::application_sk(ApplicationId::parse(id).expect("an application id"))
    }

    pub fn contract(id: &str) -> String {
        keys::contract_pk(ContractId::parse(id).expect("a contract id"))
    }

    pub fn user(name: &str) -> String {
        keys::user_pk(&UserId::parse(name).expect("a user id"))
    }
}

/// One count the queue at `url` reports of itself.
pub async fn queue_count(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    name: aws_sdk_sqs::types::QueueAttributeName,
) -> usize {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .unwrap_or_default();
    attributes
        .get(&name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A string attribute of an item, or "".
pub fn s(item: &Item, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// A numeric attribute of an item.
pub fn n(item: &Item, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .expect("numeric attribute")
}

pub fn str_of(v: &Value, name: &str) -> String {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
        .to_owned()
}
