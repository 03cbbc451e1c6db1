//! Record templates: Instance Connect events shaped like the seed's (`../shared/seed`), and the
//! background of other services an account's trail is mostly made of. Beside the Instance Connect
//! templates stands what each leaf is built to do across connections: the ground truth the field
//! analysis is checked against.

use std::fmt::Write;

use super::rng::Rng;
use crate::report::{FieldClass, VariesWith};
use crate::time::Timestamp;

/// An account of the archive and where its trail is delivered.
#[derive(Debug, Clone, Copy)]
pub(super) struct Account {
    pub id: &'static str,
    /// The organization id of an organization trail (`AWSLogs/o-…/<account>/…`).
    pub org: Option<&'static str>,
    /// The unique id of the account's `EC2Admin` role (`AROA…`).
    pub role_id: &'static str,
}

/// Users of the `EC2Admin` role. The first two use the console, the third the AWS CLI, so user
/// agent and the console flag change from one connection to the next.
pub(super) const USERS: [&str; 3] = ["alice", "bob", "carol"];
/// The principal whose tunnels are denied.
pub(super) const CONTRACTOR: &str = "contractor";
/// The principal that pushes keys straight to instances, with no tunnel.
pub(super) const DIRECT_USER: &str = "ops-direct";

const CONSOLE_AGENT: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36";
const CLI_TUNNEL_AGENT: &str = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/ec2-instance-connect.open-tunnel";
const CLI_KEY_AGENT: &str = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/ec2-instance-connect.send-ssh-public-key";

pub(super) fn is_console_user(user: &str) -> bool {
    user != "carol"
}

/// What one Instance Connect call needs to be written.
#[derive(Debug, Clone)]
pub(super) struct Call<'a> {
    pub time: Timestamp,
    pub account: &'a Account,
    pub region: &'a str,
    pub user: &'a str,
    /// A serial number unique in the archive: makes access keys and addresses unique.
    pub serial: u64,
    pub error: Option<&'a str>,
}

/// An endpoint as the records name it.
#[derive(Debug, Clone)]
pub(super) struct EndpointSpec {
    pub id: String,
    /// Set for the endpoint whose API calls arrive through a VPC interface endpoint: CloudTrail
    /// then adds `vpcEndpointId` and `vpcEndpointAccountId` to the record.
    pub vpc_endpoint: Option<String>,
    /// The instances behind it: (instance id, private address).
    pub instances: Vec<(String, String)>,
}

/// What a leaf's value follows across the generated connections: nothing (constant), the
/// endpoint's account, its account and region, the endpoint, the caller, or each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Varies {
    Never,
    Account,
    Region,
    Endpoint,
    Principal,
    Connection,
}

impl Varies {
    /// The class the report gives a field that varies this way.
    pub(super) fn class(self) -> FieldClass {
        match self {
            Varies::Never => FieldClass::Constant,
            Varies::Account | Varies::Region | Varies::Endpoint => FieldClass::Endpoint,
            Varies::Principal | Varies::Connection => FieldClass::Connection,
        }
    }

    pub(super) fn varies_with(self) -> Option<VariesWith> {
        match self {
            Varies::Never => None,
            Varies::Account => Some(VariesWith::Account),
            Varies::Region => Some(VariesWith::Region),
            Varies::Endpoint => Some(VariesWith::Endpoint),
            Varies::Principal => Some(VariesWith::Principal),
            Varies::Connection => Some(VariesWith::Connection),
        }
    }
}

/// How each leaf of a successful `OpenTunnel` behaves across the generated connections. The
/// accounts: one with two regions (two endpoints in us-east-1, one through a VPC interface
/// endpoint, and one in eu-west-1), two with one endpoint each. Callers are three users of one
/// role per account; the console users and the CLI user differ in user agent.
pub(super) const OPEN_TUNNEL_FIELDS: &[(&str, Varies)] = &[
    ("awsRegion", Varies::Region),
    ("eventCategory", Varies::Never),
    ("eventID", Varies::Connection),
    ("eventName", Varies::Never),
    ("eventSource", Varies::Never),
    ("eventTime", Varies::Connection),
    ("eventType", Varies::Never),
    ("eventVersion", Varies::Never),
    ("managementEvent", Varies::Never),
    ("readOnly", Varies::Never),
    ("recipientAccountId", Varies::Account),
    ("requestID", Varies::Connection),
    ("requestParameters.instanceConnectEndpointId", Varies::Endpoint),
    ("requestParameters.maxTunnelDuration", Varies::Never),
    ("requestParameters.privateIpAddress", Varies::Connection),
    ("requestParameters.remotePort", Varies::Never),
    ("resources[0].ARN", Varies::Endpoint),
    ("resources[0].accountId", Varies::Account),
    ("resources[0].type", Varies::Never),
    ("responseElements", Varies::Never),
    ("sourceIPAddress", Varies::Connection),
    ("userAgent", Varies::Principal),
    ("userIdentity.accessKeyId", Varies::Connection),
    ("userIdentity.accountId", Varies::Account),
    ("userIdentity.arn", Varies::Principal),
    ("userIdentity.principalId", Varies::Principal),
    ("userIdentity.type", Varies::Never),
    ("userIdentity.userName", Varies::Never),
    // Present for one endpoint only (a path missing elsewhere is a value of its own), which
    // shares its account and region with another endpoint.
    ("vpcEndpointAccountId", Varies::Endpoint),
    ("vpcEndpointId", Varies::Endpoint),
];

