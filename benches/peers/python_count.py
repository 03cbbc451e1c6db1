"""Peer: a plain Python script, as people write it today: gzip + json, one object at a time."""
import gzip
import json
import pathlib
import sys

found = 0
for path in sorted(pathlib.Path(sys.argv[1]).rglob("*.json.gz")):
    with gzip.open(path) as f:
        for record in json.load(f)["Records"]:
            if record.get("eventSource") == "ec2-instance-connect.amazonaws.com":
                found += 1
print(found)
