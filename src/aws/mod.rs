//! The only code that calls AWS: one small adapter per service, plus the shared client
//! setup and error classification.
//!
//! Adapters take plain values (names, plan data) and return plain values (ids, ARNs, URLs);
//! they never touch the state file. Retries of throttling, 5xx and timeouts are the SDK's
//! standard retry with backoff, bounded by `engine.max_attempts` and `engine.call_timeout`.
//! The exception is a create with neither a unique name nor an idempotency token (MediaLive's
//! CreateInputSecurityGroup): the SDK must not repeat it blindly, so its adapter turns the
//! SDK's retries off for that call and looks for what an unanswered attempt made before it
//! creates again.

pub mod alerting;
pub mod assets;
pub mod cloudfront;
pub mod encoder;
pub mod iam;
pub mod medialive;
pub mod mediapackage;
pub mod s3;
pub mod schedule;
pub mod secrets;

use std::fmt;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_medialive::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;

use crate::config::Settings;

/// What kind of failure an AWS error is, which decides what the engine does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, 5xx, timeouts, connection failures: worth retrying later.
    Transient,
    /// The resource does not exist (for deletes: already gone).
    NotFound,
    /// The resource (or its name) already exists, or is in a state that forbids the call.
    Conflict,
    /// Anything else: bad request, access denied, quota. A human must act.
    Permanent,
}

#[derive(Debug, Clone, thiserror::Error)]
pub struct AwsError {
    /// The API operation, e.g. `CreateChannel`.
    pub op: &'static str,
    /// What it was about, e.g. `MediaLive channel ottd-final-1a2b3c4d`.
    pub resource: String,
    pub code: Option<String>,
    pub status: Option<u16>,
    pub message: String,
    pub class: ErrorClass,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {} failed: ", self.op, self.resource)?;
        if let Some(code) = &self.code {
            write!(f, "{code}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(s) = self.status {
            write!(f, " (HTTP {s})")?;
        }
        Ok(())
    }
}

impl AwsError {
    pub fn is_not_found(&self) -> bool {
        self.class == ErrorClass::NotFound
    }
    pub fn is_conflict(&self) -> bool {
        self.class == ErrorClass::Conflict
    }
    /// An error ottd raises itself about an AWS resource (unexpected response shape).
    pub fn invalid(op: &'static str, resource: impl Into<String>, message: impl Into<String>) -> Self {
        AwsError {
            op,
            resource: resource.into(),
            code: None,
            status: None,
            message: message.into(),
            class: ErrorClass::Permanent,
        }
    }
}

const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalServerError",
    "InternalServerErrorException",
    "InternalFailure",
    "InternalError",
    "BadGatewayException",
    "GatewayTimeoutException",
    "RequestTimeout",
    "RequestTimeoutException",
];
const CONFLICT_CODES: &[&str] = &[
    "ConflictException",
    "ResourceExistsException",
    "DistributionAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "BucketAlreadyExists",
    "EntityAlreadyExists",
    "UnprocessableEntityException",
    "DistributionNotDisabled",
    "ResourceInUse",
];

/// Classify by error code first (services differ in status codes; the emulator answers
/// MediaPackage not-found with 400), then by HTTP status.
pub fn classify(code: Option<&str>, status: Option<u16>) -> ErrorClass {
    if let Some(code) = code {
        if TRANSIENT_CODES.contains(&code) {
            return ErrorClass::Transient;
        }
        if code.starts_with("NoSuch")
            || code.ends_with("NotFoundException")
            || code == "NotFound"
            || code == "NoSuchEntity"
        {
            return ErrorClass::NotFound;
        }
        if CONFLICT_CODES.contains(&code) {
            return ErrorClass::Conflict;
        }
    }
    match status {
        Some(s) if s >= 500 || s == 429 => ErrorClass::Transient,
        Some(404) => ErrorClass::NotFound,
        Some(409) => ErrorClass::Conflict,
        _ => ErrorClass::Permanent,
    }
}

