"""Correctness before speed: a `trailscope report --format json` of a generated archive against the
archive's truth.json (what tests/generated.rs checks on the committed one): summary, endpoints,
direct use and event names must be equal. Prints one line; exits 1 on any difference.

    python3 benches/check_truth.py REPORT.json TRUTH.json
"""
import json
import sys

report = json.load(open(sys.argv[1]))
truth = json.load(open(sys.argv[2]))
differ = []
for key in ("summary", "endpoints", "direct", "event_names"):
    if report.get(key) != truth.get(key):
        differ.append(key)
        if key == "summary":
            for field in sorted(set(report[key]) | set(truth[key])):
                if report[key].get(field) != truth[key].get(field):
                    print(f"  summary.{field}: report {report[key].get(field)!r}, truth {truth[key].get(field)!r}",
                          file=sys.stderr)
events = truth["summary"]["instance_connect_events"]
if differ:
    print(f"report differs from truth.json in: {', '.join(differ)}")
    sys.exit(1)
print(f"report = truth.json (summary, endpoints, direct, event_names; {events} Instance Connect events)")
