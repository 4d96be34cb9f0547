//! CloudTrail events in the documented shape (EventBridge's "AWS API Call via CloudTrail"
//! envelope around the record), and the SQS queue of moto's server they are sent to.

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use serde_json::{Value, json};

use super::{ACCOUNT, REGION};

pub fn sqs_client(url: &str) -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("queue url")
        .to_string()
}

/// (visible, in flight) messages on the queue.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("GetQueueAttributes");
    let n = |a: A| {
        attrs
            .attributes()
            .and_then(|m| m.get(&a))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (
        n(A::ApproximateNumberOfMessages),
        n(A::ApproximateNumberOfMessagesNotVisible),
    )
}

pub async fn send(sqs: &aws_sdk_sqs::Client, url: &str, body: &str) {
    sqs.send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .expect("SendMessage");
}

/// An assumed-role session (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`).
pub fn assumed(role: &str, session: &str) -> Value {
    json!({
        "type": "AssumedRole",
        "principalId": format!("AROAEXAMPLE:{session}"),
        "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"),
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLE",
                "arn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
                "accountId": ACCOUNT,
                "userName": role
            },
            "attributes": { "creationDate": "2026-12-03T09:00:00Z", "mfaAuthenticated": "true" }
        }
    })
}

/// One event as EventBridge puts it on the queue, in the tests' region (us-east-1, where
/// IAM's events arrive too). `time`: the call's eventTime (RFC 3339).
pub fn event(
    id: &str,
    name: &str,
    source: &str,
    identity: Value,
    request: Value,
    response: Value,
    time: &str,
) -> String {
    let region = REGION;
    json!({
        "version": "0",
        "id": format!("eb-{id}"),
        "detail-type": "AWS API Call via CloudTrail",
        "source": format!("aws.{}", source.split('.').next().unwrap_or("")),
        "account": ACCOUNT,
        "time": time,
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": time,
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": "203.0.113.7",
            "userAgent": "aws-cli/2.22.10 md/awscrt#0.23.4 ua/2.0 os/linux#6.1",
            "requestParameters": request,
            "responseElements": response,
            "requestID": format!("req-{id}"),
            "eventID": id,
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management"
        }
    })
    .to_string()
}

/// AuthorizeSecurityGroupIngress of tcp/PORT from CIDR, as CloudTrail records it.
pub fn authorize_event(
    id: &str,
    group: &str,
    port: i32,
    cidr: &str,
    who: Value,
    time: &str,
) -> String {
    event(
        id,
        "AuthorizeSecurityGroupIngress",
        "ec2.amazonaws.com",
        who,
        json!({
            "groupId": group,
            "ipPermissions": { "items": [{
                "ipProtocol": "tcp", "fromPort": port, "toPort": port,
                "groups": {}, "ipRanges": { "items": [{ "cidrIp": cidr }] },
                "ipv6Ranges": {}, "prefixListIds": {}
            }] }
        }),
        json!({ "requestId": "r", "_return": true }),
        time,
    )
}

/// An IAM call (IAM's events are recorded in us-east-1).
pub fn iam_event(
    id: &str,
    name: &str,
    request: Value,
    response: Value,
    who: Value,
    time: &str,
) -> String {
    event(id, name, "iam.amazonaws.com", who, request, response, time)
}
