//! What an AWS SDK error says, read the same way for every resource: the error code
//! and message AWS sent, and whether AWS answered at all. Each resource's error module
//! then decides what the code means for it.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

/// An AWS SDK error, kept whole as the source of a resource's error.
pub type AwsError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An SDK error, read.
pub(crate) struct Failed {
    /// The error code AWS sent, when it answered with one.
    pub code: Option<String>,
    pub message: Option<String>,
    /// `code: message`, or how the request failed when no answer came back.
    pub detail: String,
    /// AWS answered (a service or response error): the code means something.
    pub answered: bool,
    /// The request could not even be built: a problem with what was asked.
    pub unbuilt: bool,
    pub source: AwsError,
}

impl Failed {
    pub(crate) fn read<E, R>(error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let code = error.code().map(str::to_owned);
        let message = error.message().map(str::to_owned);
        let detail = match (&code, &message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.clone(),
            _ => DisplayErrorContext(&error).to_string(),
        };
        let answered = matches!(
            error,
            SdkError::ServiceError(_) | SdkError::ResponseError(_)
        );
        let unbuilt = matches!(error, SdkError::ConstructionFailure(_));
        Failed {
            code,
            message,
            detail,
            answered,
            unbuilt,
            source: Box::new(error),
        }
    }

    /// The code, only when AWS answered with one.
    pub(crate) fn answered_code(&self) -> Option<&str> {
        self.code.as_deref().filter(|_| self.answered)
    }
}

/// The answer, or `None` when AWS answered that the resource does not exist
/// (ResourceNotFoundException): for a read an absent resource, for a delete the
/// outcome wanted (someone else deleted it meanwhile).
pub(crate) fn if_found<T, E, R>(
    result: Result<T, SdkError<E, R>>,
) -> Result<Option<T>, SdkError<E, R>>
where
    E: ProvideErrorMetadata,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(SdkError::ServiceError(e)) if e.err().code() == Some("ResourceNotFoundException") => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A read: it changes nothing in AWS, so failing it says nothing about the resource.
pub(crate) fn is_read(operation: &str) -> bool {
    ["Describe", "Get", "List", "Head"]
        .iter()
        .any(|verb| operation.starts_with(verb))
}
