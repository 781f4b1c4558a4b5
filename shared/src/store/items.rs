//! Domain items as DynamoDB items: their attributes, the conditions of their writes, and
//! back from an old image to the item it was.

use super::keys::{self, IndexKeys, Row};
use super::ops::{build_err, s};
use super::{Store, StoreError};
use crate::domain::{ApplicationId, Cond, Item, Write};
use crate::time;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub(super) type Image = HashMap<String, AttributeValue>;

#[derive(Serialize, Deserialize)]
struct GuardBody {
    application_id: ApplicationId,
}

#[derive(Serialize)]
struct LinkBody {
    contract_id: crate::domain::ContractId,
}

fn row(item: &Item) -> Result<Image, StoreError> {
    let (pk, sk) = keys::key_of(item);
    let index = IndexKeys::of(item);
    fn image<T: Serialize>(
        pk: String,
        sk: String,
        index: IndexKeys,
        body: &T,
    ) -> Result<Image, StoreError> {
        Ok(serde_dynamo::to_item(Row {
            pk,
            sk,
            index,
            body,
        })?)
    }
    match item {
        Item::Job(job) => image(pk, sk, index, job),
        Item::Application(a) => image(pk, sk, index, a),
        Item::Contract(c) => image(pk, sk, index, c),
        Item::Notification(n) => image(pk, sk, index, n),
        Item::InboxHead(head) => image(pk, sk, index, head),
        Item::IdempotencyRecord(r) => image(pk, sk, index, r),
        Item::ApplicantGuard { application_id, .. } => image(
            pk,
            sk,
            index,
            &GuardBody {
                application_id: *application_id,
            },
        ),
        Item::ContractLink { contract_id, .. } => image(
            pk,
            sk,
            index,
            &LinkBody {
                contract_id: *contract_id,
            },
        ),
    }
}

/// The item an image holds, read as the kind `like` is.
pub(super) fn decode(like: &Item, image: Image) -> Result<Item, StoreError> {
    Ok(match like {
        Item::Job(_) => Item::Job(serde_dynamo::from_item(image)?),
        Item::Application(_) => Item::Application(serde_dynamo::from_item(image)?),
        Item::Contract(_) => Item::Contract(serde_dynamo::from_item(image)?),
        Item::Notification(_) => Item::Notification(serde_dynamo::from_item(image)?),
        Item::InboxHead(_) => Item::InboxHead(serde_dynamo::from_item(image)?),
        Item::IdempotencyRecord(_) => Item::IdempotencyRecord(serde_dynamo::from_item(image)?),
        Item::ApplicantGuard {
            job_id,
            freelancer_id,
            ..
        } => {
            let guard: GuardBody = serde_dynamo::from_item(image)?;
            Item::ApplicantGuard {
                job_id: *job_id,
                freelancer_id: freelancer_id.clone(),
                application_id: guard.application_id,
            }
        }
        Item::ContractLink { .. } => like.clone(),
    })
}

/// A write's condition as an expression, its names and its values.
fn condition(when: &[Cond]) -> (String, HashMap<String, String>, Image) {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let parts: Vec<String> = when
        .iter()
        .enumerate()
        .map(|(i, cond)| {
            let value = format!(":c{i}");
            match cond {
                Cond::Absent => "attribute_not_exists(PK)".to_owned(),
                Cond::Version(v) => {
                    names.insert("#version".to_owned(), "version".to_owned());
                    values.insert(value.clone(), AttributeValue::N(v.to_string()));
                    format!("#version = {value}")
                }
                Cond::Status(status) => {
                    names.insert("#status".to_owned(), "status".to_owned());
                    values.insert(value.clone(), s(*status));
                    format!("#status = {value}")
                }
                Cond::Before(field, at) | Cond::NotBefore(field, at) => {
                    let name = format!("#c{i}");
                    names.insert(name.clone(), (*field).to_owned());
                    values.insert(value.clone(), s(time::format(*at)));
                    let op = if matches!(cond, Cond::Before(..)) {
                        ">"
                    } else {
                        "<="
                    };
                    format!("{name} {op} {value}")
                }
                Cond::LastChangedBefore(at) => {
                    names.insert("#updated".to_owned(), "updated_at".to_owned());
                    values.insert(value.clone(), s(time::format(*at)));
                    format!("#updated < {value}")
                }
                Cond::Delivered(n) => {
                    names.insert("#delivered".to_owned(), "delivered".to_owned());
                    values.insert(value.clone(), AttributeValue::N(n.to_string()));
                    format!("#delivered = {value}")
                }
                Cond::AbsentOrExpired(at) => {
                    names.insert("#expires".to_owned(), "expires_at".to_owned());
                    values.insert(value.clone(), s(time::format(*at)));
                    format!("(attribute_not_exists(PK) OR #expires <= {value})")
                }
                Cond::Unread => {
                    names.insert("#read".to_owned(), "read".to_owned());
                    values.insert(value.clone(), AttributeValue::Bool(false));
                    format!("#read = {value}")
                }
            }
        })
        .collect();
    (parts.join(" AND "), names, values)
}

impl Store {
    /// A write as a TransactWriteItem: the item after the change, put on its condition, or
    /// only the condition, checked on the item as it is.
    pub(super) fn write_item(&self, write: &Write) -> Result<TransactWriteItem, StoreError> {
        let (expression, names, values) = condition(&write.when);
        let names = (!names.is_empty()).then_some(names);
        let values = (!values.is_empty()).then_some(values);
        let old_image = ReturnValuesOnConditionCheckFailure::AllOld;
        if write.condition_only {
            let (pk, sk) = keys::key_of(&write.item);
            let check = ConditionCheck::builder()
                .table_name(self.table())
                .key(keys::PK, s(pk))
                .key(keys::SK, s(sk))
                .condition_expression(expression)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .return_values_on_condition_check_failure(old_image)
                .build()
                .map_err(build_err)?;
            return Ok(TransactWriteItem::builder().condition_check(check).build());
        }
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(row(&write.item)?))
            .condition_expression(expression)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values_on_condition_check_failure(old_image)
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}
