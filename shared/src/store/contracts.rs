//! Reading contracts: one, and a party's own through their links.

use super::keys;
use super::ops::s;
use super::{Page, PageKey, Store, StoreError};
use crate::domain::{Contract, ContractId, UserId};
use serde::Deserialize;

#[derive(Deserialize)]
struct ContractLink {
    contract_id: ContractId,
}

impl Store {
    pub async fn contract(&self, id: ContractId) -> Result<Option<Contract>, StoreError> {
        self.get(keys::contract_pk(id), keys::CONTRACT_SK).await
    }

    /// Contracts where `user` is owner or freelancer, newest first: one Query of their
    /// links, one BatchGetItem of the contracts.
    pub async fn contracts_of(
        &self,
        user: &UserId,
        limit: u32,
        start: Option<PageKey>,
    ) -> Result<Page<Contract>, StoreError> {
        let query = self
            .client
            .query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :link)")
            .expression_attribute_values(":pk", s(keys::user_pk(user)))
            .expression_attribute_values(":link", s(keys::CONTRACT_LINK_PREFIX));
        let links: Page<ContractLink> = self.page(query, limit, start).await?;
        if links.items.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next: links.next,
            });
        }
        let key = |l: &ContractLink| {
            (
                keys::contract_pk(l.contract_id),
                keys::CONTRACT_SK.to_owned(),
            )
        };
        let mut found = self.get_many(links.items.iter().map(key).collect()).await?;
        let items = links
            .items
            .iter()
            .filter_map(|l| found.remove(&key(l)))
            .map(serde_dynamo::from_item)
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            next: links.next,
        })
    }
}
