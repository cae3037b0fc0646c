//! Shared by the AWS-backed tests: SDK clients for the endpoint the test command
//! started, unique table names, and describing a table the way a user would see it.

#![allow(dead_code)] // each test binary uses its own subset

pub mod lambda;

use std::collections::BTreeMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::TableDescription;
use metricsapp_aws::table::{Billing, DesiredTable, Error, Owner, TableRecord, TableReport};

/// A DynamoDB client for the endpoint in `variable` (`MOTO_ENDPOINT` or
/// `DYNALITE_ENDPOINT`). Without it the test is skipped loudly, or fails when
/// `METRICSAPP_REQUIRE_AWS=1`.
pub async fn client(variable: &str, test: &str) -> Option<Client> {
    let endpoint = metricsapp_testing::endpoint(variable, test)?;
    Some(client_at(&endpoint).await)
}

/// A DynamoDB client for `endpoint`, with the test credentials.
pub async fn client_at(endpoint: &str) -> Client {
    Client::new(&metricsapp_testing::sdk_config(endpoint).await)
}

pub use metricsapp_testing::unique;

pub fn owner() -> Owner {
    Owner {
        namespace: "team".into(),
        name: "metrics".into(),
        uid: uuid::Uuid::new_v4().to_string(),
    }
}

pub fn on_demand(name: &str) -> DesiredTable {
    DesiredTable {
        name: name.to_owned(),
        billing: Billing::OnDemand,
        point_in_time_recovery: false,
        ttl_attribute: None,
        stream: None,
        tags: BTreeMap::new(),
    }
}

pub async fn tags(client: &Client, name: &str) -> BTreeMap<String, String> {
    let arn = arn(client, name).await;
    client
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .expect("ListTagsOfResource")
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

/// One pass of `reconcile` for `desired`, without adoption and with nothing recorded
/// yet: what the controller does for a new MetricsApp.
pub async fn pass(
    client: &Client,
    desired: &DesiredTable,
    owner: &Owner,
) -> Result<TableReport, Error> {
    metricsapp_aws::table::reconcile(client, desired, owner, false, &TableRecord::default()).await
}

/// The table as DescribeTable shows it.
pub async fn table(client: &Client, name: &str) -> TableDescription {
    client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .expect("DescribeTable")
        .table()
        .cloned()
        .expect("table")
}

pub async fn arn(client: &Client, name: &str) -> String {
    table(client, name)
        .await
        .table_arn()
        .expect("table ARN")
        .to_owned()
}

pub async fn exists(client: &Client, name: &str) -> bool {
    match client.describe_table().table_name(name).send().await {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(e) => panic!("DescribeTable {name}: {e:?}"),
    }
}

/// Creates a table with the app's layout behind the operator's back (as a user would
/// in the console), with `tags`.
pub async fn create_by_hand(client: &Client, name: &str, tags: &[(&str, &str)]) {
    let tags = tags
        .iter()
        .map(|(k, v)| {
            aws_sdk_dynamodb::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build()
                .unwrap()
        })
        .collect::<Vec<_>>();
    client
        .create_table()
        .table_name(name)
        .set_key_schema(Some(metrics_app_table::key_schema()))
        .set_attribute_definitions(Some(metrics_app_table::attribute_definitions()))
        .set_global_secondary_indexes(Some(metrics_app_table::global_secondary_indexes(None)))
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .expect("CreateTable by hand");
}
