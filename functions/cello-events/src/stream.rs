//! The DynamoDB stream batch Lambda hands over, and the partial-batch answer it takes back
//! (`ReportBatchItemFailures`). Our own serde types instead of `aws_lambda_events`: its
//! `dynamodb` feature brings chrono (not otherwise in the tree) for the one timestamp we read,
//! and it refuses a whole batch when one record is malformed, where we want that one record
//! reported as failed and the others processed. The images are DynamoDB JSON, read with
//! `serde_dynamo` (already in the tree).

use serde::{Deserialize, Serialize};
use serde_dynamo::Item;

/// The batch: each record kept as JSON until it is read on its own, so a malformed record
/// fails alone.
#[derive(Debug, Default, Deserialize)]
pub struct StreamBatch {
    #[serde(rename = "Records", default)]
    pub records: Vec<serde_json::Value>,
}

/// One change to one item, as the use case reads it.
#[derive(Debug, Clone)]
pub struct Change {
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: String,
    pub pk: String,
    pub sk: String,
    pub new_image: Option<Item>,
    pub old_image: Option<Item>,
    /// The record's identifier in `batchItemFailures`.
    pub sequence_number: String,
    /// `ApproximateCreationDateTime`, Unix seconds.
    pub at: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRecord {
    #[serde(default)]
    event_name: String,
    dynamodb: RawChange,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawChange {
    keys: Item,
    #[serde(default)]
    new_image: Option<Item>,
    #[serde(default)]
    old_image: Option<Item>,
    sequence_number: String,
    #[serde(default)]
    approximate_creation_date_time: Option<f64>,
}

#[derive(Deserialize)]
struct Keys {
    pk: String,
    sk: String,
}

/// A record that can't be read: its sequence number when it has one (so it alone is failed),
/// and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub sequence_number: Option<String>,
    pub reason: String,
}

/// Reads one record of the batch.
pub fn read_record(value: &serde_json::Value) -> Result<Change, Unreadable> {
    let sequence_number = value
        .pointer("/dynamodb/SequenceNumber")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let fail = |reason: String| Unreadable {
        sequence_number: sequence_number.clone(),
        reason,
    };
    let raw =
        RawRecord::deserialize(value).map_err(|e| fail(format!("not a stream record: {e}")))?;
    let keys: Keys = serde_dynamo::from_item(raw.dynamodb.keys)
        .map_err(|e| fail(format!("keys without pk/sk strings: {e}")))?;
    Ok(Change {
        event_name: raw.event_name,
        pk: keys.pk,
        sk: keys.sk,
        new_image: raw.dynamodb.new_image,
        old_image: raw.dynamodb.old_image,
        sequence_number: raw.dynamodb.sequence_number,
        at: raw
            .dynamodb
            .approximate_creation_date_time
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(|t| t as i64),
    })
}

/// The answer: the records to retry. Empty means the whole batch succeeded.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    pub item_identifier: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_is_read_with_its_images_and_time() {
        let change = read_record(&json!({
            "eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb",
            "dynamodb": {
                "ApproximateCreationDateTime": 1763800065.0,
                "Keys": {"pk": {"S": "CUSTOMER#cus_1"}, "sk": {"S": "INVOICE#in_1"}},
                "NewImage": {"pk": {"S": "CUSTOMER#cus_1"}, "amountPaid": {"N": "2900"}},
                "SequenceNumber": "100", "SizeBytes": 10, "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        }))
        .unwrap();
        assert_eq!(
            (change.pk.as_str(), change.sk.as_str()),
            ("CUSTOMER#cus_1", "INVOICE#in_1")
        );
        assert_eq!(change.sequence_number, "100");
        assert_eq!(change.at, Some(1763800065));
        assert!(change.new_image.is_some() && change.old_image.is_none());
    }

    #[test]
    fn a_malformed_record_names_its_sequence_number_when_it_has_one() {
        let bad =
            read_record(&json!({"dynamodb": {"SequenceNumber": "7", "Keys": {"pk": {"N": "1"}}}}))
                .unwrap_err();
        assert_eq!(bad.sequence_number.as_deref(), Some("7"));
        let worse = read_record(&json!({"eventName": "INSERT"})).unwrap_err();
        assert_eq!(worse.sequence_number, None);
    }

    #[test]
    fn the_answer_is_lambdas_partial_batch_shape() {
        let r = BatchResponse {
            batch_item_failures: vec![ItemFailure {
                item_identifier: "100".into(),
            }],
        };
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "100"}]})
        );
    }
}