/// A not-found error as `None`: a describe of something absent, a delete of something gone.
/// Every other error is passed on.
pub fn or_absent<T>(r: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Turn an SDK error into an [`AwsError`] naming the operation and the resource.
pub fn err<E, R>(op: &'static str, resource: impl Into<String>, e: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug + HasStatus,
{
    let resource = resource.into();
    match &e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().map(str::to_string);
            let status = se.raw().status();
            let message = se.err().message().map(str::to_string).unwrap_or_else(|| se.err().to_string());
            let class = classify(code.as_deref(), status);
            AwsError { op, resource, code, status, message, class }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => AwsError {
            op,
            resource,
            code: None,
            status: None,
            message: format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&e)),
            class: ErrorClass::Transient,
        },
        _ => AwsError {
            op,
            resource,
            code: None,
            status: None,
            message: format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&e)),
            class: ErrorClass::Permanent,
        },
    }
}

/// The HTTP status of a raw response, whatever its type.
pub trait HasStatus {
    fn status(&self) -> Option<u16>;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

/// All the SDK clients ottd uses, built from one shared configuration.
#[derive(Clone)]
pub struct Aws {
    pub medialive: aws_sdk_medialive::Client,
    pub mediapackage: aws_sdk_mediapackage::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub region: String,
}

/// What `bootstrap` set up.
pub struct Bootstrapped {
    pub roles: iam::Roles,
    pub alerts: Option<alerting::Plumbing>,
    /// The default slate image in the assets bucket, as MediaLive takes it
    /// (`s3ssl://<prefix>-assets-<account>-<region>/slate/default.png`); `None` only from
    /// stand-ins that bootstrap nothing.
    pub slate_uri: Option<String>,
    /// What it took away that an earlier bootstrap had added and the configuration no longer
    /// asks for (described for the operator).
    pub removed: Vec<String>,
}

impl Aws {
    /// The one-time set-up `ottd bootstrap` makes, converged to the configuration: the IAM
    /// service roles, the assets bucket with the default slate (which the MediaLive role may
    /// read), and the alert plumbing when alerts are on (taken off the rule when not).
    ///
    /// Nothing turns the assets bucket off, so no run removes it: like the alert queues, it
    /// stays, tagged `ottd:managed-by`, under a name a rerun finds again.
    pub async fn bootstrap(
        &self,
        prefix: &str,
        alerts: &crate::config::alerts::AlertSettings,
    ) -> Result<Bootstrapped, AwsError> {
        let roles = iam::bootstrap(&self.iam, prefix).await?;
        let slate_uri = assets::ensure(&self.s3, &self.iam, prefix, &roles.medialive, &self.region).await?;
        let names = alerting::Names::new(prefix);
        let (plumbing, removed) = if alerts.enabled {
            let mut p = alerting::ensure(&self.events, &self.sqs, &self.sns, &names, alerts.sns_target).await?;
            let removed = std::mem::take(&mut p.removed);
            (Some(p), removed)
        } else {
            (None, alerting::retire(&self.events, &names).await?)
        };
        Ok(Bootstrapped { roles, alerts: plumbing, slate_uri: Some(slate_uri), removed })
    }

    /// The standard credential chain and `AWS_ENDPOINT_URL`, with ottd's region, profile,
    /// retry ceiling and call timeout.
    pub async fn connect(settings: &Settings) -> Aws {
        Aws::from_conf(&Aws::loader(settings).load().await)
    }

    /// The shared configuration loader; tests add an endpoint and static credentials to it.
    pub fn loader(settings: &Settings) -> aws_config::ConfigLoader {
        let e = &settings.engine;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(e.max_attempts))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(e.call_timeout)
                    .operation_attempt_timeout(e.call_timeout / 2)
                    .connect_timeout(std::time::Duration::from_secs(10))
                    .build(),
            );
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        loader
    }

    pub fn from_conf(conf: &aws_config::SdkConfig) -> Aws {
        let region = conf.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_string());
        // Emulators and other custom endpoints don't resolve bucket host names.
        let custom_endpoint = conf.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let s3_conf = aws_sdk_s3::config::Builder::from(conf).force_path_style(custom_endpoint).build();
        Aws {
            medialive: aws_sdk_medialive::Client::new(conf),
            mediapackage: aws_sdk_mediapackage::Client::new(conf),
            cloudfront: aws_sdk_cloudfront::Client::new(conf),
            secrets: aws_sdk_secretsmanager::Client::new(conf),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            iam: aws_sdk_iam::Client::new(conf),
            events: aws_sdk_eventbridge::Client::new(conf),
            sqs: aws_sdk_sqs::Client::new(conf),
            sns: aws_sdk_sns::Client::new(conf),
            region,
        }
    }
}

