//! Recognising AWS errors by their code, the same way for every service.
//!
//! The SDK gives each operation its own error enum; the resource steps only need to know a few
//! things about an error — is it "not found", "already exists", "still in use" — so they ask
//! here, by error code, which works across all services and protocols.

use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// The error code AWS returned, if the call got as far as an AWS answer.
pub fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// Whether the error code is one of `codes`.
pub fn is_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>, codes: &[&str]) -> bool {
    code(error).is_some_and(|c| codes.contains(&c))
}

/// The message AWS returned with the error, if any.
pub fn message<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().message(),
        _ => None,
    }
}

/// Converts an SDK error into an `anyhow` error whose one-line display has the whole cause
/// chain: the SDK's own `Display` only says "service error".
///
/// The chain is the one [`DisplayErrorContext`] shows, without the `Debug` form of the error it
/// appends (the whole HTTP response, kilobytes long); that goes to the `-v` log.
pub fn describe<E, R>(error: SdkError<E, R>, doing: impl std::fmt::Display) -> anyhow::Error
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    tracing::debug!("{doing}: {}", DisplayErrorContext(&error));
    let advice = code(&error).and_then(advice).unwrap_or_default();
    anyhow::anyhow!("{doing}: {}{advice}", causes(&error))
}

/// An error and each of its sources, as their `Display` shows them, joined by ": ".
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let shown = cause.to_string();
        // Some errors repeat their source's text in their own.
        if !text.ends_with(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        source = cause.source();
    }
    text
}

/// Every service's "not allowed": IAM, ELB and STS say `AccessDenied`, the JSON services
/// `AccessDeniedException`, EC2 `UnauthorizedOperation`.
const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
];

/// The credentials ran out: a temporary session ended (`ExpiredToken` from the query services,
/// `ExpiredTokenException` from the JSON ones), or the request was signed too long ago
/// (`RequestExpired`).
const EXPIRED: &[&str] = &["ExpiredToken", "ExpiredTokenException", "RequestExpired"];

/// What to do about an error AWS's own message does not explain: a denied call points at the
/// policy the tool prints, expired credentials (a CI role's session ending during a long wait)
/// say what to change. Added to the message by [`describe`].
fn advice(code: &str) -> Option<String> {
    if ACCESS_DENIED.contains(&code) {
        return Some(
            ". `deployer iam-policy --env <env>` prints every permission deployer needs".to_owned(),
        );
    }
    EXPIRED.contains(&code).then(|| {
        format!(
            ". The AWS credentials expired before the run finished ({code}); what was done is \
             recorded, so run again with fresh credentials. For runs that wait long, use a longer \
             session (the role's maximum session duration, e.g. `role-duration-seconds` in CI) or \
             shorter waits (`timeouts.*` in the configuration)"
        )
    })
}

/// What the answer to a create call means.
#[derive(Debug)]
pub enum Created<T> {
    /// Made now.
    New(T),
    /// AWS says it exists: an earlier attempt whose answer was lost made it (or someone else
    /// did, which the ownership check then finds). Read it again and carry on with that one.
    AlreadyExists,
}

/// Extension for SDK results: attach what was being done, keeping AWS's message, and turn the
/// answers that mean "not there" or "already there" into values.
pub trait AwsResultExt<T> {
    /// Any error, with what was being done.
    fn or_context(self, doing: impl std::fmt::Display) -> anyhow::Result<T>;
    /// An error with one of `codes` (the service's "not found") as `None`: for a read, the
    /// resource does not exist; for a delete or a revoke, what was asked is already so.
    fn or_absent(self, codes: &[&str], doing: impl std::fmt::Display) -> anyhow::Result<Option<T>>;
    /// An error with one of `codes` (the service's "already exists") as
    /// [`Created::AlreadyExists`].
    fn or_exists(self, codes: &[&str], doing: impl std::fmt::Display)
        -> anyhow::Result<Created<T>>;
}

