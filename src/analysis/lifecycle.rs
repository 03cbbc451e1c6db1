//! Endpoints' lives: who created, changed and deleted each endpoint, and what it is (name,
//! network, security groups), from the lifecycle calls of `ec2.amazonaws.com` the extractor kept
//! ([`crate::event::LIFECYCLE_EVENT_NAMES`]). What each call says ([`Call`]) was read by the
//! worker that parsed its record ([`crate::event::lifecycle`]); here the calls are only applied,
//! in time order, with no record read again.

use std::collections::BTreeMap;

use crate::event::lifecycle::{Call, Does, Settings, Tagged};
use crate::event::tables::Sym;
use crate::event::{Event, Kept, Origin};
use crate::report::{EndpointLife, LifecycleMark, Modification};
use crate::time::Timestamp;

use super::Activity;

/// What the lifecycle events of an activity say, per endpoint, and how many there were.
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
    /// By endpoint id (`eice-…`).
    pub(crate) endpoints: BTreeMap<String, Life>,
    /// Distinct lifecycle events, failed ones included (dry runs are not kept at all).
    pub(crate) events: u64,
    /// Lifecycle events that failed (`errorCode`): they changed nothing.
    pub(crate) denied: u64,
}

/// One call that changed an endpoint: when, by whom, which event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) time: Option<Timestamp>,
    /// `userIdentity.arn`, when the record has one.
    pub(crate) principal: Option<String>,
    /// The record's `eventID`.
    pub(crate) event_id: Option<String>,
    /// The event itself, in [`Activity::lifecycle`]: a finding names it as evidence.
    pub(crate) origin: Origin,
}

/// One endpoint's life as the archive records it: each field as it stands after the last call
/// read, `None` where no call read says.
#[derive(Debug, Default)]
pub(crate) struct Life {
    /// The account and region of the first call that named the endpoint.
    pub(crate) account: Option<Sym>,
    pub(crate) region: Option<Sym>,
    pub(crate) name: Option<String>,
    pub(crate) subnet_id: Option<String>,
    pub(crate) vpc_id: Option<String>,
    pub(crate) availability_zone: Option<String>,
    pub(crate) security_group_ids: Option<Vec<String>>,
    pub(crate) preserve_client_ip: Option<bool>,
    pub(crate) ip_address_type: Option<String>,
    /// The successful `CreateInstanceConnectEndpoint`, if the archive holds it.
    pub(crate) created: Option<Mark>,
    /// The successful `DeleteInstanceConnectEndpoint`, if the archive holds it.
    pub(crate) deleted: Option<Mark>,
    /// Successful modifications and renames, in time order, each with the fields it changed.
    pub(crate) modifications: Vec<(Mark, Vec<&'static str>)>,
    /// Failed lifecycle calls that named the endpoint.
    pub(crate) denied: u64,
}

impl Lifecycle {
    /// Applies, in time order, every lifecycle event of `activity`.
    pub(crate) fn of(activity: &Activity<'_>) -> Lifecycle {
        let mut events: Vec<(&Event, &Call)> =
            activity.lifecycle.iter().filter_map(|e| Some((*e, e.call.as_deref()?))).collect();
        // Untimed events last: they cannot be placed, and are applied after the rest.
        events.sort_by_key(|(e, _)| (e.time.is_none(), e.time, e.origin));
        let mut lifecycle = Lifecycle::default();
        for (event, call) in events {
            lifecycle.apply(event, call, activity.kept);
        }
        lifecycle
    }

    /// Each named endpoint's name, by id.
    pub(crate) fn names(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.endpoints.iter().filter_map(|(id, life)| Some((id.clone(), life.name.clone()?)))
    }

