//! What happens to a function when its MetricsApp is deleted: kept unless the policy
//! says `Delete` and the function is ours; then its stream mappings go first (Lambda
//! does not delete them with the function, and they would keep failing), and the
//! function with its URL configuration and resource policy.

use aws_sdk_lambda::Client;

use super::describe::{Read, describe};
use super::{Deletion, DeletionPolicy, Error, Owner};
use crate::owner::{Admission, admit};
use crate::sdk::if_found;

/// Applies `policy` to the function `name` of the MetricsApp `owner`.
///
/// `Retain` makes no AWS call. `Delete` leaves a function that is not `owner`'s
/// untouched ([`Deletion::NotOwned`]); otherwise it deletes the function's DynamoDB
/// stream mappings and then the function. A mapping mid-change makes Lambda refuse its
/// deletion ([`Error::FunctionBusy`], retried).
pub async fn delete(
    client: &Client,
    name: &str,
    owner: &Owner,
    policy: DeletionPolicy,
) -> Result<Deletion, Error> {
    match policy {
        DeletionPolicy::Retain => return Ok(Deletion::Retained),
        DeletionPolicy::Delete => {}
    }
    let Some(function) = describe(client, name, Read::FunctionAndMappings).await? else {
        return Ok(Deletion::AlreadyGone);
    };
    match admit(&function.tags, owner, false) {
        Admission::Ours => {}
        Admission::Adopt | Admission::Unowned | Admission::Other(_) => {
            return Ok(Deletion::NotOwned);
        }
    }
    for mapping in function.mappings.iter().filter(|m| m.state != "Deleting") {
        if_found(
            client
                .delete_event_source_mapping()
                .uuid(&mapping.uuid)
                .send()
                .await,
        )
        .map_err(|e| Error::from_sdk("DeleteEventSourceMapping", name, e))?;
        tracing::info!(function = %name, mapping = %mapping.uuid, "stream trigger deleted");
    }
    // Not found: deleted by someone else since GetFunction, the outcome the user asked for.
    if_found(client.delete_function().function_name(name).send().await)
        .map_err(|e| Error::from_sdk("DeleteFunction", name, e))?;
    tracing::info!(function = %name, "function deleted");
    Ok(Deletion::Deleted)
}
