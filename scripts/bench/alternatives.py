#!/usr/bin/env python3
"""Per-URL presign cost of the Python SDKs vs ls-presign, measured in one run.

    target/conformance-venv/bin/python scripts/bench/alternatives.py
    # options: --n 20000 (URLs per timing) --rounds 5 --no-rust (skip the criterion run)

Python side: boto3 `generate_presigned_url` (S3 SigV4), oss2 `Bucket.sign_url` with the default
`oss2.Auth` (OSS V1) and with `oss2.AuthV4` (OSS V4), alibabacloud-oss-v2 `Client.presign`
(OSS V4). Each is timed over --n distinct keys, --rounds times; the median round is reported.
No network I/O happens: all of them sign locally.

Rust side: `cargo bench --bench presign -- presign/` (criterion, CARGO_TARGET_DIR or
/tmp/bench-target), run between two halves of the Python rounds; the criterion medians are read
from target/criterion/presign/*/new/estimates.json. Ratios = Python median / Rust median.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

import alibabacloud_oss_v2 as oss
import boto3
import oss2
from botocore.config import Config

AK, SK = "LTAI5tBenchAccessKey01", "bench-secret-0123456789abcdefghijkl"
REGION, BUCKET = "cn-hangzhou", "my-bucket"
ENDPOINT = f"https://oss-{REGION}.aliyuncs.com"


def keys(n):
    return [f"projects/42/images/2026-11-27/IMG_{i:07}.jpg" for i in range(n)]


def boto3_signer():
    client = boto3.client(
        "s3", region_name="us-west-1", aws_access_key_id=AK, aws_secret_access_key=SK,
        config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
    return lambda k: client.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": k}, ExpiresIn=3600)


def oss2_v1_signer():
    bucket = oss2.Bucket(oss2.Auth(AK, SK), ENDPOINT, BUCKET)
    return lambda k: bucket.sign_url("GET", k, 3600)


def oss2_v4_signer():
    bucket = oss2.Bucket(oss2.AuthV4(AK, SK), ENDPOINT, BUCKET, region=REGION)
    return lambda k: bucket.sign_url("GET", k, 3600)


def oss_v2_signer():
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(AK, SK)
    cfg.region = REGION
    client = oss.Client(cfg)
    exp = datetime.timedelta(seconds=3600)
    return lambda k: client.presign(oss.GetObjectRequest(bucket=BUCKET, key=k), expires=exp).url


SDKS = {
    "boto3 generate_presigned_url (S3 SigV4)": (boto3_signer, "s3_v4_day_key_cached"),
    "oss2 Bucket.sign_url, oss2.Auth (OSS V1, oss2's default)": (oss2_v1_signer, "oss_v4_day_key_cached"),
    "oss2 Bucket.sign_url, oss2.AuthV4 (OSS V4)": (oss2_v4_signer, "oss_v4_day_key_cached"),
    "alibabacloud-oss-v2 Client.presign (OSS V4)": (oss_v2_signer, "oss_v4_day_key_cached"),
}


def time_rounds(sign, ks, rounds):
    for k in ks[:200]:  # warm-up
        sign(k)
    out = []
    for _ in range(rounds):
        t = time.perf_counter_ns()
        for k in ks:
            sign(k)
        out.append((time.perf_counter_ns() - t) / len(ks))
    return out


def rust_medians(target_dir):
    subprocess.run(["cargo", "bench", "--bench", "presign", "--", "presign/"],
                   check=True, env={**os.environ, "CARGO_TARGET_DIR": target_dir},
                   stdout=sys.stderr)
    base = os.path.join(target_dir, "criterion", "presign")
    return {name: json.load(open(os.path.join(base, name, "new", "estimates.json")))["median"]["point_estimate"]
            for name in ("oss_v4_day_key_cached", "oss_v4_cold", "s3_v4_day_key_cached")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-rust", action="store_true")
    a = ap.parse_args()
    ks = keys(a.n)
    signers = {name: make() for name, (make, _) in SDKS.items()}
    samples = {name: [] for name in SDKS}
    first = (a.rounds + 1) // 2
    for name, sign in signers.items():
        samples[name] += time_rounds(sign, ks, first)
    rust = {} if a.no_rust else rust_medians(os.environ.get("CARGO_TARGET_DIR", "/tmp/bench-target"))
    for name, sign in signers.items():
        samples[name] += time_rounds(sign, ks, a.rounds - first)
    print(f"per-URL presign cost, median of {a.rounds} rounds x {a.n} URLs (Python), criterion median (Rust)")
    for name, ns in rust.items():
        print(f"  ls-presign {name:<40} {ns / 1000:8.2f} us")
    for name, (_, rust_name) in SDKS.items():
        med = statistics.median(samples[name])
        ratio = f"{med / rust[rust_name]:7.1f}x ls-presign {rust_name}" if rust else ""
        print(f"  {name:<58} {med / 1000:8.2f} us  {ratio}")
        print(f"    rounds (us): {' '.join(f'{s / 1000:.2f}' for s in samples[name])}")


if __name__ == "__main__":
    main()
