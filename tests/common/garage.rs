//! A single-node Garage (S3-compatible object store) on loopback ports of its own, started for a
//! test and stopped when dropped: layout applied, fixed test credentials imported, buckets made.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;

/// Test credentials, imported into every Garage this harness starts. Not a secret.
pub const KEY_ID: &str = "GK0123456789abcdef01234567";
pub const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
pub const REGION: &str = "garage";

pub struct Garage {
    dir: tempfile::TempDir,
    server: Option<Child>,
    binary: PathBuf,
    /// `http://127.0.0.1:PORT`, the S3 API.
    pub endpoint: String,
    pub port: u16,
    /// The region it serves (and checks in every request's signature).
    pub region: String,
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("GARAGE_BIN") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    for candidate in [PathBuf::from("garage"), home.join(".cargo/bin/garage")] {
        if Command::new(&candidate).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return candidate;
        }
    }
    panic!("the S3 tests need Garage: run `bash .ci/setup-tests` (or set GARAGE_BIN)");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().expect("address").port()
}

impl Garage {
    pub fn start() -> Garage {
        Garage::start_in(REGION)
    }

    /// A Garage serving `region`: it refuses requests signed for another (the credential scope
    /// names the region), so an S3 layer in front of it can play one of AWS's regions.
    pub fn start_in(region: &str) -> Garage {
        let dir = tempfile::tempdir().expect("temp dir");
        let (s3_port, rpc_port) = (free_port(), free_port());
        let secret: String =
            (0..64).map(|i| b"0123456789abcdef"[(i * 7 + s3_port as usize) % 16] as char).collect();
        let config = format!(
            "metadata_dir = \"{meta}\"\ndata_dir = \"{data}\"\ndb_engine = \"sqlite\"\nreplication_factor = 1\n\
             rpc_bind_addr = \"127.0.0.1:{rpc_port}\"\nrpc_public_addr = \"127.0.0.1:{rpc_port}\"\n\
             rpc_secret = \"{secret}\"\n[s3_api]\ns3_region = \"{region}\"\napi_bind_addr = \"127.0.0.1:{s3_port}\"\n\
             root_domain = \".s3.garage.localhost\"\n",
            meta = dir.path().join("meta").display(),
            data = dir.path().join("data").display(),
        );
        let config_path = dir.path().join("garage.toml");
        std::fs::write(&config_path, config).expect("write garage.toml");
        set_private(&config_path);
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let server = Command::new(binary())
            .arg("-c")
            .arg(&config_path)
            .arg("server")
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start garage");
        let garage = Garage {
            dir,
            server: Some(server),
            binary: binary(),
            endpoint: format!("http://127.0.0.1:{s3_port}"),
            port: s3_port,
            region: region.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let node = loop {
            if let Some(id) = garage.admin_ok(&["node", "id", "-q"]) {
                break id.trim().split('@').next().unwrap_or_default().to_owned();
            }
            assert!(Instant::now() < deadline, "garage did not start: {}", garage.log());
            std::thread::sleep(Duration::from_millis(100));
        };
        garage.admin(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        garage.admin(&["layout", "apply", "--version", "1"]);
        garage.admin(&["key", "import", "--yes", "-n", "test", KEY_ID, SECRET]);
        garage
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("garage.toml")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn admin_run(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.binary)
            .arg("-c")
            .arg(self.config())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn admin_ok(&self, args: &[&str]) -> Option<String> {
        self.admin_run(args).ok()
    }

    /// Runs an admin command, retrying for a few seconds: a node that just started may not take
    /// layout changes yet.
    fn admin(&self, args: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.admin_run(args) {
                Ok(out) => return out,
                Err(e) if Instant::now() >= deadline => panic!("garage {args:?} failed: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.admin(&["bucket", "create", bucket]);
        self.admin(&["bucket", "allow", "--read", "--write", "--owner", bucket, "--key", "test"]);
    }

    /// Uploads every file under `local` to `bucket`, keyed by its path relative to `local`.
    pub fn upload(&self, bucket: &str, local: &Path) -> usize {
        self.upload_with_metadata(bucket, local, |_| Some(Vec::new()))
    }

    /// Uploads the files under `local` as [`Garage::upload`] does, each with the user metadata
    /// `metadata` gives it (`x-amz-meta-NAME: VALUE`); a file it gives `None` is not uploaded.
    /// [`cloudtrail_metadata`] is what CloudTrail sets on a generated archive.
    pub fn upload_with_metadata<F>(&self, bucket: &str, local: &Path, metadata: F) -> usize
    where
        F: Fn(&Path) -> Option<Vec<(String, String)>>,
    {
        let files: Vec<(PathBuf, Vec<(String, String)>)> = files_under(local)
            .into_iter()
            .filter_map(|file| Some((file.clone(), metadata(&file)?)))
            .collect();
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let client = self.client();
        // Sixteen uploads in flight: the benchmark archive has thousands of objects.
        runtime.block_on(async {
            for batch in files.chunks(16) {
                let mut uploads = tokio::task::JoinSet::new();
                for (file, metadata) in batch {
                    let key =
                        file.strip_prefix(local).expect("under local").to_string_lossy().replace('\\', "/");
                    let body = std::fs::read(file).expect("read fixture");
                    let mut request =
                        client.put_object().bucket(bucket).key(&key).body(ByteStream::from(body));
                    for (name, value) in metadata {
                        request = request.metadata(name, value);
                    }
                    uploads.spawn(
                        async move { request.send().await.map_err(|e| format!("upload {key}: {e:?}")) },
                    );
                }
                while let Some(done) = uploads.join_next().await {
                    done.expect("upload task").unwrap_or_else(|e| panic!("{e}"));
                }
            }
        });
        files.len()
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(Credentials::new(KEY_ID, SECRET, None, None, "test"))
            .region(Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Environment for a `trailscope` run against this server, isolated from the machine's AWS
    /// configuration.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.into()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_CONFIG_FILE", "/nonexistent/aws-config".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// The metadata CloudTrail gives the objects of an archive `trailscope-gen --digests` wrote: a
/// digest's signature, which the generator keeps beside it in `<digest>.sig`, becomes its
/// `x-amz-meta-signature` (with `x-amz-meta-signature-algorithm`), and the sidecar itself is not
/// uploaded. Other files get none.
pub fn cloudtrail_metadata(file: &Path) -> Option<Vec<(String, String)>> {
    use trailscope::synth::digest::{SIGNATURE_ALGORITHM, SIGNATURE_SUFFIX};
    if file.to_string_lossy().ends_with(SIGNATURE_SUFFIX) {
        return None;
    }
    let mut sidecar = file.as_os_str().to_owned();
    sidecar.push(SIGNATURE_SUFFIX);
    Some(match std::fs::read_to_string(&sidecar) {
        Ok(signature) => vec![
            ("signature".to_owned(), signature.trim().to_owned()),
            ("signature-algorithm".to_owned(), SIGNATURE_ALGORITHM.to_owned()),
        ],
        Err(_) => Vec::new(),
    })
}

/// Every file under `root`, recursively, sorted. Lives here so that the S3 benchmark, which
/// includes this file alone, has it too.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(unix)]
fn set_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // Garage refuses a config holding the RPC secret that others can read.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

#[cfg(not(unix))]
fn set_private(_: &Path) {}
