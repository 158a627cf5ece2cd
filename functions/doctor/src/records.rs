//! The port over the table: read-only by construction (a partition's items, a filtered scan),
//! with the DynamoDB adapter (Query and Scan, nothing else) and an in-memory adapter for tests.

use crate::model::Row;
use shared::StoreError;
use std::future::Future;

pub trait Records: Send + Sync {
    /// Every item of one partition (`USER#<id>`, `CUSTOMER#<id>`, `HEALTH`).
    fn partition(&self, pk: &str) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send;

    /// Every item whose sort key is one of `exact` or starts with one of `prefixes`. A Scan:
    /// its cost grows with the table (status and events only, never per request).
    fn scan(
        &self,
        exact: &[&str],
        prefixes: &[&str],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send;
}

pub fn matches(sk: &str, exact: &[&str], prefixes: &[&str]) -> bool {
    exact.contains(&sk) || prefixes.iter().any(|p| sk.starts_with(p))
}

mod dynamodb {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use shared::table::{Item, Table, attrs, classify, s};

    fn to_row(mut item: Item) -> Result<Row, StoreError> {
        let text = |item: &mut Item, name: &str| match item.remove(name) {
            Some(AttributeValue::S(v)) => v,
            _ => String::new(),
        };
        let pk = text(&mut item, attrs::PK);
        let sk = text(&mut item, attrs::SK);
        let value: serde_json::Value =
            serde_dynamo::from_item(item).map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(Row { pk, sk, value })
    }

    impl Records for Table {
        async fn partition(&self, pk: &str) -> Result<Vec<Row>, StoreError> {
            let mut rows = Vec::new();
            let mut start = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.name)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(pk))
                    .consistent_read(true)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(classify)?;
                for item in out.items.unwrap_or_default() {
                    rows.push(to_row(item)?);
                }
                start = out.last_evaluated_key;
                if start.is_none() {
                    return Ok(rows);
                }
            }
        }

        async fn scan(&self, exact: &[&str], prefixes: &[&str]) -> Result<Vec<Row>, StoreError> {
            let mut filter = Vec::new();
            let mut request = self.client.scan().table_name(&self.name);
            for (i, v) in exact.iter().enumerate() {
                filter.push(format!("sk = :e{i}"));
                request = request.expression_attribute_values(format!(":e{i}"), s(v));
            }
            for (i, p) in prefixes.iter().enumerate() {
                filter.push(format!("begins_with(sk, :p{i})"));
                request = request.expression_attribute_values(format!(":p{i}"), s(p));
            }
            if !filter.is_empty() {
                request = request.filter_expression(filter.join(" OR "));
            }
            let mut rows = Vec::new();
            let mut start = None;
            loop {
                let out = request
                    .clone()
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(classify)?;
                for item in out.items.unwrap_or_default() {
                    rows.push(to_row(item)?);
                }
                start = out.last_evaluated_key;
                if start.is_none() {
                    return Ok(rows);
                }
            }
        }
    }
}

/// Items in memory, for unit tests: put them with the writers' attribute names.
#[cfg(any(test, feature = "memory"))]
pub mod memory {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct MemoryRecords {
        rows: Mutex<Vec<Row>>,
    }

    impl MemoryRecords {
        pub fn put(&self, pk: &str, sk: &str, value: serde_json::Value) {
            let mut rows = self.rows.lock().unwrap();
            rows.retain(|r| !(r.pk == pk && r.sk == sk));
            rows.push(Row::new(pk, sk, value));
        }
    }

    impl Records for MemoryRecords {
        async fn partition(&self, pk: &str) -> Result<Vec<Row>, StoreError> {
            let mut rows: Vec<Row> = self
                .rows
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.pk == pk)
                .cloned()
                .collect();
            rows.sort_by(|a, b| a.sk.cmp(&b.sk));
            Ok(rows)
        }

        async fn scan(&self, exact: &[&str], prefixes: &[&str]) -> Result<Vec<Row>, StoreError> {
            Ok(self
                .rows
                .lock()
                .unwrap()
                .iter()
                .filter(|r| matches(&r.sk, exact, prefixes))
                .cloned()
                .collect())
        }
    }
}
