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

# Root is the operator's choice in data: allowed by default, denied when
# data.opa_sts.minio.owner is "deny" (then root is an ordinary identity
# without claims, and nothing allows it).
test_owner_is_the_operators_choice if {
	root := minio("s3:DeleteBucket", "data", "", {"owner": true, "claims": {}, "account": "minioadmin"})
	allowed(root)
	authz.allow with input as root with data.opa_sts as object.union(config, {"minio": {"owner": "allow"}})
	not authz.allow with input as root with data.opa_sts as object.union(config, {"minio": {"owner": "deny"}})
	d := authz.decision with input as root with data.opa_sts as object.union(config, {"minio": {"owner": "deny"}})
	not d.allow
	d.rule == "statements"
}

internal := object.union(config, {"minio": {
	"users": {"carol": ["readers"]},
	"groups": {"auditors": ["readers"]},
}})

# MinIO's own users: the parent of an STS session or service account, or
# the account itself; only for credentials without an issuer.
test_minio_users_by_parent_or_account if {
	svc := minio("s3:GetObject", "shared", "report.csv", {"account": "SVCACCOUNTKEY", "claims": {"parent": "carol", "sa-policy": "inherited-policy", "accessKey": "SVCACCOUNTKEY"}})
	authz.allow with input as svc with data.opa_sts as internal
	user := minio("s3:GetObject", "shared", "report.csv", {"account": "carol", "claims": {}})
	authz.allow with input as user with data.opa_sts as internal
	other := minio("s3:GetObject", "shared", "report.csv", {"account": "dave", "claims": {}})
	not authz.allow with input as other with data.opa_sts as internal
}

# An identity provider's token cannot name a MinIO user: a "parent" claim
# next to an issuer is not MinIO's.
test_idp_claims_cannot_claim_a_minio_user if {
	forged := minio("s3:GetObject", "shared", "report.csv", {"claims": {"iss": "https://other.example", "sub": "x", "parent": "carol"}})
	not authz.allow with input as forged with data.opa_sts as internal
}

test_minio_groups if {
	g := minio("s3:GetObject", "shared", "report.csv", {"account": "erin", "claims": {}, "groups": ["auditors"]})
	authz.allow with input as g with data.opa_sts as internal
	h := minio("s3:GetObject", "shared", "report.csv", {"account": "erin", "claims": {}, "groups": ["interns"]})
	not authz.allow with input as h with data.opa_sts as internal
}

