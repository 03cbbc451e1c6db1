//! What is asked of LookupEvents, and how its answers and refusals are read. The API takes one
//! lookup attribute per request, so each of [`LOOKUPS`] is asked on its own, once over the whole
//! window, and paged through 50 events at a time with the `NextToken` of the same parameters:
//! about `LOOKUPS.len()` + events / 50 requests per region, however long the window.

use aws_sdk_cloudtrail::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudtrail::primitives::DateTime;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};

use super::pace::{Answer, Pacer, Tally};
use crate::error::Reason;
use crate::time::Timestamp;

/// The most events LookupEvents returns a page.
pub(crate) const PAGE: i32 = 50;

/// One lookup: an attribute and its value, and whether its events are kept only when they name
/// an Instance Connect Endpoint (`eice-...`) among the resources they change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lookup {
    pub(crate) key: &'static str,
    pub(crate) value: &'static str,
    pub(crate) endpoints_only: bool,
}

/// Every lookup a region is asked: the Instance Connect API itself, the endpoints' lifecycle,
/// and the tag changes that name endpoints (which page through every tag change of the account
/// and region: docs/history.md says what they cost).
pub(crate) const LOOKUPS: [Lookup; 6] = [
    Lookup { key: "EventSource", value: "ec2-instance-connect.amazonaws.com", endpoints_only: false },
    Lookup { key: "EventName", value: "CreateInstanceConnectEndpoint", endpoints_only: false },
    Lookup { key: "EventName", value: "ModifyInstanceConnectEndpoint", endpoints_only: false },
    Lookup { key: "EventName", value: "DeleteInstanceConnectEndpoint", endpoints_only: false },
    Lookup { key: "EventName", value: "CreateTags", endpoints_only: true },
    Lookup { key: "EventName", value: "DeleteTags", endpoints_only: true },
];

/// One event of the answers: its time (the API's `EventTime`), id and name, and the record as the
/// `CloudTrailEvent` string holds it.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) time: Timestamp,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) record: String,
}

/// Asks `lookup` of `client` between `start` and `end`, every page in turn through `pacer`;
/// `page` hears each page's number of events.
pub(crate) async fn ask(
    client: &aws_sdk_cloudtrail::Client,
    pacer: &Pacer,
    tally: &Tally,
    lookup: Lookup,
    (start, end): (Timestamp, Timestamp),
    page: &(dyn Fn(u64) + Send + Sync),
) -> Result<Vec<Found>, Reason> {
    let attribute = LookupAttribute::builder()
        .attribute_key(LookupAttributeKey::from(lookup.key))
        .attribute_value(lookup.value)
        .build()
        .map_err(|e| refused(&lookup, e))?;
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let answer = pacer
            .ask(tally, || {
                let request = client
                    .lookup_events()
                    .lookup_attributes(attribute.clone())
                    .start_time(DateTime::from_millis(start.millis()))
                    .end_time(DateTime::from_millis(end.millis()))
                    .max_results(PAGE)
                    .set_next_token(token.clone());
                async move { classify(request.send().await) }
            })
            .await
            .map_err(|e| refused(&lookup, e))?;
        page(answer.events().len() as u64);
        for event in answer.events() {
            let (Some(record), Some(time)) = (event.cloud_trail_event(), event.event_time()) else {
                continue;
            };
            if lookup.endpoints_only && !names_an_endpoint(record) {
                continue;
            }
            let Ok(millis) = time.to_millis() else { continue };
            found.push(Found {
                time: Timestamp(millis),
                id: event.event_id().unwrap_or_default().to_owned(),
                name: event.event_name().unwrap_or_default().to_owned(),
                record: record.to_owned(),
            });
        }
        token = answer.next_token().filter(|t| !t.is_empty()).map(str::to_owned);
        if token.is_none() {
            return Ok(found);
        }
    }
}