impl<T, E, R> AwsResultExt<T> for Result<T, SdkError<E, R>>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    fn or_context(self, doing: impl std::fmt::Display) -> anyhow::Result<T> {
        self.map_err(|e| describe(e, doing))
    }

    fn or_absent(self, codes: &[&str], doing: impl std::fmt::Display) -> anyhow::Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(e) if is_code(&e, codes) => Ok(None),
            Err(e) => Err(describe(e, doing)),
        }
    }

    fn or_exists(
        self,
        codes: &[&str],
        doing: impl std::fmt::Display,
    ) -> anyhow::Result<Created<T>> {
        match self {
            Ok(value) => Ok(Created::New(value)),
            Err(e) if is_code(&e, codes) => Ok(Created::AlreadyExists),
            Err(e) => Err(describe(e, doing)),
        }
    }
}

/// Whether the call failed in a way that says nothing about whether AWS applied it: the
/// connection dropped, it timed out, AWS was throttling or had an internal error. The SDK retries
/// these by itself; code that turns SDK retries off to check before retrying (a create that is not
/// idempotent) asks here.
pub fn is_transient<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    const THROTTLING: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServerException",
    ];
    match error {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => is_code(error, THROTTLING),
        _ => false,
    }
}

/// Whether AWS's answer is one of the ways it says "the new IAM role is not usable yet", or "the
/// target group is not attached to the load balancer yet": both settle within minutes of the
/// create that caused them.
pub fn not_propagated_yet<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    const CODES: &[&str] = &[
        "InvalidParameterException",
        "ClientException",
        "AccessDeniedException",
        "AccessDenied",
        "MalformedPolicyDocument",
    ];
    const SIGNS: &[&str] = &[
        "unable to assume",
        "assume the role",
        // CreateCluster on a new account: "Unable to assume the service linked role. Please
        // verify that the ECS service linked role exists."
        "service linked role",
        "verify that the ecs service role",
        "iam:passrole",
        "invalid principal",
        "role is not valid",
        "does not have an associated load balancer",
    ];
    is_code(error, CODES)
        && message(error).is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            SIGNS.iter().any(|sign| m.contains(sign))
        })
}

/// Whether AWS's answer says that something this run has just created is not visible yet to the
/// service called next: EC2 and ECS are eventually consistent, so a security group or a cluster
/// can be missing for a few seconds after its create returned. EC2 says `InvalidGroup.NotFound`;
/// ELB (`InvalidSecurityGroup`) and ECS (`InvalidParameterException`) pass EC2's "The security
/// group 'sg-…' does not exist" on; ECS says `ClusterNotFoundException`.
///
/// Only for calls made right after this run created what they name: elsewhere these answers
/// mean that it is really gone.
pub fn not_visible_yet<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    const CODES: &[&str] = &["InvalidGroup.NotFound", "ClusterNotFoundException"];
    const PASSED_ON: &[&str] = &[
        "InvalidSecurityGroup",
        "InvalidParameterException",
        "InvalidConfigurationRequest",
        "ValidationError",
    ];
    is_code(error, CODES)
        || (is_code(error, PASSED_ON)
            && message(error).is_some_and(|m| {
                let m = m.to_ascii_lowercase();
                m.contains("security group")
                    && (m.contains("does not exist") || m.contains("invalidgroup.notfound"))
            }))
}

/// The code and message of an error, for progress lines.
pub fn brief<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> String {
    match (code(error), message(error)) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => "the connection failed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error with a message and an optional cause.
    #[derive(Debug)]
    struct Failure(&'static str, Option<Box<Failure>>);

    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Failure {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn raw_sdk_debug_dump_in_error_messages() {
        // The reported case: DisplayErrorContext appends the error's Debug form, with the whole
        // HTTP response, to every message.
        let error = Failure(
            "service error",
            Some(Box::new(Failure(
                "NoSuchHostedZone: No hosted zone found with ID: Z1",
                Some(Box::new(Failure("No hosted zone found with ID: Z1", None))),
            ))),
        );
        assert_eq!(
            causes(&error),
            "service error: NoSuchHostedZone: No hosted zone found with ID: Z1"
        );
    }
}
