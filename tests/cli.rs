//! The command line as a user meets it: exit statuses, output files, formats and streams.

use crate::common;

use std::fs;

use common::golden::assert_golden;
use common::{report_json, testdata, trailscope};

fn seed() -> String {
    testdata("seed/s3").to_string_lossy().into_owned()
}

/// A golden file of `tests/golden.rs`, for tests that check the same output for another reason.
fn golden(name: &str) -> std::path::PathBuf {
    common::root().join("tests/golden").join(name)
}

#[test]
fn clean_run_exits_zero_and_keeps_stderr_empty() {
    let out = trailscope(["report", &seed()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "no progress bar or chatter when stderr is not a terminal");
    // The text report, whole: its heading and both endpoints.
    assert_golden(&golden("seed.txt"), &out.stdout);
}

#[test]
fn missing_source_is_fatal_with_one_line() {
    let out = trailscope(["report", "/no/such/archive"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "trailscope: /no/such/archive: no such file or directory\n"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(trailscope(["report"]).status.code(), Some(2), "SOURCE is required");
    assert_eq!(trailscope(["report", "--format", "xml", &seed()]).status.code(), Some(2));
    assert_eq!(trailscope(["report", "--jobs", "0", &seed()]).status.code(), Some(2));
}

#[test]
fn checks_across_options_show_the_usage_of_the_subcommand_given() {
    // After clap's own checks: the same status, clap's layout, and the usage of the subcommand
    // that was run, not the top-level `trailscope <COMMAND>`.
    let usage_error = |out: std::process::Output| {
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty());
        String::from_utf8(out.stderr).expect("UTF-8")
    };
    let after = "For more information, try '--help'.\n";
    let seed = seed();
    for (command, usage) in [
        ("report", "trailscope report [OPTIONS] <SOURCE>..."),
        ("connections", "trailscope connections [OPTIONS] <SOURCE>..."),
    ] {
        let out = trailscope([command, "--from", "2024-02-02", "--to", "2024-02-01", &seed]);
        assert_eq!(
            usage_error(out),
            format!("error: --from 2024-02-02 is after --to 2024-02-01\n\nUsage: {usage}\n\n{after}")
        );
    }
    // A value clap's parser refuses names the option and shows no usage at all: none misleads.
    let out = trailscope(["scan", "--shard", "3/2", "-o", "unused.jsonl.gz", &seed]);
    assert_eq!(
        usage_error(out),
        format!(
            "error: invalid value '3/2' for '--shard <I/N>': \"3/2\": I counts from 0, so it must be less \
             than N\n\n{after}"
        )
    );
    let unset = std::process::Command::new(env!("CARGO_BIN_EXE_trailscope"))
        .args(["scan", "--shard", "env/2", "-o", "unused.jsonl.gz", &seed])
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("AWS_BATCH_JOB_ARRAY_INDEX")
        .output()
        .expect("runs");
    assert_eq!(
        usage_error(unset),
        "error: --shard env/2: neither JOB_COMPLETION_INDEX nor AWS_BATCH_JOB_ARRAY_INDEX is set\n\n\
         Usage: trailscope scan [OPTIONS] --shard <I/N> --output <PARTIAL> <SOURCE>...\n\n"
            .to_owned()
            + after
    );
}

#[test]
fn output_file_is_written_whole_and_stdout_stays_empty() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("report.json");
    fs::write(&target, "previous").expect("previous report");
    let out = trailscope(["report", "-f", "json", "-o", target.to_str().expect("utf-8"), &seed()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert_golden(&golden("seed.json"), &fs::read(&target).expect("report file"));
    assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1, "no temporary file left");
}

#[test]
fn failed_run_leaves_the_previous_output_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("report.txt");
    fs::write(&target, "previous").expect("previous report");
    let out = trailscope(["report", "-o", target.to_str().expect("utf-8"), "/no/such/archive"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(fs::read_to_string(&target).expect("still there"), "previous");
}

#[test]
fn markdown_report_has_tables() {
    let out = trailscope(["report", "--format", "markdown", &seed()]);
    assert_eq!(out.status.code(), Some(0));
    // The heading, the endpoint table and the note, whole.
    assert_golden(&golden("seed.md"), &out.stdout);
    let markdown = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        markdown.contains(
            "| Endpoint | Name | Account | Region | Connections | Denied | First seen | Last seen |"
        ),
        "the golden file is a Markdown table"
    );
}

#[test]
fn all_lists_unchanged_fields_with_their_value() {
    let out = trailscope(["report", "--all", &seed()]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("requestParameters.remotePort"), "{text}");
    assert!(text.contains("\"22\""));
    let out = trailscope(["report", &seed()]);
    assert!(!String::from_utf8(out.stdout).expect("utf-8").contains("requestParameters.remotePort"));
}

#[test]
fn a_file_named_directly_is_read_whatever_its_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let renamed = dir.path().join("export.txt");
    fs::copy(testdata("seed/lookup/lookup-events.json"), &renamed).expect("copy");
    let (code, report, _) = report_json(&[&renamed], &[]);
    assert_eq!(code, 0);
    assert_eq!(report["summary"]["records"], 4);
}

#[test]
fn a_folder_of_log_files_says_how_many_were_skipped_by_name_and_how_to_read_them() {
    let dir = common::log_named_exports();
    let out = trailscope(["report", dir.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "trailscope: no CloudTrail log objects found in the given sources: 3 objects were skipped by \
         their names (in folders and prefixes only *.json, *.json.gz, *.jsonl and *.jsonl.gz are \
         read); to read them, name them on the command line or add --include GLOB (e.g. --include \
         '*.log')\n"
    );
}

#[test]
fn include_reads_the_names_it_matches_in_folders_for_every_command() {
    let dir = common::log_named_exports();
    let (code, report, stderr) = report_json(&[dir.path()], &["--include", "*.log"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, seed, _) = report_json(&[&testdata("seed/records/records.json")], &[]);
    assert_eq!(report["fields"], seed["fields"]);
    assert_eq!(report["endpoints"], seed["endpoints"]);
    assert_eq!(report["summary"]["records"], 4);
    assert_eq!(report["summary"]["objects_read"], 2);
    assert_eq!(report["summary"]["skipped"]["other"], 1, "the README is still skipped");
    // Repeated, the patterns add up; the folder is read whole either way.
    let (_, both, _) = report_json(&[dir.path()], &["--include", "first-*", "--include", "*.md"]);
    assert_eq!(both["summary"]["objects_read"], 1, "the README is read, and is no log");
    assert_eq!(both["summary"]["objects_failed"], 1);
    let source = dir.path().to_str().expect("utf-8");
    let rows = trailscope(["connections", "--include", "*.log", "-f", "jsonl", source]);
    assert_eq!(rows.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&rows.stdout).lines().count(), 2, "the seed's two connections");
    let partials = tempfile::tempdir().expect("temp dir");
    let partial = partials.path().join("part.jsonl.gz");
    let scan = trailscope([
        "scan",
        "--shard",
        "0/1",
        "--include",
        "*.log",
        "-o",
        partial.to_str().expect("utf-8"),
        source,
    ]);
    assert_eq!(scan.status.code(), Some(0), "{}", String::from_utf8_lossy(&scan.stderr));
    let (_, merged, _) = report_json(&[&partial], &[]);
    assert_eq!(merged["fields"], seed["fields"]);
}

#[test]
fn include_patterns_with_folders_are_usage_errors() {
    let out = trailscope(["report", "--include", "logs/*.log", &seed()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("matches file names, not paths"));
}

#[test]
fn pair_window_changes_what_pairs() {
    // In the seed the second tunnel comes 1 s after its key: with a 0 s window that key pairs
    // with nothing and counts as direct use, while the first (same second) still pairs.
    let (_, report, _) = report_json(&[&testdata("seed/s3")], &["--pair-window", "0"]);
    assert_eq!(report["summary"]["pair_window_seconds"], 0);
    assert_eq!(report["direct"]["SendSSHPublicKey"], 1);
    assert_eq!(report["summary"]["connections_without_key"], 1);
}

#[test]
fn usage_page_quotes_the_current_help() {
    let usage = fs::read_to_string(common::root().join("docs/usage.md")).expect("docs/usage.md");
    for command in ["report", "connections", "findings", "scan"] {
        let (_, after) = usage
            .split_once(&format!("$ trailscope {command} --help\n"))
            .unwrap_or_else(|| panic!("docs/usage.md quotes {command} --help"));
        let (quoted, _) = after.split_once("```").expect("the quote ends");
        let help = trailscope([command, "--help"]);
        assert_eq!(
            quoted,
            String::from_utf8_lossy(&help.stdout),
            "paste `trailscope {command} --help` into docs/usage.md"
        );
    }
}

#[test]
fn readme_exit_status_table_is_the_exit_status_enum() {
    let readme = fs::read_to_string(common::root().join("README.md")).expect("README.md");
    let (_, section) = readme.split_once("\n## Exit status\n").expect("README has an Exit status section");
    let rows: Vec<(String, String)> = section
        .lines()
        .take_while(|line| !line.starts_with("## "))
        .filter_map(|line| line.strip_prefix("| ")?.strip_suffix(" |")?.split_once(" | "))
        .filter(|(status, _)| status.bytes().all(|b| b.is_ascii_digit()))
        .map(|(status, meaning)| (status.to_owned(), meaning.to_owned()))
        .collect();
    let statuses: Vec<(String, String)> = trailscope::ExitStatus::ALL
        .iter()
        .map(|status| (status.code().to_string(), status.meaning().to_owned()))
        .collect();
    assert_eq!(
        rows, statuses,
        "README's Exit status table lists every ExitStatus, in order, with its meaning"
    );
}

/// The Markdown files a reader follows links between: the README and the reference under docs/.
fn markdown_files() -> Vec<std::path::PathBuf> {
    let mut files = vec![common::root().join("README.md")];
    let mut docs: Vec<_> = fs::read_dir(common::root().join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The lines of a Markdown file outside fenced code blocks, where links are links.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// The anchors GitHub gives a file's headings: lower case, punctuation and backticks dropped,
/// spaces as hyphens, and `-1`, `-2`, ... after a repeated one.
fn anchors(text: &str) -> Vec<String> {
    let mut anchors = Vec::new();
    let mut repeats: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for line in prose_lines(text) {
        if !line.starts_with('#') {
            continue;
        }
        let Some(heading) = line.trim_start_matches('#').strip_prefix(' ') else {
            continue;
        };
        let base: String = heading
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let seen = repeats.entry(base.clone()).or_insert(0);
        anchors.push(if *seen == 0 { base } else { format!("{base}-{seen}") });
        *seen += 1;
    }
    anchors
}

/// Every link target of a file: inline links `[text](target)` and definitions `[text]: target`,
/// outside code blocks and code spans.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        // Code spans hold examples, not links: keep what is between them.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            targets.push(after[..end].to_owned());
            rest = &after[end..];
        }
        if let Some((_, target)) = prose.strip_prefix('[').and_then(|definition| definition.split_once("]: "))
        {
            targets.push(target.trim().to_owned());
        }
    }
    targets
}

#[test]
fn every_relative_link_and_anchor_in_the_readme_and_docs_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = fs::read_to_string(&file).expect("a Markdown file");
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let linked =
                if path.is_empty() { file.clone() } else { file.parent().expect("a folder").join(path) };
            if !linked.exists() {
                broken.push(format!("{}: {target}: no such file", file.display()));
                continue;
            }
            if !anchor.is_empty() {
                let linked_text = fs::read_to_string(&linked).expect("a linked Markdown file");
                if !anchors(&linked_text).iter().any(|a| a == anchor) {
                    broken.push(format!("{}: {target}: no such heading", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked > 40, "the check found the links ({checked})");
}

#[test]
fn readme_links_every_page_under_docs() {
    let readme = fs::read_to_string(common::root().join("README.md")).expect("README.md");
    let targets = link_targets(&readme);
    for page in markdown_files().iter().skip(1) {
        let name = format!("docs/{}", page.file_name().expect("a name").to_string_lossy());
        assert!(
            targets.iter().any(|t| t == &name || t.starts_with(&format!("{name}#"))),
            "README.md links {name}"
        );
    }
}

#[test]
fn anchors_are_githubs() {
    let text = "# Incremental runs (`--state`)\n```\n# not a heading\n```\n## Is the archive complete?\n## Is the archive complete?\n";
    assert_eq!(
        anchors(text),
        ["incremental-runs---state", "is-the-archive-complete", "is-the-archive-complete-1"]
    );
}

#[test]
fn ci_runs_the_readme_test_command_verbatim() {
    let readme = fs::read_to_string(common::root().join("README.md")).expect("README.md");
    let line = readme.lines().find(|l| l.ends_with("# run the tests")).expect("README has a test command");
    let command = line.trim_end_matches("# run the tests").trim_end();
    let ci = fs::read_to_string(common::root().join(".ci/run")).expect(".ci/run");
    assert!(ci.lines().any(|l| l == command), "put the README's test command `{command}` in .ci/run");
}

#[test]
fn verbose_says_what_each_stage_did_on_stderr_only() {
    let quiet = trailscope(["report", "-f", "json", &seed()]);
    let out = trailscope(["report", "-v", "-f", "json", &seed()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, quiet.stdout, "the report is the same");
    assert_golden(&golden("seed.json"), &out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listed 2 objects, read 2 on"), "{stderr}");
    assert!(stderr.contains("4 records, 4 Instance Connect events"), "{stderr}");
    assert!(stderr.contains("2 connections through 2 endpoints"), "{stderr}");
    assert!(!stderr.contains("S3 client"), "a local run sets up no S3 client: {stderr}");
    assert_eq!(trailscope(["report", "-v", "-q", &seed()]).status.code(), Some(2), "-v and -q conflict");
}

#[test]
fn version_names_the_inflate_backend() {
    // flate2 prefers a C library, so with both features on the build inflates with zlib-ng.
    let backend = if cfg!(feature = "zlib-ng") { "zlib-ng" } else { "zlib-rs" };
    let out = trailscope(["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("trailscope {} (inflate: {backend})\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn completions_offer_every_subcommand_and_option() {
    use clap::CommandFactory;
    let cli = trailscope::cli::Cli::command();
    let options: Vec<String> = ["report", "connections"]
        .into_iter()
        .flat_map(|name| cli.find_subcommand(name).expect("a subcommand").get_arguments())
        .filter_map(|a| a.get_long())
        .map(|long| format!("--{long}"))
        .collect();
    assert!(options.contains(&"--max-object-size".to_owned()), "{options:?}");
    assert!(options.contains(&"--outcome".to_owned()), "{options:?}");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = trailscope(["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
        let script = String::from_utf8(out.stdout).expect("UTF-8");
        for sub in cli.get_subcommands().map(|s| s.get_name()) {
            assert!(script.contains(sub), "{shell} completes the {sub} subcommand");
        }
        for option in &options {
            // fish names options without their dashes (`-l max-object-size`).
            assert!(script.contains(option.trim_start_matches('-')), "{shell} completes {option}");
        }
    }
    assert_eq!(
        trailscope(["completions", "tcsh"]).status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn fatal_error_lines_escape_control_characters() {
    let out = trailscope(["report", "/no/such/\u{1b}[31mred\u{202e}"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "trailscope: /no/such/\\u{1b}[31mred\\u{202e}: no such file or directory\n"
    );
}

/// The modules of `src/` in the order docs/development.md lists them, top to bottom.
fn documented_layers() -> Vec<String> {
    let page = fs::read_to_string(common::root().join("docs/development.md")).expect("docs/development.md");
    let block = page.split("```text\nsrc/\n").nth(1).expect("the layout block");
    let block = block.split("\ntests/").next().expect("its src/ part");
    block
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .map(|name| name.trim_end_matches('/').trim_end_matches(".rs").to_owned())
        .collect()
}

/// The `crate::` modules a file names in its code (comments and tests left out).
fn imports(source: &str) -> Vec<String> {
    let code = source.split("#[cfg(test)]\nmod tests").next().unwrap_or(source);
    let mut names = Vec::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (at, _) in line.match_indices("crate::") {
            let rest = &line[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() {
                names.push(name);
            }
        }
    }
    names
}

#[test]
fn modules_import_only_modules_below_them_in_the_documented_layout() {
    let layers = documented_layers();
    let harnesses = ["stages", "synth", "bin"];
    let rank = |name: &str| layers.iter().position(|l| l == name);
    let src = common::root().join("src");
    let mut upward = Vec::new();
    for file in common::files_under(&src) {
        let relative = file.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/");
        let module = relative.split('/').next().expect("a name").trim_end_matches(".rs").to_owned();
        if module == "lib" || harnesses.contains(&module.as_str()) {
            continue;
        }
        let own = rank(&module)
            .unwrap_or_else(|| panic!("{relative}: module {module} is not in docs/development.md"));
        let text = fs::read_to_string(&file).expect("read source");
        for import in imports(&text) {
            if import == module {
                continue;
            }
            match rank(&import) {
                Some(at) if at > own => {}
                _ => upward.push(format!("{relative} imports crate::{import}")),
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(upward.is_empty(), "imports against the layout of docs/development.md:\n{}", upward.join("\n"));
}