/// Whether a tag change (`CreateTags`, `DeleteTags`) is about an Instance Connect Endpoint: one
/// of `requestParameters.resourcesSet.items[].resourceId` is `eice-...`.
pub(crate) fn names_an_endpoint(record: &str) -> bool {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(record) else { return false };
    value.pointer("/requestParameters/resourcesSet/items").and_then(|items| items.as_array()).is_some_and(
        |items| {
            items.iter().any(|item| {
                item.get("resourceId").and_then(|id| id.as_str()).is_some_and(|id| id.starts_with("eice-"))
            })
        },
    )
}

type Output = aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput;
type Error = aws_sdk_cloudtrail::operation::lookup_events::LookupEventsError;
type HttpResponse = aws_sdk_cloudtrail::config::http::HttpResponse;

/// Why `lookup` could not be asked: `said` by CloudTrail, the transport or the SDK.
fn refused(lookup: &Lookup, said: impl std::fmt::Display) -> Reason {
    Reason::Lookup { asked: format!("LookupEvents {}={}", lookup.key, lookup.value), said: said.to_string() }
}

/// An answer as the pacer reads it, refusals said in one line.
fn classify(answer: Result<Output, SdkError<Error, HttpResponse>>) -> Answer<Output, String> {
    let error = match answer {
        Ok(output) => return Answer::Done(output),
        Err(error) => error,
    };
    let code = error.code().unwrap_or_default().to_owned();
    let line = describe(&error);
    match code.as_str() {
        "ThrottlingException" | "Throttling" | "ThrottledException" | "TooManyRequestsException" => {
            Answer::Throttled(line)
        }
        _ => match &error {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                Answer::Transient(line)
            }
            SdkError::ServiceError(service) if service.raw().status().is_server_error() => {
                Answer::Transient(line)
            }
            _ => Answer::Refused(line),
        },
    }
}

/// One line saying why a request failed, naming what a user can do about the refusals that have
/// a known cause. The SDK's errors carry no secrets.
fn describe(error: &SdkError<Error, HttpResponse>) -> String {
    let said = crate::source::s3::describe(error);
    match error.code() {
        Some("AccessDeniedException") | Some("AccessDenied") => format!(
            "{said} (the credentials need cloudtrail:LookupEvents, and no SCP or permission boundary may deny it)"
        ),
        Some("UnrecognizedClientException") => format!(
            "{said} (either this region is an opt-in region not enabled for the account, or the \
             credentials are a session token from STS's global endpoint, which opt-in regions refuse: \
             enable the region, or get a regional STS token or set the account's STS global endpoint \
             to issue tokens valid in all regions)"
        ),
        Some("ExpiredTokenException") | Some("ExpiredToken") => {
            format!("{said} (the session token has expired: renew the credentials)")
        }
        _ => said,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_changes_are_kept_only_when_they_name_an_endpoint() {
        let tags = |id: &str| {
            format!(
                r#"{{"eventName":"CreateTags","requestParameters":{{"resourcesSet":{{"items":[{{"resourceId":"{id}"}}]}},"tagSet":{{"items":[{{"key":"Name","value":"eice-lookalike"}}]}}}}}}"#
            )
        };
        assert!(names_an_endpoint(&tags("eice-0123456789abcdef0")));
        assert!(!names_an_endpoint(&tags("i-0123456789abcdef0")), "a tag value is not a resource");
        assert!(!names_an_endpoint("not json"));
        assert!(!names_an_endpoint(r#"{"requestParameters":null}"#));
    }

    #[test]
    fn one_attribute_each_and_the_lifecycle_and_api_are_asked() {
        let names: Vec<&str> = LOOKUPS.iter().map(|l| l.value).collect();
        assert_eq!(names[0], "ec2-instance-connect.amazonaws.com");
        for name in [
            "CreateInstanceConnectEndpoint",
            "ModifyInstanceConnectEndpoint",
            "DeleteInstanceConnectEndpoint",
        ] {
            assert!(names.contains(&name), "{name}");
        }
        assert!(LOOKUPS.iter().filter(|l| l.endpoints_only).all(|l| l.value.ends_with("Tags")));
    }
}
