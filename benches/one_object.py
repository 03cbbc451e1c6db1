"""Makes one CloudTrail log object of exactly SIZE bytes of JSON (default 1 GiB), gzipped, from the
records of a generated archive: its objects' records, in name order, going round again when the
archive holds fewer bytes (those records come twice, as a trail delivered twice would have them).
Spaces before the closing `]}` make up the exact size. Writes OUT (gzipped, by `gzip -6`, the
generator's level) and OUT.json beside it with what the object holds.

    python3 benches/one_object.py ARCHIVE-DIR OUT [SIZE]
"""
import gzip
import json
import pathlib
import subprocess
import sys

IC = b'"eventSource":"ec2-instance-connect.amazonaws.com"'
HEAD, TAIL = b'{"Records":[', b"]}"

root = pathlib.Path(sys.argv[1])
out = pathlib.Path(sys.argv[2])
size = int(sys.argv[3]) if len(sys.argv) > 3 else 1 << 30
truth = json.loads((root / "truth.json").read_text())
objects = sorted(truth["objects"].items())

room = size - len(HEAD) - len(TAIL)
written = records = events = passes = 0
tmp = out.with_name(out.name + ".tmp")
with open(tmp, "wb") as sink:
    gz = subprocess.Popen(["gzip", "-c", "-6"], stdin=subprocess.PIPE, stdout=sink)
    gz.stdin.write(HEAD)
    full = False
    while not full:
        passes += 1
        for name, count in objects:
            body = gzip.decompress((root / "archive" / name).read_bytes())
            assert body.startswith(HEAD) and body.endswith(TAIL), name
            inner = body[len(HEAD):-len(TAIL)]
            if not inner:
                continue
            piece = (b"," if written else b"") + inner
            if written + len(piece) > room:
                full = True
                break
            gz.stdin.write(piece)
            written += len(piece)
            records += count
            events += inner.count(IC)
    gz.stdin.write(b" " * (room - written) + TAIL)
    gz.stdin.close()
    assert gz.wait() == 0, "gzip failed"
tmp.rename(out)
meta = {"bytes": size, "records": records, "instance_connect_records": events, "passes": passes,
        "gzipped": out.stat().st_size}
out.with_name(out.name + ".json").write_text(json.dumps(meta, indent=1) + "\n")
print(f"one_object: {out}: {size} bytes of JSON, {records} records ({events} Instance Connect), "
      f"{meta['gzipped']} bytes gzipped", file=sys.stderr)