/// How each leaf of a `SendSSHPublicKey` paired with a successful tunnel behaves.
pub(super) const SEND_SSH_PUBLIC_KEY_FIELDS: &[(&str, Varies)] = &[
    ("awsRegion", Varies::Region),
    ("eventCategory", Varies::Never),
    ("eventID", Varies::Connection),
    ("eventName", Varies::Never),
    ("eventSource", Varies::Never),
    ("eventTime", Varies::Connection),
    ("eventType", Varies::Never),
    ("eventVersion", Varies::Never),
    ("managementEvent", Varies::Never),
    ("readOnly", Varies::Never),
    ("recipientAccountId", Varies::Account),
    ("requestID", Varies::Connection),
    ("requestParameters.instanceId", Varies::Connection),
    ("requestParameters.instanceOSUser", Varies::Never),
    ("requestParameters.sSHPublicKey", Varies::Connection),
    ("responseElements.requestId", Varies::Connection),
    ("responseElements.success", Varies::Never),
    ("sessionCredentialFromConsole", Varies::Principal),
    ("sourceIPAddress", Varies::Connection),
    ("tlsDetails.cipherSuite", Varies::Never),
    ("tlsDetails.clientProvidedHostHeader", Varies::Region),
    ("tlsDetails.tlsVersion", Varies::Never),
    ("userAgent", Varies::Principal),
    ("userIdentity.accessKeyId", Varies::Connection),
    ("userIdentity.accountId", Varies::Account),
    ("userIdentity.arn", Varies::Principal),
    ("userIdentity.principalId", Varies::Account),
    ("userIdentity.sessionContext.attributes.creationDate", Varies::Connection),
    ("userIdentity.sessionContext.attributes.mfaAuthenticated", Varies::Never),
    ("userIdentity.sessionContext.sessionIssuer.accountId", Varies::Account),
    ("userIdentity.sessionContext.sessionIssuer.arn", Varies::Account),
    ("userIdentity.sessionContext.sessionIssuer.principalId", Varies::Account),
    ("userIdentity.sessionContext.sessionIssuer.type", Varies::Never),
    ("userIdentity.sessionContext.sessionIssuer.userName", Varies::Never),
    ("userIdentity.sessionContext.webIdFederationData", Varies::Never),
    ("userIdentity.type", Varies::Never),
];

/// The ARN of `user`'s session of the account's `EC2Admin` role: `userIdentity.arn` of their calls.
pub(super) fn principal_arn(account: &Account, user: &str) -> String {
    format!("arn:aws:sts::{}:assumed-role/EC2Admin/{user}", account.id)
}

fn access_key(serial: u64) -> String {
    format!("ASIA{serial:016X}")
}

