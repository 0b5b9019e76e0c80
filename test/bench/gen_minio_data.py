"""Writes the data and the MinIO-shaped request body of the MinIO contract
load test: N roles of 10 statements, one group binding per role."""
import json, sys
n, out = int(sys.argv[1]), sys.argv[2]
iss = "https://kc.example/realms/demo"
roles, bindings = {}, []
for i in range(n):
    stmts = [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:List*"],
              "Resource": [f"arn:aws:s3:::bucket-{i}/team-{s}/${{jwt:preferred_username}}/*"],
              "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}}} for s in range(9)]
    stmts.append({"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"})
    roles[f"role-{i}"] = {"statements": stmts}
    bindings.append({"role": f"role-{i}", "issuer": iss, "groups": [f"/team-{i}"]})
json.dump({"opa_sts": {"providers": [{"issuer": iss, "audiences": ["sts"], "jwks": {"keys": []}}],
                       "roles": roles, "bindings": bindings}}, open(f"{out}/data.json", "w"))
claims = {"iss": iss, "sub": "0f3c", "azp": "minio", "preferred_username": "alice",
          "groups": [f"/team-{n // 2}", "/team-7"], "exp": 4102444800, "accessKey": "ABCDEFGHIJKLMNOPQRST"}
inp = {"account": "ABCDEFGHIJKLMNOPQRST", "groups": None, "action": "s3:GetObject", "originalAction": "s3:GetObject",
       "bucket": f"bucket-{n // 2}", "object": "team-8/alice/report.csv", "owner": False, "denyOnly": False,
       "claims": claims, "conditions": {"CurrentTime": ["2026-11-28T20:26:12Z"], "SourceIp": ["10.1.2.3"],
                                        "principaltype": ["User"], "username": ["ABCDEFGHIJKLMNOPQRST"]}}
json.dump({"input": inp}, open(f"{out}/body.json", "w"))
