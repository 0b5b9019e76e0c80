package httpapi.authz_test

import data.httpapi.authz

iss := "https://kc.example/realms/demo"

config := {
	"providers": [{"issuer": iss, "audiences": ["sts"], "jwks": {"keys": []}}],
	"bindings": [
		{"role": "home", "issuer": iss, "realm_roles": ["s3-user"]},
		{"role": "readers", "issuer": iss, "groups": ["/analytics"]},
	],
	"roles": {
		"home": {"statements": [
			{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::data/home/${jwt:preferred_username}/*"},
			{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data", "Condition": {"StringLike": {"s3:prefix": "home/${jwt:preferred_username}/*"}}},
			{"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
		]},
		"readers": {"statements": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]},
	},
}

claims := {
	"iss": iss, "sub": "0f3c", "azp": "minio", "preferred_username": "alice", "accessKey": "ABCDEFGHIJKLMNOPQRST",
	"exp": 4102444800, "realm_access": {"roles": ["s3-user"]}, "groups": ["/analytics"],
}

# An input exactly as MinIO sends it; extra replaces top-level members.
minio(action, bucket, obj, extra) := object.union(object.remove(base(action, bucket, obj), object.keys(extra)), extra)

base(action, bucket, obj) := {
	"account": "ABCDEFGHIJKLMNOPQRST", "groups": null, "action": action, "originalAction": action,
	"bucket": bucket, "object": obj, "owner": false, "denyOnly": false, "claims": claims,
	"conditions": {
		"CurrentTime": ["2026-11-28T20:26:12Z"], "EpochTime": ["1795900000"], "SourceIp": ["10.1.2.3"],
		"principaltype": ["User"], "userid": ["ABCDEFGHIJKLMNOPQRST"], "username": ["ABCDEFGHIJKLMNOPQRST"],
		"authType": ["REST-HEADER"], "signatureversion": ["AWS4-HMAC-SHA256"], "secureTransport": ["false"],
	},
}

allowed(req) if authz.allow with input as req with data.opa_sts as config

test_own_home_object if {
	allowed(minio("s3:GetObject", "data", "home/alice/notes.txt", {}))
	allowed(minio("s3:PutObject", "data", "home/alice/new.txt", {}))
}

test_other_home_denied if {
	not allowed(minio("s3:GetObject", "data", "home/bob/notes.txt", {}))
}

test_explicit_deny if {
	d := authz.decision with input as minio("s3:DeleteObject", "data", "home/alice/notes.txt", {}) with data.opa_sts as config
	not d.allow
	d.rule == "statements"
}

test_list_with_prefix_condition if {
	ok := minio("s3:ListBucket", "data", "", {})
	allowed(object.union(ok, {"conditions": object.union(ok.conditions, {"prefix": ["home/alice/"]})}))
	not allowed(object.union(ok, {"conditions": object.union(ok.conditions, {"prefix": ["home/bob/"]})}))
}

test_source_ip_condition if {
	allowed(minio("s3:GetObject", "shared", "report.csv", {}))
	far := minio("s3:GetObject", "shared", "report.csv", {})
	not allowed(object.union(far, {"conditions": object.union(far.conditions, {"SourceIp": ["192.0.2.1"]})}))
}

test_owner_is_allowed if {
	allowed(minio("s3:DeleteBucket", "data", "", {"owner": true, "claims": {}}))
}

test_deny_only if {
	allowed(minio("s3:GetObject", "other", "x", {"denyOnly": true}))
	not allowed(minio("s3:DeleteObject", "data", "x", {"denyOnly": true}))
}

test_unmapped_identity_is_denied if {
	not allowed(minio("s3:GetObject", "data", "home/alice/notes.txt", {"claims": {"iss": iss, "sub": "x"}}))
	not allowed(minio("s3:GetObject", "data", "home/alice/notes.txt", {"claims": {}}))
	not allowed(object.remove(minio("s3:GetObject", "data", "home/alice/notes.txt", {}), ["claims"]))
}

test_claims_of_another_issuer_do_not_map if {
	other := object.union(claims, {"iss": "https://evil.example"})
	not allowed(minio("s3:GetObject", "data", "home/alice/notes.txt", {"claims": other}))
}

# MinIO copies request headers and query parameters into the conditions: a
# client outside 10.0.0.0/8 that adds a header "SourceIp: 10.1.2.3" (sent
# as "Sourceip") or a query parameter "aws:SourceIp=10.1.2.3" is not let in.
test_source_ip_cannot_be_spoofed_through_headers_or_query if {
	far := minio("s3:GetObject", "shared", "report.csv", {})
	not allowed(object.union(far, {"conditions": object.union(far.conditions, {"SourceIp": ["192.0.2.1"], "Sourceip": ["10.1.2.3"]})}))
	not allowed(object.union(far, {"conditions": object.union(far.conditions, {"SourceIp": ["192.0.2.1"], "aws:SourceIp": ["10.1.2.3"]})}))
}

# MinIO forwards the session policy of its STS calls as
# claims.sessionPolicy (base64 JSON): it only narrows.
with_session_policy(policy) := object.union(claims, {"sessionPolicy": base64.encode(json.marshal(policy))})

only_own_reads := {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/home/alice/*"}]}

test_session_policy_narrows if {
	c := with_session_policy(only_own_reads)
	authz.allow with input as minio("s3:GetObject", "data", "home/alice/a.txt", {"claims": c}) with data.opa_sts as config
	not authz.allow with input as minio("s3:PutObject", "data", "home/alice/a.txt", {"claims": c}) with data.opa_sts as config
}

test_session_policy_never_widens if {
	c := with_session_policy({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
	not authz.allow with input as minio("s3:GetObject", "data", "home/bob/a.txt", {"claims": c}) with data.opa_sts as config
	not authz.allow with input as minio("s3:DeleteObject", "data", "home/alice/a.txt", {"claims": c}) with data.opa_sts as config
}

test_session_policy_deny_wins if {
	c := with_session_policy({"Statement": [
		{"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
		{"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/home/alice/private/*"},
	]})
	authz.allow with input as minio("s3:GetObject", "data", "home/alice/a.txt", {"claims": c}) with data.opa_sts as config
	not authz.allow with input as minio("s3:GetObject", "data", "home/alice/private/a.txt", {"claims": c}) with data.opa_sts as config
}

test_unreadable_session_policy_denies_everything if {
	every bad in ["not base64!", base64.encode("{not json"), base64.encode("[1]")] {
		c := object.union(claims, {"sessionPolicy": bad})
		not authz.allow with input as minio("s3:GetObject", "data", "home/alice/a.txt", {"claims": c}) with data.opa_sts as config
	}
}