/// `OpenTunnel` through `endpoint` to the instance at `target`.
pub(super) fn open_tunnel(
    out: &mut String,
    rng: &mut Rng,
    call: &Call<'_>,
    endpoint: &EndpointSpec,
    target: &str,
) {
    let Call { time, account, region, user, serial, error } = call;
    let acct = account.id;
    let agent = if is_console_user(user) { CONSOLE_AGENT } else { CLI_TUNNEL_AGENT };
    let _ = write!(
        out,
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"AssumedRole","principalId":"{role}:{user}","arn":"{arn}","accountId":"{acct}","accessKeyId":"{key}","userName":""}},"eventTime":"{time}","eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel","awsRegion":"{region}","sourceIPAddress":"198.51.100.{ip}","userAgent":"{agent}","#,
        role = account.role_id,
        arn = principal_arn(account, user),
        key = access_key(*serial),
        ip = 1 + serial % 250,
    );
    if let Some(code) = error {
        let _ = write!(
            out,
            r#""errorCode":"{code}","errorMessage":"User: arn:aws:sts::{acct}:assumed-role/EC2Admin/{user} is not authorized to perform: ec2-instance-connect:OpenTunnel on resource: arn:aws:ec2:{region}:{acct}:instance-connect-endpoint/{id}","#,
            id = endpoint.id,
        );
    }
    let _ = write!(
        out,
        r#""requestParameters":{{"instanceConnectEndpointId":"{id}","maxTunnelDuration":"3600","remotePort":"22","privateIpAddress":"{target}"}},"responseElements":null,"requestID":"{rid}","eventID":"{eid}","readOnly":false,"resources":[{{"accountId":"{acct}","type":"AWS::EC2::InstanceConnectEndpoint","ARN":"arn:aws:ec2:{region}:{acct}:instance-connect-endpoint/{id}"}}],"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{acct}","#,
        id = endpoint.id,
        rid = rng.uuid(),
        eid = rng.uuid(),
    );
    if let Some(vpce) = &endpoint.vpc_endpoint {
        let _ = write!(out, r#""vpcEndpointId":"{vpce}","vpcEndpointAccountId":"{acct}","#);
    }
    out.push_str(r#""eventCategory":"Management"}"#);
}

/// `SendSSHPublicKey` (`serial_console`: `SendSerialConsoleSSHPublicKey`) for `instance`;
/// returns the public key pushed, as written in `requestParameters.sSHPublicKey`.
pub(super) fn send_key(
    out: &mut String,
    rng: &mut Rng,
    call: &Call<'_>,
    instance: &str,
    serial_console: bool,
) -> String {
    let Call { time, account, region, user, serial, .. } = call;
    let acct = account.id;
    let console = is_console_user(user);
    // The session was created a minute or two before the key: strictly increasing with the key's
    // time, so two connections never share it.
    let created = Timestamp((time.millis() / 1_000 - 60 - rng.below(60) as i64) * 1_000);
    let (name, request) = if serial_console {
        ("SendSerialConsoleSSHPublicKey", format!(r#""instanceId":"{instance}","serialPort":0"#))
    } else {
        ("SendSSHPublicKey", format!(r#""instanceId":"{instance}","instanceOSUser":"ec2-user""#))
    };
    let rid = rng.uuid();
    // Shaped like an ed25519 key: 68 base64 characters (51 bytes, no padding), the first 25
    // fixed (the type, and the key's length but for its two lowest bits), the rest random. Not
    // every draw is a key ssh-keygen would accept, but every one is a blob with a fingerprint.
    let public_key = format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{}", rng.alnum(43));
    let _ = write!(
        out,
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"AssumedRole","principalId":"{role}","arn":"{arn}","accountId":"{acct}","accessKeyId":"{key}","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"{role}","arn":"arn:aws:iam::{acct}:role/EC2Admin","accountId":"{acct}","userName":"EC2Admin"}},"webIdFederationData":{{}},"attributes":{{"creationDate":"{created}","mfaAuthenticated":"true"}}}}}},"eventTime":"{time}","eventSource":"ec2-instance-connect.amazonaws.com","eventName":"{name}","awsRegion":"{region}","sourceIPAddress":"203.0.113.{ip}","userAgent":"{agent}","requestParameters":{{{request},"sSHPublicKey":"{public_key}"}},"responseElements":{{"requestId":"{rid}","success":true}},"requestID":"{rid}","eventID":"{eid}","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{acct}","eventCategory":"Management","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"ec2-instance-connect.{region}.amazonaws.com"}}"#,
        role = account.role_id,
        arn = principal_arn(account, user),
        key = access_key(*serial),
        ip = 1 + serial % 250,
        agent = if console { CONSOLE_AGENT } else { CLI_KEY_AGENT },
        eid = rng.uuid(),
    );
    if console {
        out.push_str(r#","sessionCredentialFromConsole":"true""#);
    }
    out.push('}');
    public_key
}

const SERVICE_AGENTS: [&str; 4] = [
    "aws-sdk-java/2.25.16 Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. md/internal exec-env/AWS_ECS_FARGATE",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.210 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/s3.cp",
    "aws-sdk-go-v2/1.25.3 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.51.4",
];

/// One record of another service, as the bulk of a trail is. A few of them name Instance Connect
/// without being Instance Connect events (a role policy, an endpoint being created), so deciding
/// by bytes alone would be wrong.
///
/// Returns the endpoint it created, when it wrote a successful `CreateInstanceConnectEndpoint`:
/// an endpoint never used, which the report lists. Without `creates`, it describes endpoints
/// there instead (a call that names them and is no lifecycle event): the test archive's
/// endpoints are those of its lifecycle scenario.
pub(super) fn background(
    out: &mut String,
    rng: &mut Rng,
    account: &Account,
    region: &str,
    time: Timestamp,
    creates: bool,
) -> Option<BackgroundEndpoint> {
    let acct = account.id;
    let app = rng.below(40);
    let agent = rng.pick(&SERVICE_AGENTS);
    let (sess, key) = (rng.hex(12), rng.alnum(16));
    let arn = format!("arn:aws:sts::{acct}:assumed-role/app-{app:02}/session-{sess}");
    let identity = format!(
        r#""userIdentity":{{"type":"AssumedRole","principalId":"AROA{acct}APP{app:02}:session-{sess}","arn":"{arn}","accountId":"{acct}","accessKeyId":"ASIA{key}","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"AROA{acct}APP{app:02}","arn":"arn:aws:iam::{acct}:role/app-{app:02}","accountId":"{acct}","userName":"app-{app:02}"}},"attributes":{{"creationDate":"{time}","mfaAuthenticated":"false"}}}}}}"#,
    );
    let head = |out: &mut String, source: &str, name: &str, ip: String| {
        let _ = write!(
            out,
            r#"{{"eventVersion":"1.09",{identity},"eventTime":"{time}","eventSource":"{source}","eventName":"{name}","awsRegion":"{region}","sourceIPAddress":"{ip}","userAgent":"{agent}","#
        );
    };
    // Returns the eventID written.
    let tail = |out: &mut String, rng: &mut Rng, read_only: bool, management: bool| {
        let (rid, eid) = (rng.uuid(), rng.uuid());
        let _ = write!(
            out,
            r#""requestID":"{rid}","eventID":"{eid}","readOnly":{read_only},"eventType":"AwsApiCall","managementEvent":{management},"recipientAccountId":"{acct}","eventCategory":"{category}","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"api.{region}.amazonaws.com"}}}}"#,
            category = if management { "Management" } else { "Data" },
        );
        eid
    };
    let ip = |rng: &mut Rng| format!("10.{}.{}.{}", rng.below(4), rng.below(256), 1 + rng.below(254));
    match rng.below(1000) {
        // S3 data events: most of a busy trail.
        0..=499 => {
            let (bucket, key) = (format!("data-{acct}-{}", rng.below(12)), rng.uuid());
            let put = rng.below(4) == 0;
            head(out, "s3.amazonaws.com", if put { "PutObject" } else { "GetObject" }, ip(rng));
            let _ = write!(
                out,
                r#""requestParameters":{{"bucketName":"{bucket}","Host":"{bucket}.s3.{region}.amazonaws.com","key":"warehouse/part-{key}.parquet","x-id":"{x}"}},"responseElements":null,"additionalEventData":{{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":{inb},"AuthenticationMethod":"AuthHeader","x-amz-id-2":"{amz}","bytesTransferredOut":{outb}}},"resources":[{{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::{bucket}/warehouse/part-{key}.parquet"}},{{"accountId":"{acct}","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::{bucket}"}}],"#,
                x = if put { "PutObject" } else { "GetObject" },
                inb = if put { rng.below(8_000_000) } else { 0 },
                outb = if put { 0 } else { rng.below(8_000_000) },
                amz = rng.alnum(56),
            );
            let _ = tail(out, rng, !put, false);
        }
        500..=649 => {
            head(
                out,
                "kms.amazonaws.com",
                if rng.below(2) == 0 { "Decrypt" } else { "GenerateDataKey" },
                ip(rng),
            );
            let _ = write!(
                out,
                r#""requestParameters":{{"encryptionContext":{{"aws:s3:arn":"arn:aws:s3:::data-{acct}-{b}/warehouse/"}},"encryptionAlgorithm":"SYMMETRIC_DEFAULT","keyId":"arn:aws:kms:{region}:{acct}:key/{k}"}},"responseElements":null,"resources":[{{"accountId":"{acct}","type":"AWS::KMS::Key","ARN":"arn:aws:kms:{region}:{acct}:key/{k}"}}],"#,
                b = rng.below(12),
                k = rng.uuid(),
            );
            let _ = tail(out, rng, true, true);
        }
        650..=799 => {
            head(out, "sts.amazonaws.com", "AssumeRole", ip(rng));
            let _ = write!(
                out,
                r#""requestParameters":{{"roleArn":"arn:aws:iam::{acct}:role/app-{app:02}","roleSessionName":"session-{s}","durationSeconds":3600}},"responseElements":{{"credentials":{{"accessKeyId":"ASIA{k}","sessionToken":"IQoJb3JpZ2luX2VjE{t}","expiration":"{time}"}},"assumedRoleUser":{{"assumedRoleId":"AROA{acct}APP{app:02}:session-{s}","arn":"arn:aws:sts::{acct}:assumed-role/app-{app:02}/session-{s}"}}}},"resources":[{{"accountId":"{acct}","type":"AWS::IAM::Role","ARN":"arn:aws:iam::{acct}:role/app-{app:02}"}}],"#,
                s = rng.hex(12),
                k = rng.alnum(16),
                t = rng.alnum(48),
            );
            let _ = tail(out, rng, true, true);
        }
        800..=949 => {
            head(out, "ec2.amazonaws.com", "DescribeInstances", ip(rng));
            let _ = write!(
                out,
                r#""requestParameters":{{"instancesSet":{{"items":[{{"instanceId":"i-{a}"}},{{"instanceId":"i-{b}"}}]}},"filterSet":{{}},"includeAllInstances":false}},"responseElements":null,"#,
                a = rng.hex(17),
                b = rng.hex(17),
            );
            let _ = tail(out, rng, true, true);
        }
        950..=989 => {
            head(out, "lambda.amazonaws.com", "Invoke", ip(rng));
            let _ = write!(
                out,
                r#""requestParameters":{{"functionName":"arn:aws:lambda:{region}:{acct}:function:etl-{f}","invocationType":"Event"}},"responseElements":null,"resources":[{{"accountId":"{acct}","type":"AWS::Lambda::Function","ARN":"arn:aws:lambda:{region}:{acct}:function:etl-{f}"}}],"#,
                f = rng.below(30),
            );
            let _ = tail(out, rng, false, false);
        }
        // Records that name Instance Connect without being its events.
        990..=994 => {
            head(out, "iam.amazonaws.com", "PutRolePolicy", ip(rng));
            let _ = write!(
                out,
                r#""requestParameters":{{"roleName":"EC2Admin","policyName":"instance-connect","policyDocument":"{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{{\"Effect\": \"Allow\", \"Action\": [\"ec2-instance-connect:OpenTunnel\", \"ec2-instance-connect:SendSSHPublicKey\"], \"Resource\": \"*\", \"Condition\": {{\"StringEquals\": {{\"aws:CalledVia\": \"ec2-instance-connect.amazonaws.com\"}}}}}}]\n}}"}},"responseElements":null,"#
            );
            let _ = tail(out, rng, false, true);
        }
        _ if !creates => {
            head(out, "ec2.amazonaws.com", "DescribeInstanceConnectEndpoints", ip(rng));
            let _ = write!(
                out,
                r#""requestParameters":{{"DescribeInstanceConnectEndpointsRequest":{{"InstanceConnectEndpointId":{{"content":"eice-0{e}","tag":1}}}}}},"responseElements":null,"#,
                e = rng.hex(16),
            );
            let _ = tail(out, rng, true, true);
        }
        _ => {
            head(out, "ec2.amazonaws.com", "CreateInstanceConnectEndpoint", ip(rng));
            let (s, c, e, h) = (rng.hex(17), rng.uuid(), rng.hex(17), rng.hex(8));
            let _ = write!(
                out,
                r#""requestParameters":{{"CreateInstanceConnectEndpointRequest":{{"SubnetId":"subnet-{s}","PreserveClientIp":false,"ClientToken":"{c}"}}}},"responseElements":{{"CreateInstanceConnectEndpointResponse":{{"instanceConnectEndpoint":{{"instanceConnectEndpointId":"eice-{e}","dnsName":"eice-{e}.{h}.ec2-instance-connect-endpoint.{region}.amazonaws.com","state":"create-in-progress"}}}}}},"#,
            );
            let event_id = tail(out, rng, false, true);
            return Some(BackgroundEndpoint {
                id: format!("eice-{e}"),
                subnet: format!("subnet-{s}"),
                principal: arn,
                event_id,
                time,
            });
        }
    }
    None
}

/// An endpoint a background record created, as written: never used.
#[derive(Debug, Clone)]
pub(super) struct BackgroundEndpoint {
    pub id: String,
    pub subnet: String,
    pub principal: String,
    pub event_id: String,
    pub time: Timestamp,
}

/// A CloudTrail Insights event: read and counted like any record, never Instance Connect.
pub(super) fn insight(out: &mut String, rng: &mut Rng, account: &Account, region: &str, time: Timestamp) {
    let _ = write!(
        out,
        r#"{{"eventVersion":"1.08","eventTime":"{time}","awsRegion":"{region}","eventID":"{id}","eventType":"AwsCloudTrailInsight","recipientAccountId":"{acct}","sharedEventID":"{shared}","insightDetails":{{"state":"Start","eventSource":"ec2-instance-connect.amazonaws.com","eventName":"SendSSHPublicKey","insightType":"ApiCallRateInsight","insightContext":{{"statistics":{{"baseline":{{"average":0.01}},"insight":{{"average":2.5}}}}}}}},"eventCategory":"Insight"}}"#,
        id = rng.uuid(),
        acct = account.id,
        shared = rng.uuid(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tables::Tables;
    use crate::event::Extractor;

    fn account() -> Account {
        Account { id: "111122223333", org: None, role_id: "AROAEXAMPLEROLEID0001" }
    }

    fn endpoint(vpce: bool) -> EndpointSpec {
        EndpointSpec {
            id: "eice-0123456789abcdef0".into(),
            vpc_endpoint: vpce.then(|| "vpce-0123456789abcdef0".into()),
            instances: vec![("i-0123456789abcdef0".into(), "10.0.1.10".into())],
        }
    }

    /// The leaf paths of a record, sorted, as the extractor names them.
    fn paths(record: &str) -> Vec<String> {
        let tables = Tables::default();
        let event =
            Extractor::new(&tables).extract(record.as_bytes()).expect("valid JSON").expect("an event");
        let vocabulary = tables.freeze();
        let mut paths: Vec<String> =
            vocabulary.shape(event.shape).iter().map(|&p| vocabulary.path(p).to_owned()).collect();
        paths.sort();
        paths
    }

    fn table(fields: &[(&'static str, Varies)]) -> Vec<String> {
        let mut paths: Vec<String> = fields.iter().map(|(p, _)| p.to_string()).collect();
        paths.sort();
        paths
    }

    #[test]
    fn templates_have_exactly_the_leaves_of_the_truth_tables() {
        let mut rng = Rng::new(1);
        let account = account();
        let call = Call {
            time: Timestamp(1_709_251_200_000),
            account: &account,
            region: "us-east-1",
            user: "alice",
            serial: 1,
            error: None,
        };
        let (mut tunnel, mut key) = (String::new(), String::new());
        open_tunnel(&mut tunnel, &mut rng, &call, &endpoint(true), "10.0.1.10");
        send_key(&mut key, &mut rng, &call, "i-0123456789abcdef0", false);
        assert_eq!(paths(&tunnel), table(OPEN_TUNNEL_FIELDS));
        assert_eq!(paths(&key), table(SEND_SSH_PUBLIC_KEY_FIELDS));
    }

    #[test]
    fn background_records_are_valid_and_never_instance_connect() {
        let mut rng = Rng::new(2);
        let tables = Tables::default();
        let mut extractor = Extractor::new(&tables);
        let (mut decoys, mut creates, mut describes) = (0, 0, 0);
        for i in 0..4_000 {
            let mut record = String::new();
            let time = Timestamp(i * 1_000);
            let created = background(&mut record, &mut rng, &account(), "eu-west-1", time, i % 2 == 0);
            serde_json::from_str::<serde_json::Value>(&record).expect("valid JSON");
            let event = extractor.extract(record.as_bytes()).expect("valid JSON");
            // The only lifecycle event a background record makes is the endpoint it says it made.
            match created {
                Some(created) => {
                    let event = event.expect("a create is a lifecycle event");
                    let call = event.call.expect("a create is a lifecycle call");
                    assert_eq!(call.endpoints, std::slice::from_ref(&created.id), "{record}");
                    assert_eq!(call.event_id.as_ref(), Some(&created.event_id));
                    creates += 1;
                }
                None => assert!(event.is_none(), "{record}"),
            }
            describes += usize::from(record.contains("DescribeInstanceConnectEndpoints"));
            decoys += usize::from(record.contains("ec2-instance-connect.amazonaws.com"));
        }
        assert!(decoys > 0 && creates > 0 && describes > 0, "decoys present");
    }
}
