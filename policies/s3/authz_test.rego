package s3_test

import data.s3

statements := [
	{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::data/home/${jwt:preferred_username}/*"},
	{"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::data/home/*/readonly/*"},
]

grant := {
	"subject": "alice", "duration_seconds": 3600, "permissions": statements,
	"variables": {"jwt:preferred_username": "alice", "aws:username": "alice"},
}

creds(g) := sts.issue_credentials(g)

check(c, action, bucket, obj) := d if {
	d := s3.decision with input as {
		"access_key_id": c.access_key_id, "session_token": c.session_token,
		"action": action, "bucket": bucket, "object": obj, "conditions": {"aws:SourceIp": ["10.1.2.3"]},
	}
}

test_allowed_by_the_sessions_statements if {
	c := creds(grant)
	d := check(c, "s3:GetObject", "data", "home/alice/a.txt")
	d.allow
	d.decision == "allow"
	d.session_id == c.session_id
}

test_no_match_outside_the_grant if {
	d := check(creds(grant), "s3:GetObject", "data", "home/bob/a.txt")
	not d.allow
	d.decision == "no_match"
}

test_explicit_deny if {
	check(creds(grant), "s3:PutObject", "data", "home/alice/readonly/x").decision == "deny"
}

test_session_policy_narrows if {
	c := creds(object.union(grant, {"session_policy": {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}}))
	check(c, "s3:GetObject", "data", "home/alice/a.txt").decision == "allow"
	check(c, "s3:PutObject", "data", "home/alice/a.txt").decision == "no_match"
	check(c, "s3:GetObject", "data", "home/bob/a.txt").decision == "no_match"
}

test_session_policy_deny_wins if {
	c := creds(object.union(grant, {"session_policy": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}))
	check(c, "s3:GetObject", "data", "home/alice/a.txt").decision == "deny"
}

test_tampered_or_foreign_session_is_denied if {
	# Distinct arguments: OPA caches a function's result per argument within a query.
	c := creds(object.union(grant, {"nonce": 1}))
	d := creds(object.union(grant, {"nonce": 2}))
	forged := {"access_key_id": d.access_key_id, "session_token": c.session_token}
	r := check(forged, "s3:GetObject", "data", "home/alice/a.txt")
	not r.allow
	r.rule == "session"
	not s3.allow with input as {"access_key_id": "X", "session_token": "garbage", "action": "s3:GetObject", "bucket": "data", "object": "k"}
}

test_bucket_level_request if {
	c := creds(object.union(grant, {"permissions": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data"}]}))
	check(c, "s3:ListBucket", "data", "").allow
}

test_resource_as_an_arn if {
	c := creds(grant)
	d := s3.decision with input as {
		"access_key_id": c.access_key_id, "session_token": c.session_token,
		"action": "s3:GetObject", "resource": "arn:aws:s3:::data/home/alice/a.txt",
	}
	d.allow
}

# Session tags are aws:PrincipalTag/<key> conditions and variables; the
# gateway's conditions cannot override them.
tagged := object.union(grant, {
	"tags": {"table": "orders", "team": "sales"},
	"permissions": [
		{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/${aws:PrincipalTag/table}/*"},
		{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "sales"}}},
	],
	"variables": {"aws:PrincipalTag/table": "orders"},
})

test_session_tags_as_variables_and_conditions if {
	c := creds(tagged)
	check(c, "s3:GetObject", "lake", "orders/part-0.parquet").allow
	not check(c, "s3:GetObject", "lake", "customers/part-0.parquet").allow
	check(c, "s3:PutObject", "lake", "orders/x").allow
	untagged := creds(object.remove(tagged, ["tags"]))
	not check(untagged, "s3:PutObject", "lake", "orders/x").allow
}

test_gateway_conditions_cannot_forge_a_tag if {
	c := creds(object.union(tagged, {"tags": {"table": "orders", "team": "support"}}))
	d := s3.decision with input as {
		"access_key_id": c.access_key_id, "session_token": c.session_token,
		"action": "s3:PutObject", "bucket": "lake", "object": "orders/x",
		"conditions": {"aws:PrincipalTag/team": ["sales"]},
	}
	not d.allow
}

# The list conditions catalogs use: s3:prefix and s3:delimiter, as
# versitygw puts them in the request's conditions.
list_decision(c, conds) := d if {
	d := s3.decision with input as {
		"access_key_id": c.access_key_id, "session_token": c.session_token,
		"action": "s3:ListBucket", "bucket": "lake", "object": "", "conditions": conds,
	}
}

test_list_conditions_prefix_and_delimiter if {
	c := creds(object.union(grant, {"permissions": [{
		"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::lake",
		"Condition": {"StringLike": {"s3:prefix": "orders/*"}, "StringEquals": {"s3:delimiter": "/"}},
	}]}))
	list_decision(c, {"s3:prefix": ["orders/"], "s3:delimiter": ["/"]}).allow
	not list_decision(c, {"s3:prefix": ["orders/"]}).allow
	not list_decision(c, {"s3:prefix": ["customers/"], "s3:delimiter": ["/"]}).allow
}