    fn apply(&mut self, event: &Event, call: &Call, kept: &Kept) {
        self.events += 1;
        let ids = &call.endpoints;
        if !event.succeeded() {
            self.denied += 1;
            for id in ids {
                Life::of(&mut self.endpoints, id, event).denied += 1;
            }
            return;
        }
        let principal = kept.vocabulary.text(event.principal);
        let mark = Mark {
            time: event.time,
            principal: (!principal.is_empty()).then(|| principal.to_owned()),
            event_id: call.event_id.clone(),
            origin: event.origin,
        };
        match &call.does {
            Does::Created(settings) => {
                for id in ids {
                    let life = Life::of(&mut self.endpoints, id, event);
                    life.created.get_or_insert_with(|| mark.clone());
                    life.created_as(settings);
                }
            }
            Does::Modified(settings) => {
                for id in ids {
                    let life = Life::of(&mut self.endpoints, id, event);
                    let changed = life.modified(settings);
                    if !changed.is_empty() {
                        life.modifications.push((mark.clone(), changed));
                    }
                }
            }
            Does::Deleted => {
                for id in ids {
                    Life::of(&mut self.endpoints, id, event).deleted.get_or_insert_with(|| mark.clone());
                }
            }
            Does::Tagged(tagged) => {
                for id in ids {
                    let life = Life::of(&mut self.endpoints, id, event);
                    let renamed = match tagged {
                        Tagged::Set(value) => {
                            life.name = Some(value.clone());
                            true
                        }
                        // DeleteTags with a value removes the tag only if it has that value.
                        Tagged::Removed(value) => {
                            let removes = value.is_none() || life.name.is_none() || life.name == *value;
                            if removes {
                                life.name = None;
                            }
                            removes
                        }
                        Tagged::Untouched => false,
                    };
                    if renamed {
                        life.modifications.push((mark.clone(), vec!["name"]));
                    }
                }
            }
        }
    }
}

impl Life {
    /// The life of endpoint `id` in `endpoints`, begun at `event` if this is its first call.
    fn of<'l>(endpoints: &'l mut BTreeMap<String, Life>, id: &str, event: &Event) -> &'l mut Life {
        let life = endpoints.entry(id.to_owned()).or_default();
        life.account.get_or_insert(event.account);
        life.region.get_or_insert(event.region);
        life
    }

    /// Takes what a successful create says; a field it does not say stays as it was.
    fn created_as(&mut self, settings: &Settings) {
        let Settings {
            name,
            subnet_id,
            vpc_id,
            availability_zone,
            security_group_ids,
            preserve_client_ip,
            ip_address_type,
        } = settings;
        let set = |field: &mut Option<String>, to: &Option<String>| {
            if to.is_some() {
                field.clone_from(to);
            }
        };
        set(&mut self.subnet_id, subnet_id);
        set(&mut self.vpc_id, vpc_id);
        set(&mut self.availability_zone, availability_zone);
        set(&mut self.ip_address_type, ip_address_type);
        self.preserve_client_ip = preserve_client_ip.or(self.preserve_client_ip);
        if security_group_ids.is_some() {
            self.security_group_ids.clone_from(security_group_ids);
        }
        // A Name tag without a value leaves the endpoint unnamed.
        if let Some(name) = name {
            self.name.clone_from(name);
        }
    }

    /// Applies what a modification asked for; the fields it set, by their JSON names.
    fn modified(&mut self, asked: &Settings) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if let Some(groups) = &asked.security_group_ids {
            self.security_group_ids = Some(groups.clone());
            changed.push("security_group_ids");
        }
        if let Some(preserve) = asked.preserve_client_ip {
            self.preserve_client_ip = Some(preserve);
            changed.push("preserve_client_ip");
        }
        if let Some(kind) = &asked.ip_address_type {
            self.ip_address_type = Some(kind.clone());
            changed.push("ip_address_type");
        }
        changed
    }

    /// The report's view of this life.
    pub(crate) fn report(&self) -> EndpointLife {
        let mark = |m: &Mark| LifecycleMark {
            time: m.time.map(|t| t.to_string()),
            principal: m.principal.clone(),
            event_id: m.event_id.clone(),
        };
        EndpointLife {
            name: self.name.clone(),
            subnet_id: self.subnet_id.clone(),
            vpc_id: self.vpc_id.clone(),
            availability_zone: self.availability_zone.clone(),
            security_group_ids: self.security_group_ids.clone(),
            preserve_client_ip: self.preserve_client_ip,
            ip_address_type: self.ip_address_type.clone(),
            created: self.created.as_ref().map(mark),
            deleted: self.deleted.as_ref().map(mark),
            modifications: self
                .modifications
                .iter()
                .map(|(m, changed)| Modification {
                    mark: mark(m),
                    changed: changed.iter().map(|c| (*c).to_owned()).collect(),
                })
                .collect(),
            lifecycle_denied: self.denied,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{activity, report, Objects, Window};
    use crate::event::tables::Tables;
    use crate::event::{Extractor, Origin, CREATE_ENDPOINT, CREATE_TAGS, DELETE_ENDPOINT, MODIFY_ENDPOINT};
    use crate::report::Report;
    use crate::spill::records::{Spool, SpoolWriter};

    /// The events the extractor keeps of `records` (one object, in this order), as a run keeps
    /// them.
    fn kept(records: &[String]) -> Kept {
        let tables = Tables::default();
        let mut extractor = Extractor::new(&tables);
        let mut spool = SpoolWriter::new(0).expect("spool");
        let mut events = Vec::new();
        for (i, record) in records.iter().enumerate() {
            if let Some(mut event) = extractor.extract(record.as_bytes()).expect("valid JSON") {
                event.origin = Origin { object: 0, record: i as u32 };
                event.record = spool.append(record.as_bytes()).expect("spool");
                events.push(event);
            }
        }
        let mut kept_spool = Spool::default();
        kept_spool.add(0, spool.finish().expect("spool"));
        Kept { events, objects: vec!["object".into()], vocabulary: tables.freeze(), spool: kept_spool }
    }

    fn analyzed(records: &[String]) -> Report {
        report(
            &activity(&kept(records), Window::after_seconds(60)),
            Objects::default(),
            &crate::analysis::FindingPlan::default(),
        )
        .expect("report")
    }

    /// A record of `ec2.amazonaws.com` at `time` by `user`, with `rest` (members after
    /// `eventName`, ending in a comma) and its `eventID`.
    fn ec2(name: &str, time: &str, user: &str, id: &str, rest: &str) -> String {
        format!(
            r#"{{"eventVersion":"1.09","userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/EC2Admin/{user}","accountId":"111122223333"}},"eventTime":"{time}","eventSource":"ec2.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1",{rest}"eventID":"{id}","recipientAccountId":"111122223333"}}"#
        )
    }

    fn tunnel(time: &str, endpoint: &str) -> String {
        format!(
            r#"{{"eventVersion":"1.08","userIdentity":{{"arn":"arn:aws:sts::111122223333:assumed-role/EC2Admin/alice"}},"eventTime":"{time}","eventSource":"ec2-instance-connect.amazonaws.com","eventName":"OpenTunnel","awsRegion":"us-east-1","requestParameters":{{"instanceConnectEndpointId":"{endpoint}","remotePort":"22","privateIpAddress":"10.0.0.1"}},"eventID":"0b7c9f3e-1111-2222-3333-44445555{n:04}","recipientAccountId":"111122223333"}}"#,
            n = time.len() + endpoint.len()
        )
    }

    /// A life as the archive tells it: created (one group, one tag), tunnelled through,
    /// modified (two groups), renamed by a tag call naming an instance too, a deletion refused,
    /// a dry run, then deleted; another endpoint only renamed; a create refused.
    fn story() -> Vec<String> {
        let create = r#""requestParameters":{"CreateInstanceConnectEndpointRequest":{"SubnetId":"subnet-1","SecurityGroupId":{"content":"sg-1","tag":1},"PreserveClientIp":false,"ClientToken":"t","TagSpecification":{"ResourceType":"instance-connect-endpoint","tag":1,"Tag":{"Key":"Name","tag":1,"Value":"eic-endpoint-1"}}}},"responseElements":{"CreateInstanceConnectEndpointResponse":{"instanceConnectEndpoint":{"instanceConnectEndpointId":"eice-1","vpcId":"vpc-1","subnetId":"subnet-1","availabilityZone":"us-east-1a","preserveClientIp":false,"securityGroupIdSet":{"item":"sg-1"},"ipAddressType":"ipv4","tagSet":{"item":{"key":"Name","value":"eic-endpoint-1"}},"state":"create-in-progress"}}},"#;
        let modify = r#""requestParameters":{"ModifyInstanceConnectEndpointRequest":{"InstanceConnectEndpointId":"eice-1","SecurityGroupId":[{"content":"sg-3","tag":1},{"content":"sg-2","tag":2}]}},"responseElements":{"ModifyInstanceConnectEndpointResponse":{"return":true}},"#;
        let rename = r#""requestParameters":{"resourcesSet":{"items":[{"resourceId":"i-1"},{"resourceId":"eice-1"}]},"tagSet":{"items":[{"key":"Name","value":"bastion"}]}},"responseElements":{"_return":true},"#;
        let refused = r#""errorCode":"Client.UnauthorizedOperation","requestParameters":{"DeleteInstanceConnectEndpointRequest":{"InstanceConnectEndpointId":"eice-1"}},"responseElements":null,"#;
        let dry = r#""errorCode":"Client.DryRunOperation","requestParameters":{"DeleteInstanceConnectEndpointRequest":{"DryRun":true,"InstanceConnectEndpointId":"eice-1"}},"responseElements":null,"#;
        let delete = r#""requestParameters":{"DeleteInstanceConnectEndpointRequest":{"InstanceConnectEndpointId":"eice-1"}},"responseElements":{"DeleteInstanceConnectEndpointResponse":{"instanceConnectEndpoint":{"instanceConnectEndpointId":"eice-1","state":"delete-in-progress"}}},"#;
        let other = r#""requestParameters":{"resourcesSet":{"items":[{"resourceId":"eice-2"}]},"tagSet":{"items":[{"key":"Name","value":"old-door"}]}},"responseElements":{"_return":true},"#;
        let instance_only = r#""requestParameters":{"resourcesSet":{"items":[{"resourceId":"i-1"}]},"tagSet":{"items":[{"key":"Name","value":"eice-lookalike"}]}},"responseElements":{"_return":true},"#;
        let create_refused = r#""errorCode":"Client.UnauthorizedOperation","requestParameters":{"CreateInstanceConnectEndpointRequest":{"SubnetId":"subnet-9"}},"responseElements":null,"#;
        vec![
            ec2(CREATE_ENDPOINT, "2024-03-01T00:05:00Z", "netadmin", "e-create", create),
            tunnel("2024-03-01T01:00:00Z", "eice-1"),
            ec2(MODIFY_ENDPOINT, "2024-03-01T02:00:00Z", "netadmin", "e-modify", modify),
            ec2(CREATE_TAGS, "2024-03-01T03:00:00Z", "netadmin", "e-rename", rename),
            ec2(DELETE_ENDPOINT, "2024-03-01T04:00:00Z", "contractor", "e-refused", refused),
            ec2(DELETE_ENDPOINT, "2024-03-01T04:01:00Z", "netadmin", "e-dry", dry),
            ec2(DELETE_ENDPOINT, "2024-03-01T05:00:00Z", "netadmin", "e-delete", delete),
            ec2(CREATE_TAGS, "2024-03-01T06:00:00Z", "netadmin", "e-other", other),
            ec2(CREATE_TAGS, "2024-03-01T06:30:00Z", "netadmin", "e-instance", instance_only),
            ec2(CREATE_ENDPOINT, "2024-03-01T07:00:00Z", "contractor", "e-create-refused", create_refused),
        ]
    }

    fn at(time: &str, user: &str, id: &str) -> LifecycleMark {
        LifecycleMark {
            time: Some(time.into()),
            principal: Some(format!("arn:aws:sts::111122223333:assumed-role/EC2Admin/{user}")),
            event_id: Some(id.into()),
        }
    }

    #[test]
    fn an_endpoints_life_is_read_from_its_calls() {
        let report = analyzed(&story());
        let s = &report.summary;
        // Create, modify, rename, refused delete, delete, other rename, refused create: the dry
        // run and the instance's tags are not lifecycle events.
        assert_eq!((s.lifecycle_events, s.lifecycle_denied), (7, 2));
        assert_eq!((s.instance_connect_events, s.denied_attempts, s.connections), (1, 0, 1));
        assert_eq!(s.endpoints, 2, "the renamed endpoint no tunnel used is listed");
        assert!(report.other_events.is_empty(), "lifecycle events are not Instance Connect events");
        let one = &report.endpoints[0];
        assert_eq!((one.id.0.as_str(), one.connections), ("eice-1", 1));
        let life = &one.life;
        assert_eq!(life.name.as_deref(), Some("bastion"));
        assert_eq!(life.subnet_id.as_deref(), Some("subnet-1"));
        assert_eq!(life.vpc_id.as_deref(), Some("vpc-1"));
        assert_eq!(life.availability_zone.as_deref(), Some("us-east-1a"));
        assert_eq!(life.security_group_ids, Some(vec!["sg-2".to_owned(), "sg-3".to_owned()]));
        assert_eq!((life.preserve_client_ip, life.ip_address_type.as_deref()), (Some(false), Some("ipv4")));
        assert_eq!(life.created, Some(at("2024-03-01T00:05:00Z", "netadmin", "e-create")));
        assert_eq!(life.deleted, Some(at("2024-03-01T05:00:00Z", "netadmin", "e-delete")));
        assert_eq!(
            life.modifications,
            [
                Modification {
                    mark: at("2024-03-01T02:00:00Z", "netadmin", "e-modify"),
                    changed: vec!["security_group_ids".into()]
                },
                Modification {
                    mark: at("2024-03-01T03:00:00Z", "netadmin", "e-rename"),
                    changed: vec!["name".into()]
                },
            ]
        );
        assert_eq!(life.lifecycle_denied, 1, "the refused deletion, not the dry run");
        let two = &report.endpoints[1];
        assert_eq!((two.id.0.as_str(), two.connections, two.first_seen.as_deref()), ("eice-2", 0, None));
        assert_eq!((two.account.as_str(), two.region.as_str()), ("111122223333", "us-east-1"));
        assert_eq!(two.life.name.as_deref(), Some("old-door"));
        assert_eq!(
            (two.life.created.as_ref(), two.life.subnet_id.as_ref()),
            (None, None),
            "before the archive"
        );
    }

    #[test]
    fn the_order_read_does_not_matter_only_the_time() {
        let mut shuffled = story();
        shuffled.reverse();
        let (a, b) = (analyzed(&story()), analyzed(&shuffled));
        let lives = |r: &Report| r.endpoints.iter().map(|e| e.life.clone()).collect::<Vec<_>>();
        assert_eq!(lives(&a), lives(&b));
    }

    #[test]
    fn a_dry_run_and_other_tags_are_not_kept() {
        let records = story();
        let kept = kept(&records);
        let names: Vec<&str> = kept.events.iter().map(|e| kept.vocabulary.text(e.name)).collect();
        assert_eq!(names.len(), 8, "{names:?}");
        assert_eq!(kept.events.iter().filter(|e| e.call.is_some()).count(), 7, "all but the tunnel");
    }

    #[test]
    fn a_modification_changes_only_what_it_asked_for() {
        let mut life = Life { preserve_client_ip: Some(false), ..Life::default() };
        let groups = Some(vec!["sg-4".to_owned(), "sg-5".to_owned()]);
        let changed = life.modified(&Settings { security_group_ids: groups.clone(), ..Settings::default() });
        assert_eq!(changed, ["security_group_ids"]);
        assert_eq!(life.security_group_ids, groups);
        assert_eq!(life.preserve_client_ip, Some(false), "not asked for, not changed");
        let asked = Settings {
            preserve_client_ip: Some(true),
            ip_address_type: Some("dualstack".into()),
            ..Settings::default()
        };
        assert_eq!(life.modified(&asked), ["preserve_client_ip", "ip_address_type"]);
        assert_eq!(life.security_group_ids, groups, "not asked for, not changed");
    }

    #[test]
    fn a_create_keeps_what_it_does_not_say() {
        let mut life = Life { name: Some("old".into()), vpc_id: Some("vpc-1".into()), ..Life::default() };
        life.created_as(&Settings { subnet_id: Some("subnet-1".into()), ..Settings::default() });
        assert_eq!(
            (life.name.as_deref(), life.vpc_id.as_deref(), life.subnet_id.as_deref()),
            (Some("old"), Some("vpc-1"), Some("subnet-1"))
        );
        life.created_as(&Settings { name: Some(None), ..Settings::default() });
        assert_eq!(life.name, None, "a Name tag without a value unnames");
    }
}
