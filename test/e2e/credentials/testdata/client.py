# boto3 (the machine image's) as an unchanged SDK client: credentials from
# its own chain (a profile's credential_process or web identity settings,
# or the container provider), then S3 on the gateway. Driven by
# test/e2e/credentials; prints one JSON object with what happened.
#
#   S3_URL=http://127.0.0.1:P BUCKET=b KEY=k OUTSIDE=o [PROFILE=p] [LOOP_SECONDS=n] python3 client.py
import json
import os
import sys
import time

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

out = {"versions": {"boto3": boto3.__version__, "botocore": botocore.__version__}}


def outcome(name, f):
    try:
        out[name] = {"ok": True, "value": f()}
    except ClientError as e:
        out[name] = {"ok": False, "error": e.response["Error"]["Code"], "message": e.response["Error"].get("Message", "")}
    except Exception as e:  # credentials failures: the SDK's own exception
        out[name] = {"ok": False, "error": type(e).__name__, "message": str(e)}


session = boto3.Session(profile_name=os.environ.get("PROFILE") or None)
bucket, key = os.environ["BUCKET"], os.environ["KEY"]
# boto3 resolves the credentials when it creates the client: a refusal
# already shows there.
outcome("client", lambda: bool(session.client("s3", endpoint_url=os.environ["S3_URL"], region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))))
if not out["client"]["ok"]:
    for step in ("put", "get", "outside", "access_key"):
        out[step] = out["client"]
    json.dump(out, sys.stdout)
    sys.exit(0)
s3 = session.client("s3", endpoint_url=os.environ["S3_URL"], region_name="us-east-1",
                    config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))


def access_key():
    return session.get_credentials().get_frozen_credentials().access_key


outcome("put", lambda: bool(s3.put_object(Bucket=bucket, Key=key, Body=b"from boto3")))
outcome("get", lambda: s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())
outcome("outside", lambda: bool(s3.put_object(Bucket=bucket, Key=os.environ["OUTSIDE"], Body=b"x")))
outcome("access_key", access_key)

loop = int(os.environ.get("LOOP_SECONDS") or 0)
if loop:
    keys, failures, rounds = [], [], 0
    end = time.time() + loop
    while time.time() < end:
        rounds += 1
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=("round %d" % rounds).encode())
            k = access_key()
            if k not in keys:
                keys.append(k)
        except ClientError as e:
            failures.append(e.response["Error"]["Code"])
        except Exception as e:
            failures.append(type(e).__name__ + ": " + str(e))
        time.sleep(2)
    out["loop"] = {"rounds": rounds, "failures": failures, "access_keys": keys}

json.dump(out, sys.stdout)
