#!/bin/sh
# One sharded run on AWS Batch: submits the scan as an array job of N children (child I runs
# `trailscope scan --shard env/N`, which takes I from AWS_BATCH_JOB_ARRAY_INDEX), then the merge
# as a job that depends on the whole array: Batch starts it once every child has succeeded, and
# never if one fails. The report ends up at s3://WORK_BUCKET/reports/RUN/report.json.
#
# Register the two job definitions once (after filling in their placeholders):
#   aws batch register-job-definition --cli-input-json file://deploy/aws-batch/scan-job-definition.json
#   aws batch register-job-definition --cli-input-json file://deploy/aws-batch/merge-job-definition.json
set -eu

if [ $# -lt 2 ] || [ $# -gt 4 ]; then
  echo "usage: $0 JOB_QUEUE N [RUN] [MERGE_JOB_QUEUE]" >&2
  exit 2
fi
queue=$1 n=$2
# RUN names the run (partials/RUN/ and reports/RUN/): by default the UTC time, which keeps runs
# apart; a merge reads every partial under partials/RUN/, so never reuse one.
run=${3:-$(date -u +%Y%m%d-%H%M%S)}
merge_queue=${4:-$queue}

# N is both the array's size and the N of --shard env/N: they come from the one variable here.
scan=$(aws batch submit-job --query jobId --output text --cli-input-json "{
  \"jobName\": \"trailscope-scan-$run\",
  \"jobQueue\": \"$queue\",
  \"jobDefinition\": \"trailscope-scan\",
  \"arrayProperties\": {\"size\": $n},
  \"containerOverrides\": {\"environment\": [
    {\"name\": \"RUN\", \"value\": \"$run\"},
    {\"name\": \"SHARDS\", \"value\": \"$n\"}
  ]}
}")
echo "submit.sh: scan $scan: run $run, $n shards" >&2

# No "type" in dependsOn: N_TO_N would pair child I of the scan with child I of an array merge,
# while the merge is one job that waits for the whole array.
merge=$(aws batch submit-job --query jobId --output text --cli-input-json "{
  \"jobName\": \"trailscope-merge-$run\",
  \"jobQueue\": \"$merge_queue\",
  \"jobDefinition\": \"trailscope-merge\",
  \"dependsOn\": [{\"jobId\": \"$scan\"}],
  \"containerOverrides\": {\"environment\": [{\"name\": \"RUN\", \"value\": \"$run\"}]}
}")
echo "submit.sh: merge $merge after $scan; the report will be at reports/$run/report.json" >&2