# A service account of an STS user carries its parent's claims, and its
# embedded policy as sessionPolicy: the parent's roles, narrowed.
test_service_account_of_an_sts_user if {
	sa_claims := object.union(object.remove(claims, ["exp"]), {
		"parent": "pHash", "sa-policy": "embedded-policy",
		"sessionPolicy": base64.encode(json.marshal({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/home/alice/public/*"}]})),
	})
	allowed(minio("s3:GetObject", "data", "home/alice/public/a.txt", {"claims": sa_claims}))
	not allowed(minio("s3:GetObject", "data", "home/alice/private.txt", {"claims": sa_claims}))
	inherited := object.union(object.remove(claims, ["exp"]), {"parent": "pHash", "sa-policy": "inherited-policy"})
	allowed(minio("s3:GetObject", "data", "home/alice/private.txt", {"claims": inherited}))
}

# AssumeRoleWithCustomToken sessions: MinIO's sub is "custom:<user>"; the
# identity plugin's opa_sts_sub is the token's subject, which the bindings
# and ${jwt:sub} see.
custom_config := object.union(config, {
	"bindings": [{"role": "mine", "issuer": iss, "subjects": ["0f3c"]}],
	"roles": {"mine": {"statements": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::homes/${jwt:sub}/*"}]}},
})

custom_claims := {
	"iss": iss, "azp": "minio", "opa_sts_sub": "0f3c", "sub": "custom:0f3c", "parent": "custom:0f3c",
	"roleArn": "arn:minio:iam:::role/opa-sts", "exp": 4102444800, "accessKey": "ABCDEFGHIJKLMNOPQRST",
}

test_custom_token_sessions_map_the_tokens_subject if {
	req := minio("s3:GetObject", "homes", "0f3c/a.txt", {"claims": custom_claims})
	authz.allow with input as req with data.opa_sts as custom_config
	not authz.allow with input as minio("s3:GetObject", "homes", "custom:0f3c/a.txt", {"claims": custom_claims}) with data.opa_sts as custom_config

	# opa_sts_sub is only read where MinIO's own sub and parent say custom token
	openid := object.union(custom_claims, {"sub": "someone", "parent": "custom:0f3c"})
	not authz.allow with input as minio("s3:GetObject", "homes", "0f3c/a.txt", {"claims": openid}) with data.opa_sts as custom_config
}

# ${aws:username} is MinIO's own value, the first "username" of its
# conditions: the user, the parent of derived credentials, a hash for an
# OpenID session. A client's query parameter of that name comes after it.
with_username(req, names) := object.union(req, {"conditions": object.union(req.conditions, {"username": names})})

test_aws_username_is_minios_username if {
	homes := object.union(config, {
		"roles": object.union(config.roles, {"own": {"statements": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::homes/${aws:username}/*"}]}}),
		"minio": {"users": {"carol": ["own"]}},
		"bindings": array.concat(config.bindings, [{"role": "own", "issuer": iss, "realm_roles": ["s3-user"]}]),
	})
	svc := with_username(minio("s3:GetObject", "homes", "carol/a.txt", {"account": "SVCACCOUNTKEY", "claims": {"parent": "carol", "sa-policy": "inherited-policy"}}), ["carol"])
	authz.allow with input as svc with data.opa_sts as homes
	authz.allow with input as with_username(svc, ["carol", "dave"]) with data.opa_sts as homes
	not authz.allow with input as with_username(object.union(svc, {"object": "dave/a.txt"}), ["carol", "dave"]) with data.opa_sts as homes
	oidc := with_username(minio("s3:GetObject", "homes", "Xh4sh/a.txt", {}), ["Xh4sh"])
	authz.allow with input as oidc with data.opa_sts as homes
	not authz.allow with input as object.union(oidc, {"object": "0f3c/a.txt"}) with data.opa_sts as homes
}

# Root's service accounts and STS sessions with a session policy: MinIO
# sends owner false and decides by the session policy alone.
root_sp := base64.encode(json.marshal({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "arn:aws:s3:::reports/*"}]}))

root_svc(action, obj, ptype) := object.union(
	minio(action, "reports", obj, {"account": "ROOTSVC", "claims": {"parent": "minioadmin", "sa-policy": "embedded-policy", "sessionPolicy": root_sp}}),
	{"conditions": object.union(base("x", "y", "").conditions, {"principaltype": ptype})},
)

test_owner_derived_with_a_session_policy if {
	allowed(root_svc("s3:GetObject", "q3.csv", ["Account"]))
	not allowed(root_svc("s3:PutObject", "q3.csv", ["Account"]))
	not allowed(root_svc("s3:GetObject", "q3.csv", ["User"]))
	not allowed(root_svc("s3:GetObject", "q3.csv", ["User", "Account"]))
	not authz.allow with input as root_svc("s3:GetObject", "q3.csv", ["Account"]) with data.opa_sts as object.union(config, {"minio": {"owner": "deny"}})

	# the session policy matches bucket requests as MinIO does: reports/* covers the bucket
	allowed(root_svc("s3:ListBucket", "", ["Account"]))
	not allowed(object.union(root_svc("s3:ListBucket", "", ["Account"]), {"bucket": "other"}))
}

# MinIO's policy claim as migrated: bindings on claim_lists (a
# comma-separated string), and ${jwt:groups} standing for every group
# (MinIO substitutes only the first).
test_migrated_policy_claim_and_group_buckets if {
	migrated := object.union(config, {
		"bindings": [{"role": "team-buckets", "issuer": iss, "claim_lists": {"policy": ["team-buckets"]}}],
		"roles": {"team-buckets": {"statements": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::${jwt:groups}/*"}]}},
	})
	session := object.union(claims, {"policy": "readonly,team-buckets", "groups": ["red", "blue"]})
	authz.allow with input as minio("s3:GetObject", "red", "a.txt", {"claims": session}) with data.opa_sts as migrated
	authz.allow with input as minio("s3:GetObject", "blue", "a.txt", {"claims": session}) with data.opa_sts as migrated
	not authz.allow with input as minio("s3:GetObject", "green", "a.txt", {"claims": session}) with data.opa_sts as migrated
	not authz.allow with input as minio("s3:GetObject", "red", "a.txt", {"claims": object.union(session, {"policy": "readonly"})}) with data.opa_sts as migrated
}
