//! The schedule: the endpoints of each account and region, and every Instance Connect activity,
//! when it happens and the records it writes.

use std::io;

use super::records::{self, Call, EndpointSpec, CONTRACTOR, DIRECT_USER, USERS};
use super::{Activity, Endpoint, Plan, Pushed, Rng, Spec, Written, ACCOUNTS, MIN_GAP, STREAMS};
use crate::time::Timestamp;

impl<'s> Plan<'s> {
    pub(super) fn new(spec: &'s Spec) -> Self {
        let mut rng = Rng::new(spec.seed);
        let mut endpoints = Vec::new();
        for (stream, &(_, _, count)) in STREAMS.iter().enumerate() {
            for i in 0..count * spec.endpoint_scale.max(1) {
                let subnet = 1 + rng.below(200);
                let instances = (0..3)
                    .map(|_| {
                        (
                            format!("i-0{}", rng.hex(16)),
                            format!("10.{stream}.{subnet}.{}", 10 + rng.below(240)),
                        )
                    })
                    .collect();
                let vpc_endpoint = (stream == 0 && i == 0).then(|| format!("vpce-0{}", rng.hex(16)));
                endpoints.push(Endpoint {
                    spec: EndpointSpec { id: format!("eice-0{}", rng.hex(16)), vpc_endpoint, instances },
                    stream,
                });
            }
        }
        Plan {
            spec,
            rng,
            endpoints,
            activities: vec![Vec::new(); STREAMS.len()],
            serial: 0,
            findings: Vec::new(),
        }
    }

    pub(super) fn span_ms(&self) -> (i64, i64) {
        let start = self.spec.start.start().millis();
        (start, start + i64::from(self.spec.days.max(1)) * 86_400_000)
    }

    /// Decides every Instance Connect activity, when it happens, and writes its records.
    pub(super) fn schedule(&mut self) -> io::Result<()> {
        let (start, end) = self.span_ms();
        for stream in 0..STREAMS.len() {
            let mut todo = Vec::new();
            let here: Vec<usize> =
                (0..self.endpoints.len()).filter(|&e| self.endpoints[e].stream == stream).collect();
            for e in here {
                // A few more or fewer per endpoint, never fewer than four: every connection
                // field must be seen to change inside each endpoint.
                let n = (self.spec.connections as i64 + (e as i64 * 7 % 11) - 5).max(4) as u32;
                // Every tenth connection brings its own key: a tunnel with no key before it.
                todo.extend((0..n).map(|k| Activity::Connect { endpoint: e, k, keyed: k % 10 != 9 }));
                todo.push(Activity::Denied { endpoint: e, keyed: true, code: "AccessDenied" });
                todo.push(Activity::Denied { endpoint: e, keyed: false, code: "AccessDenied" });
                if e == 0 {
                    todo.push(Activity::Denied { endpoint: e, keyed: true, code: "ThrottlingException" });
                }
            }
            todo.extend([Activity::Direct, Activity::Direct]);
            if stream % 2 == 1 {
                todo.push(Activity::SerialConsole);
            }
            self.rng.shuffle(&mut todo);
            // Spread over the span, leaving the first and last minutes empty (and the last hours
            // to the activities injected for the finding rules).
            let reserved = if self.spec.findings { super::findings::RESERVED_S } else { 0 };
            let usable = (end - start) / 1_000 - 1_800 - reserved;
            let gap = usable / (todo.len() as i64 + 1);
            if gap < MIN_GAP {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} connections per endpoint do not fit in {} days",
                        self.spec.connections, self.spec.days
                    ),
                ));
            }
            for (i, activity) in todo.into_iter().enumerate() {
                let second = start / 1_000
                    + 600
                    + (i as i64 + 1) * gap
                    + self.rng.below((gap - MIN_GAP) as u64) as i64;
                let written = self.records_of(stream, activity, second);
                self.activities[stream].push((second * 1_000, activity, written));
            }
        }
        if self.spec.findings {
            self.inject_findings();
        }
        Ok(())
    }

    /// The records of one activity whose last call is at `second`, in the order they happen,
    /// and what they name.
    pub(super) fn records_of(&mut self, stream: usize, activity: Activity, second: i64) -> Written {
        let (account, region, _) = STREAMS[stream];
        let account = &ACCOUNTS[account];
        self.serial += 1;
        let serial = self.serial;
        let at = |s: i64| Timestamp(s * 1_000);
        let rng = &mut self.rng;
        let (user, instance, address, key_second) = match activity {
            Activity::Connect { endpoint, k, .. } => {
                let ep = &self.endpoints[endpoint].spec;
                let (instance, address) = &ep.instances[(k as usize / 2) % ep.instances.len()];
                // The key lands in the same second as the tunnel, or one second before it.
                (USERS[k as usize % USERS.len()], instance.clone(), Some(address), second - i64::from(k % 2))
            }
            Activity::Denied { endpoint, .. } => {
                let (instance, address) = &self.endpoints[endpoint].spec.instances[0];
                (CONTRACTOR, instance.clone(), Some(address), second)
            }
            Activity::Direct | Activity::SerialConsole => {
                (DIRECT_USER, format!("i-0{}", rng.hex(16)), None, second)
            }
        };
        let (keyed, error, endpoint) = match activity {
            Activity::Connect { endpoint, keyed, .. } => (keyed, None, Some(endpoint)),
            Activity::Denied { endpoint, keyed, code } => (keyed, Some(code), Some(endpoint)),
            Activity::Direct | Activity::SerialConsole => (true, None, None),
        };
        let mut written = Written { user, address: address.cloned(), ..Written::default() };
        if keyed {
            let call = Call { time: at(key_second), account, region, user, serial, error: None };
            let mut record = String::new();
            let serial_console = matches!(activity, Activity::SerialConsole);
            let public_key = records::send_key(&mut record, rng, &call, &instance, serial_console);
            written.records.push(record);
            written.key = Some(Pushed { instance, public_key, time: key_second * 1_000 });
        }
        if let (Some(endpoint), Some(address)) = (endpoint, address) {
            let call = Call { time: at(second), account, region, user, serial, error };
            let mut record = String::new();
            records::open_tunnel(&mut record, rng, &call, &self.endpoints[endpoint].spec, address);
            written.records.push(record);
        }
        written
    }
}
