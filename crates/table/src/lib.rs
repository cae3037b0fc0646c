//! The Metrics App's DynamoDB table layout.
//!
//! One definition, two readers: the app builds its keys from these names, and the
//! operator creates the table (and its index) from [`key_schema`],
//! [`attribute_definitions`] and [`global_secondary_indexes`]. Changing the layout here
//! changes both at once, so they cannot drift apart.
//!
//! Layout (single table):
//! - `pk` (S, partition key) and `sk` (S, sort key) identify one item.
//! - The `by_collection` index (`gsi1pk` S, `gsi1sk` S, all attributes projected)
//!   lists the items of one collection in order, so listing never needs a Scan.
//!
//! | item | `pk` | `sk` | `gsi1pk` | `gsi1sk` |
//! | --- | --- | --- | --- | --- |
//! | activity | `ACTIVITY#<id>` | `ACTIVITY` | `ACTIVITY` | `<date>#<id>` |
//! | `/picus` item | `PICUS#<id>` | `PICUS` | `PICUS` | `<id>` |

use aws_sdk_dynamodb::types::{
    AttributeDefinition, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ProvisionedThroughput, ScalarAttributeType,
};

/// Partition key attribute of every item.
pub const PARTITION_KEY: &str = "pk";
/// Sort key attribute of every item.
pub const SORT_KEY: &str = "sk";
/// Name of the index that lists one collection in order.
pub const COLLECTION_INDEX: &str = "by_collection";
/// Partition key of [`COLLECTION_INDEX`]: the collection an item belongs to.
pub const COLLECTION_KEY: &str = "gsi1pk";
/// Sort key of [`COLLECTION_INDEX`]: the order of items within their collection.
pub const COLLECTION_SORT_KEY: &str = "gsi1sk";

/// Collection (and sort key) of activities.
pub const ACTIVITIES: &str = "ACTIVITY";
/// Collection (and sort key) of the items of the original `/picus` endpoints.
pub const PICUS_ITEMS: &str = "PICUS";

/// Read and write capacity units, for a table (or index) billed as `PROVISIONED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capacity {
    pub read: i64,
    pub write: i64,
}

impl Capacity {
    pub fn to_throughput(self) -> ProvisionedThroughput {
        ProvisionedThroughput::builder()
            .read_capacity_units(self.read)
            .write_capacity_units(self.write)
            .build()
            .expect("read and write capacity units are always set")
    }
}

/// The table's primary key: `pk` HASH, `sk` RANGE.
pub fn key_schema() -> Vec<KeySchemaElement> {
    vec![
        key(PARTITION_KEY, KeyType::Hash),
        key(SORT_KEY, KeyType::Range),
    ]
}

/// Every attribute used in a key of the table or of its indexes.
pub fn attribute_definitions() -> Vec<AttributeDefinition> {
    [PARTITION_KEY, SORT_KEY, COLLECTION_KEY, COLLECTION_SORT_KEY]
        .into_iter()
        .map(|name| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are always set")
        })
        .collect()
}

/// The table's global secondary indexes. `capacity` must be given exactly when the
/// table is billed as `PROVISIONED` (an index then needs its own throughput).
pub fn global_secondary_indexes(capacity: Option<Capacity>) -> Vec<GlobalSecondaryIndex> {
    let index = GlobalSecondaryIndex::builder()
        .index_name(COLLECTION_INDEX)
        .set_key_schema(Some(vec![
            key(COLLECTION_KEY, KeyType::Hash),
            key(COLLECTION_SORT_KEY, KeyType::Range),
        ]))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .set_provisioned_throughput(capacity.map(Capacity::to_throughput))
        .build()
        .expect("index name and key schema are always set");
    vec![index]
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("name and key type are always set")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_attribute_is_defined_once() {
        let defined: Vec<String> = attribute_definitions()
            .iter()
            .map(|d| d.attribute_name().to_owned())
            .collect();
        let mut used: Vec<String> = key_schema()
            .iter()
            .chain(
                global_secondary_indexes(None)
                    .iter()
                    .flat_map(|i| i.key_schema()),
            )
            .map(|k| k.attribute_name().to_owned())
            .collect();
        used.sort();
        let mut sorted = defined.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            defined.len(),
            "duplicate attribute definition"
        );
        assert_eq!(
            used, sorted,
            "defined attributes must be exactly the key attributes"
        );
    }

    #[test]
    fn provisioned_indexes_carry_their_capacity() {
        let capacity = Capacity { read: 5, write: 5 };
        let indexes = global_secondary_indexes(Some(capacity));
        let throughput = indexes[0].provisioned_throughput().expect("throughput set");
        assert_eq!(throughput.read_capacity_units(), 5);
        assert_eq!(throughput.write_capacity_units(), 5);
        assert!(
            global_secondary_indexes(None)[0]
                .provisioned_throughput()
                .is_none()
        );
    }
}