/// Tags as a list of pairs, the shape ottd keeps them in.
pub type Tags = [(String, String)];

pub fn has_tag<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>, key: &str, value: &str) -> bool {
    tags.into_iter().any(|(k, v)| k == key && v == value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_5xx_are_transient() {
        assert_eq!(classify(Some("ThrottlingException"), Some(400)), ErrorClass::Transient);
        assert_eq!(classify(Some("TooManyRequestsException"), Some(429)), ErrorClass::Transient);
        assert_eq!(classify(None, Some(503)), ErrorClass::Transient);
        assert_eq!(classify(Some("InternalServerErrorException"), Some(500)), ErrorClass::Transient);
    }

    #[test]
    fn not_found_is_recognised_by_code_even_with_status_400() {
        assert_eq!(classify(Some("NotFoundException"), Some(400)), ErrorClass::NotFound);
        assert_eq!(classify(Some("ResourceNotFoundException"), Some(400)), ErrorClass::NotFound);
        assert_eq!(classify(Some("NoSuchDistribution"), Some(404)), ErrorClass::NotFound);
        assert_eq!(classify(Some("NoSuchBucket"), Some(404)), ErrorClass::NotFound);
        assert_eq!(classify(None, Some(404)), ErrorClass::NotFound);
    }

    #[test]
    fn conflicts_and_permanent_errors() {
        assert_eq!(classify(Some("ResourceExistsException"), Some(400)), ErrorClass::Conflict);
        assert_eq!(classify(Some("DistributionAlreadyExists"), Some(409)), ErrorClass::Conflict);
        assert_eq!(classify(Some("ConflictException"), Some(409)), ErrorClass::Conflict);
        assert_eq!(classify(Some("AccessDeniedException"), Some(403)), ErrorClass::Permanent);
        assert_eq!(classify(Some("BadRequestException"), Some(400)), ErrorClass::Permanent);
    }

    #[test]
    fn or_absent_swallows_only_not_found() {
        let of = |class| AwsError { class, ..AwsError::invalid("DeleteChannel", "MediaLive channel x", "m") };
        assert_eq!(or_absent(Ok::<_, AwsError>(7)).expect("ok"), Some(7));
        assert_eq!(or_absent::<()>(Err(of(ErrorClass::NotFound))).expect("absent"), None);
        for class in [ErrorClass::Transient, ErrorClass::Conflict, ErrorClass::Permanent] {
            let e = or_absent::<()>(Err(of(class))).expect_err("passed on");
            assert_eq!((e.class, e.op), (class, "DeleteChannel"));
        }
    }

    #[test]
    fn sdk_service_errors_keep_code_status_and_resource() {
        use aws_sdk_medialive::operation::describe_channel::DescribeChannelError;
        use aws_smithy_runtime_api::http::{Response, StatusCode};
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let meta = ErrorMetadata::builder().code("ThrottlingException").message("slow down").build();
        let e = DescribeChannelError::generic(meta);
        let raw = Response::new(StatusCode::try_from(400).expect("status"), SdkBody::empty());
        let sdk: SdkError<DescribeChannelError, Response> = SdkError::service_error(e, raw);
        let a = err("DescribeChannel", "MediaLive channel x", sdk);
        assert_eq!(a.class, ErrorClass::Transient);
        assert_eq!(
            a.to_string(),
            "DescribeChannel on MediaLive channel x failed: ThrottlingException: slow down (HTTP 400)"
        );
    }
}
