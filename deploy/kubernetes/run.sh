#!/bin/sh
# One sharded run on Kubernetes: fills in the placeholders of the manifests beside this script,
# starts the scan (an Indexed Job of N pods), waits for it, then starts the merge and waits for it.
# The report ends up at s3://WORK_BUCKET/reports/RUN/report.json.
#
#   deploy/kubernetes/run.sh IMAGE ROLE_ARN REGION TRAIL_BUCKET WORK_BUCKET N [RUN]
#
# RUN names the run (partials/RUN/, reports/RUN/ and the Jobs): by default the UTC time, which
# keeps runs apart; a merge reads every partial under partials/RUN/, so never reuse one for
# another N or other sources. kubectl's current context and namespace are used.
set -eu

if [ $# -lt 6 ] || [ $# -gt 7 ]; then
  echo "usage: $0 IMAGE ROLE_ARN REGION TRAIL_BUCKET WORK_BUCKET N [RUN]" >&2
  exit 2
fi
image=$1 role=$2 region=$3 trail=$4 work=$5 n=$6
run=${7:-$(date -u +%Y%m%d-%H%M%S)}
here=$(dirname "$0")

# The placeholders, replaced as text in every manifest.
render() {
  sed -e "s|<IMAGE>|$image|g" -e "s|<ROLE_ARN>|$role|g" -e "s|<REGION>|$region|g" \
    -e "s|<TRAIL_BUCKET>|$trail|g" -e "s|<WORK_BUCKET>|$work|g" -e "s|<N>|$n|g" \
    -e "s|<RUN>|$run|g" "$here/$1"
}

# Waits until the Job is Complete (returns 0) or Failed (returns 1).
wait_for() {
  while :; do
    conditions=$(kubectl get job "$1" -o 'jsonpath={.status.conditions[?(@.status=="True")].type}')
    case " $conditions " in
      *" Complete "*) return 0 ;;
      *" Failed "*)
        echo "run.sh: job $1 failed; see: kubectl describe job $1" >&2
        return 1 ;;
    esac
    sleep 20
  done
}

echo "run.sh: run $run, $n shards of s3://$trail/AWSLogs/" >&2
render serviceaccount.yaml | kubectl apply -f -
render scan-job.yaml | kubectl apply -f -
wait_for "trailscope-scan-$run"
render merge-job.yaml | kubectl apply -f -
wait_for "trailscope-merge-$run"
echo "run.sh: report at s3://$work/reports/$run/report.json" >&2
