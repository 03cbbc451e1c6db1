//! Nothing lost: archives generated from a seed, a random subset of their objects corrupted in
//! every way a bucket sees (cut short, bytes flipped, another format, emptied, replaced by noise).
//! The report must count exactly the records of the intact objects and name every corrupted one.

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::{gzip, report_json};
use trailscope::synth::{self, Rng, Spec};

#[derive(Debug, Clone, Copy)]
enum Corruption {
    Truncate,
    FlipBytes,
    OtherFormat,
    Empty,
    RandomBytes,
}

const CORRUPTIONS: [Corruption; 5] = [
    Corruption::Truncate,
    Corruption::FlipBytes,
    Corruption::OtherFormat,
    Corruption::Empty,
    Corruption::RandomBytes,
];

fn corrupt(path: &Path, how: Corruption, rng: &mut Rng) {
    let bytes = fs::read(path).expect("object");
    let broken = match how {
        Corruption::Truncate => bytes[..rng.between(1, bytes.len() as u64 - 1) as usize].to_vec(),
        Corruption::FlipBytes => {
            // Past the 10-byte gzip header: into the compressed data or the checksum trailer.
            let mut bytes = bytes;
            for _ in 0..rng.between(1, 8) {
                let at = rng.between(10, bytes.len() as u64 - 1) as usize;
                bytes[at] ^= 1 << rng.below(8);
            }
            bytes
        }
        Corruption::OtherFormat => {
            gzip(b"eventTime,eventSource,eventName\n2024-03-01T00:00:00Z,s3,GetObject\n")
        }
        Corruption::Empty => Vec::new(),
        Corruption::RandomBytes => (0..rng.between(1, 4096)).map(|_| rng.below(256) as u8).collect(),
    };
    fs::write(path, broken).expect("write corrupted object");
}

#[test]
fn corrupted_objects_are_reported_and_every_other_record_is_counted() {
    for seed in 1..=6 {
        let dir = tempfile::tempdir().expect("temp dir");
        let spec =
            Spec { seed, objects: 48, records: 600, connections: 5, extras: false, ..Spec::testdata() };
        let truth = synth::generate(&spec, dir.path()).expect("generate");
        let archive = dir.path().join("archive");

        let mut rng = Rng::new(seed * 1_000);
        let mut intact: BTreeMap<&String, u64> = truth.objects.iter().map(|(o, n)| (o, *n)).collect();
        let mut corrupted = Vec::new();
        for (n, (object, _)) in truth.objects.iter().enumerate() {
            if rng.below(4) == 0 {
                let how = CORRUPTIONS[(n + seed as usize) % CORRUPTIONS.len()];
                corrupt(&archive.join(object), how, &mut rng);
                intact.remove(object);
                corrupted.push((archive.join(object).to_string_lossy().into_owned(), how));
            }
        }
        assert!(!corrupted.is_empty(), "seed {seed} corrupts something");

        let (code, report, _) = report_json(&[&archive], &["-q"]);
        assert_eq!(code, 3, "seed {seed}");
        let summary = &report["summary"];
        assert_eq!(
            summary["records"].as_u64(),
            Some(intact.values().sum()),
            "seed {seed}: every intact record"
        );
        assert_eq!(summary["objects_read"].as_u64(), Some(intact.len() as u64), "seed {seed}");
        let failures = common::failures(&report);
        assert_eq!(
            failures.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
            corrupted.iter().map(|(o, _)| o.as_str()).collect::<Vec<_>>(),
            "seed {seed}: exactly the corrupted objects, by name"
        );
        for ((object, error), (_, how)) in failures.iter().zip(&corrupted) {
            assert!(!error.is_empty(), "{object} ({how:?}) has a reason");
        }
    }
}
