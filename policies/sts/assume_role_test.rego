package sts.assume_role_test

import data.sts

polaris := "AKIAPOLARIS000000001"

config := {
	"principals": {
		polaris: {"name": "polaris"},
		"AKIARETIRED000000001": {"name": "old-ci", "disabled": true},
	},
	"roles": {
		"table-writer": {
			"max_duration_seconds": 7200,
			"trust": [{"principals": ["polaris"], "external_id": "lakehouse-1"}],
			"statements": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::lake/${aws:PrincipalTag/table}/*"}],
		},
		"reader": {
			"trust": [{"roles": ["etl"]}, {"subjects": ["svc-ci"]}],
			"statements": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/*"}],
		},
		"etl": {"statements": []},
		"nobody": {"trust": [{}], "statements": []},
	},
}

principal_call(extra) := object.union(
	{
		"action": "AssumeRole", "caller": {"type": "principal", "access_key_id": polaris},
		"role_arn": "arn:aws:iam::000000000000:role/table-writer", "role_session_name": "vend-orders",
		"duration_seconds": 0, "external_id": "lakehouse-1", "tags": {"table": "orders"},
	},
	extra,
)

etl_session := {"subject": "svc-etl", "session_id": "s-1", "grant": {
	"roles": ["etl"], "tags": {"team": "data", "env": "prod"}, "transitive_tag_keys": ["team"],
	"source": {"iss": "https://idp.example", "sub": "svc-etl"},
}}

session_call(session, extra) := object.union(
	{
		"action": "AssumeRole", "caller": {"type": "session", "access_key_id": "ASIAETL0000000000001", "session": session},
		"role_arn": "arn:aws:iam::000000000000:role/reader", "role_session_name": "chained", "duration_seconds": 0,
	},
	extra,
)

decide(req) := d if {
	d := sts.decision with input as req with data.opa_sts as config
}

# Negative cases first.
test_unknown_disabled_principals_are_invalid_client_token_ids if {
	every key in ["AKIANOTADDED00000001", "AKIARETIRED000000001"] {
		d := decide(principal_call({"caller": {"type": "principal", "access_key_id": key}}))
		not d.allow
		d.error_code == "InvalidClientTokenId"
	}
}

test_trust_decides if {
	# the wrong external id, none at all
	not decide(principal_call({"external_id": "guess"})).allow
	not decide(object.remove(principal_call({}), ["external_id"])).allow

	# a role that does not trust the principal, one that does not exist, a malformed ARN
	not decide(principal_call({"role_arn": "arn:aws:iam::000000000000:role/reader"})).allow
	not decide(principal_call({"role_arn": "arn:aws:iam::000000000000:role/ghost"})).allow
	not decide(principal_call({"role_arn": "table-writer"})).allow

	# an empty trust entry trusts nobody
	d := decide(principal_call({"role_arn": "arn:aws:iam::000000000000:role/nobody"}))
	not d.allow
	d.rule == "trust"
	contains(d.reason, "principal polaris is not authorized to perform sts:AssumeRole")
}

test_durations if {
	# within the role's maximum; outside it; under AWS's minimum
	decide(principal_call({"duration_seconds": 7200})).grant.duration_seconds == 7200
	decide(principal_call({"duration_seconds": 7201})).error_code == "ValidationError"
	decide(principal_call({"duration_seconds": 899})).error_code == "ValidationError"

	# default: one hour
	decide(principal_call({})).grant.duration_seconds == 3600

	# a role without max_duration_seconds: one hour, as AWS
	not decide(session_call(etl_session, {"duration_seconds": 3601})).allow
}

test_chained_sessions_get_at_most_an_hour if {
	d := decide(session_call(etl_session, {"duration_seconds": 7200}))
	not d.allow
	d.error_code == "ValidationError"
	contains(d.reason, "role chaining")
	decide(session_call(etl_session, {"duration_seconds": 3600})).allow
}

test_transitive_tags_cannot_be_overridden if {
	d := decide(session_call(etl_session, {"tags": {"Team": "other"}}))
	not d.allow
	d.error_code == "InvalidParameterValue"
}

test_at_most_50_tags if {
	many := {sprintf("k%d", [i]): "v" | some i in numbers.range(1, 50)}
	not decide(session_call(etl_session, {"tags": many})).allow
	decide(session_call(etl_session, {"tags": object.remove(many, ["k50"])})).allow
}

test_policy_arns_are_refused if {
	decide(principal_call({"policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]})).error_code == "InvalidParameterValue"
}

test_source_identity_cannot_change_in_a_chain if {
	s := object.union(etl_session, {"grant": object.union(etl_session.grant, {"source_identity": "alice"})})
	not decide(session_call(s, {"source_identity": "mallory"})).allow
	d := decide(session_call(s, {}))
	d.allow
	d.grant.source_identity == "alice"
}

# And what is allowed.
test_a_catalog_vends_table_credentials if {
	d := decide(principal_call({"policy_document": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/orders/*"}]}}))
	d.allow
	g := d.grant
	g.subject == "polaris"
	g.roles == ["table-writer"]
	g.tags == {"table": "orders"}
	g.variables == {"aws:PrincipalTag/table": "orders"}
	g.session_policy
	g.source == {"principal": "polaris", "access_key_id": polaris}
	g.assumed_role.arn == "arn:aws:sts::000000000000:assumed-role/table-writer/vend-orders"
	startswith(g.assumed_role.id, "AROA")
	endswith(g.assumed_role.id, ":vend-orders")
}

test_role_chaining_carries_transitive_tags_only if {
	d := decide(session_call(etl_session, {"tags": {"job": "nightly"}, "transitive_tag_keys": ["job"]}))
	d.allow
	d.grant.tags == {"team": "data", "job": "nightly"}
	d.grant.transitive_tag_keys == ["job", "team"]
	d.grant.source.chain == ["s-1"]
	d.grant.subject == "svc-etl"
}

test_trust_by_subject if {
	s := {"subject": "svc-ci", "session_id": "s-2", "grant": {"roles": ["other"]}}
	decide(session_call(s, {})).allow
	not decide(session_call({"subject": "svc-x", "session_id": "s-3", "grant": {"roles": ["other"]}}, {})).allow
}

test_caller_identity if {
	p := decide({"action": "GetCallerIdentity", "caller": {"type": "principal", "access_key_id": polaris}})
	p.allow
	p.caller_identity == {"arn": "arn:aws:iam::000000000000:user/polaris", "user_id": polaris, "account": "000000000000"}

	assumed := decide(principal_call({})).grant
	a := decide({"action": "GetCallerIdentity", "caller": {"type": "session", "access_key_id": "ASIAX", "session": {"subject": "polaris", "session_id": "s", "grant": assumed}}})
	a.caller_identity.arn == "arn:aws:sts::000000000000:assumed-role/table-writer/vend-orders"

	w := decide({"action": "GetCallerIdentity", "caller": {"type": "session", "access_key_id": "ASIAX", "session": etl_session}})
	w.caller_identity.arn == "arn:aws:sts::000000000000:assumed-role/etl/svc-etl"

	u := decide({"action": "GetCallerIdentity", "caller": {"type": "principal", "access_key_id": "AKIARETIRED000000001"}})
	not u.allow
	u.error_code == "InvalidClientTokenId"

	# the account id is data
	c := sts.decision with input as {"action": "GetCallerIdentity", "caller": {"type": "principal", "access_key_id": polaris}}
		with data.opa_sts as object.union(config, {"account_id": "123456789012"})
	c.caller_identity.account == "123456789012"
}
