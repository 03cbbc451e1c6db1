"""Peer: DuckDB on two threads, reading every object with read_json_objects and filtering the
records with json_extract."""
import sys

import duckdb

con = duckdb.connect()
con.execute("SET threads = 2")
query = f"""
SELECT count(*) FROM (
  SELECT unnest(json_extract(json, '$.Records[*]')) AS record
  FROM read_json_objects('{sys.argv[1]}/**/*.json.gz', format = 'unstructured')
) WHERE json_extract_string(record, '$.eventSource') = 'ec2-instance-connect.amazonaws.com'
"""
print(con.execute(query).fetchone()[0])
