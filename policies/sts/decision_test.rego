package sts_test

import data.sts
import data.tests.verify_token.ec_private
import data.tests.verify_token.ec_public

iss := "https://idp.example/realms/demo"

now := floor(time.now_ns() / 1000000000)

config := {
	"providers": [{"issuer": iss, "jwks": {"keys": [ec_public]}, "audiences": ["sts"]}],
	"roles": {
		"reader": {"statements": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}]},
		"writer": {"statements": [{"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::b/*"]}]},
	},
	"bindings": [
		{"role": "reader", "issuer": iss, "clients": ["app"]},
		{"role": "writer", "issuer": iss, "subjects": ["svc-writer"]},
		{"role": "writer", "issuer": "https://other.example", "clients": ["app"]},
	],
}

token(extra) := io.jwt.encode_sign(
	{"alg": "ES256", "kid": ec_private.kid, "typ": "JWT"},
	object.union({"iss": iss, "aud": "sts", "sub": "svc-1", "azp": "app", "iat": now, "exp": now + 300}, extra),
	ec_private,
)

decide(tok, duration) := d if {
	d := sts.decision with data.opa_sts as config
		with input as {"action": "AssumeRoleWithClientGrants", "token": tok, "duration_seconds": duration}
}

test_allow_bound_client if {
	d := decide(token({}), 0)
	d.allow
	d.rule == "bindings"
	d.grant.subject == "svc-1"
	d.grant.roles == ["reader"]
	d.grant.permissions == config.roles.reader.statements
	d.grant.source == {"iss": iss, "sub": "svc-1", "client_id": "app", "aud": "sts"}
	d.grant.duration_seconds == 3600
}

test_roles_by_subject_add_up if {
	d := decide(token({"sub": "svc-writer"}), 0)
	d.grant.roles == ["reader", "writer"]
	count(d.grant.permissions) == 2
}

test_binding_of_another_issuer_does_not_apply if {
	d := decide(token({"azp": "other-app"}), 0)
	not d.allow
	d.rule == "bindings"
}

test_duration_rules if {
	decide(token({}), 7200).grant.duration_seconds == 7200
	decide(token({}), 300).grant.duration_seconds == 900 # Keycloak's 300 s token lifetime: clamped up
	decide(token({}), 100000).grant.duration_seconds == 43200
}

test_custom_durations if {
	d := sts.decision with data.opa_sts as object.union(config, {"durations": {"default": 1800, "max": 3600}})
		with input as {"token": token({}), "duration_seconds": 0}
	d.grant.duration_seconds == 1800
}

test_token_failure_carries_the_code if {
	d := decide(token({"exp": now - 3600}), 0)
	not d.allow
	d.token_error.code == "expired"
	d.rule == "token"
}

test_untrusted_issuer if {
	decide(token({"iss": "https://evil.example"}), 0).token_error.code == "wrong_issuer"
}

test_no_providers if {
	d := sts.decision with data.opa_sts as {} with input as {"token": token({})}
	not d.allow
	d.rule == "providers"
}

test_subject_from_client_id_when_sub_is_missing if {
	# WSO2 client-credentials tokens may carry no sub.
	tok := io.jwt.encode_sign(
		{"alg": "ES256", "kid": ec_private.kid, "typ": "JWT"},
		{"iss": iss, "aud": "sts", "azp": "app", "client_id": "app", "exp": now + 300},
		ec_private,
	)
	d := decide(tok, 0)
	d.grant.subject == "client:app"
	d.grant.source.sub == ""
}

# A client registered under a user's name is not that user: its subject
# (and so ${aws:username}, subject revocation, the principal) is in the
# client namespace.
test_a_client_named_like_a_user_is_not_the_user if {
	id := sts.mapping.identity({"iss": iss, "azp": "alice", "client_id": "alice"})
	id.subject == "client:alice"
	id.variables["aws:username"] == "client:alice"
	not id.variables["jwt:sub"]
}

test_client_id_claim_when_no_azp if {
	d := decide(token({"azp": null, "client_id": "app"}), 0)
	d.allow
	d.grant.source.client_id == "app"
}

test_no_subject_at_all if {
	tok := io.jwt.encode_sign(
		{"alg": "ES256", "kid": ec_private.kid, "typ": "JWT"},
		{"iss": iss, "aud": "sts", "exp": now + 300},
		ec_private,
	)
	d := decide(tok, 0)
	not d.allow
	d.rule == "subject"
}

test_subject_claim_setting if {
	cfg := object.union(config, {"providers": [object.union(config.providers[0], {"subject_claim": "preferred_username"})]})
	d := sts.decision with data.opa_sts as cfg
		with input as {"token": token({"preferred_username": "svc-writer"}), "duration_seconds": 0}
	d.grant.subject == "svc-writer"
}

test_session_policy_travels_in_the_grant if {
	policy := {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
	d := sts.decision with data.opa_sts as config
		with input as {"token": token({}), "duration_seconds": 0, "policy_document": policy}
	d.grant.session_policy == policy
}

test_provider_durations_override if {
	cfg := object.union(config, {"providers": [object.union(config.providers[0], {"durations": {"default": 600, "min": 300}})]})
	d := sts.decision with data.opa_sts as cfg with input as {"token": token({}), "duration_seconds": 0}
	d.grant.duration_seconds == 600
	e := sts.decision with data.opa_sts as cfg with input as {"token": token({}), "duration_seconds": 60}
	e.grant.duration_seconds == 300
}

test_role_caps_the_duration if {
	cfg := object.union(config, {"roles": object.union(config.roles, {"reader": object.union(config.roles.reader, {"max_duration_seconds": 1800})})})
	d := sts.decision with data.opa_sts as cfg with input as {"token": token({}), "duration_seconds": 7200}
	d.grant.duration_seconds == 1800
}

test_clamp_to_token_exp if {
	cfg := object.union(config, {"durations": {"clamp_to_token_exp": true, "min": 60}})
	d := sts.decision with data.opa_sts as cfg with input as {"token": token({"exp": now + 1000}), "duration_seconds": 7200}
	d.grant.duration_seconds <= 1000
	d.grant.duration_seconds >= 990
}

# PolicyArns would narrow the credentials; they cannot be honoured, so the
# request is refused rather than granted in full.
test_policy_arns_are_refused if {
	d := sts.decision with data.opa_sts as config
		with input as {"action": "AssumeRoleWithWebIdentity", "token": token({}), "duration_seconds": 0, "policy_arns": ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]}
	not d.allow
	d.rule == "policy_arns"
	d.error_code == "InvalidParameterValue"
}

web(tok, role_arn) := d if {
	d := sts.decision with data.opa_sts as config
		with input as {"action": "AssumeRoleWithWebIdentity", "token": tok, "duration_seconds": 0, "role_arn": role_arn}
}

# svc-writer (client app) is bound to reader and writer.
test_role_arn_selects_a_bound_role if {
	both := web(token({"sub": "svc-writer"}), "arn:aws:iam::000000000000:role/any")
	both.grant.roles == ["reader", "writer"]
	only := web(token({"sub": "svc-writer"}), "arn:aws:iam::000000000000:role/reader")
	only.allow
	only.grant.roles == ["reader"]
	only.grant.permissions == config.roles.reader.statements
	with_path := web(token({"sub": "svc-writer"}), "arn:aws:iam::000000000000:role/teams/writer")
	with_path.grant.roles == ["writer"]
}

test_role_arn_naming_an_unbound_role_is_denied if {
	d := web(token({}), "arn:aws:iam::000000000000:role/writer") # svc-1 is a reader only
	not d.allow
	d.rule == "role_arn"
	contains(d.reason, "writer")
}

# A grant carries only the variables its statements use: a token with a
# thousand claims does not make a thousand-variable session token.
test_grant_carries_only_the_variables_its_statements_use if {
	claims := {c: "x" | some i in numbers.range(1, 300); c := sprintf("claim%d", [i])}
	tok := token(claims)
	cfg := json.patch(config, [{"op": "replace", "path": "/roles/reader/statements", "value": [{
		"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::home/${jwt:claim7}/*",
	}]}])
	d := sts.decision with data.opa_sts as cfg
		with input as {"action": "AssumeRoleWithClientGrants", "token": tok, "duration_seconds": 0}
	d.allow
	d.grant.variables == {"jwt:claim7": "x"}
}

tags_claim(principal, transitive) := {"https://aws.amazon.com/tags": {"principal_tags": principal, "transitive_tag_keys": transitive}}

test_web_identity_tags_travel_in_the_grant if {
	d := decide(token(tags_claim({"Project": ["Automation"], "CostCenter": ["987654"]}, ["Project"])), 0)
	d.allow
	d.grant.tags == {"Project": "Automation", "CostCenter": "987654"}
	d.grant.transitive_tag_keys == ["Project"]

	# AWS's bounds themselves are accepted: a 128-character key, a
	# 256-character value, an empty value, spaces and _.:/=+-@
	k128 := concat("", ["k" | some _ in numbers.range(1, 128)])
	v256 := concat("", ["v" | some _ in numbers.range(1, 256)])
	b := decide(token(tags_claim({k128: [v256], "e": [""], "a b_.:/=+-@": ["ok"]}, [k128])), 0)
	b.allow
	b.grant.tags[k128] == v256

	# no claim, no tags in the grant (smaller tokens)
	e := decide(token({}), 0)
	not e.grant.tags
}

test_web_identity_tags_outside_awss_limits_are_refused if {
	too_many := {sprintf("k%d", [i]): ["v"] | some i in numbers.range(1, 51)}
	every bad in [
		tags_claim(too_many, []),
		tags_claim({"aws:reserved": ["v"]}, []),
		tags_claim({concat("", ["k" | some _ in numbers.range(1, 129)]): ["v"]}, []),
		tags_claim({"k": [concat("", ["v" | some _ in numbers.range(1, 257)])]}, []),
		tags_claim({"k": ["v", "w"]}, []),
		tags_claim({"k": [7]}, []),
		tags_claim({"k": ["bad\u0000value"]}, []),
		tags_claim({"Team": ["a"], "team": ["b"]}, []),
		tags_claim({"k": ["v"]}, ["other"]),
		tags_claim({"k": ["v"]}, "k"),
		{"https://aws.amazon.com/tags": "not an object"},
		{"https://aws.amazon.com/tags": {"principal_tags": ["k", "v"]}},
	] {
		d := decide(token(bad), 0)
		not d.allow
		d.rule == "tags"
		d.error_code == "InvalidIdentityToken"
	}
}

# The AssumedRoleUser travels in the grant: GetCallerIdentity repeats it.
test_web_identity_assumed_role_user if {
	d := sts.decision with data.opa_sts as config
		with input as {
			"action": "AssumeRoleWithWebIdentity", "token": token({}), "duration_seconds": 0,
			"role_arn": "arn:aws:iam::123456789012:role/etl", "role_session_name": "nightly",
		}
	d.grant.assumed_role.arn == "arn:aws:sts::123456789012:assumed-role/etl/nightly"
	startswith(d.grant.assumed_role.id, "AROA")
	endswith(d.grant.assumed_role.id, ":nightly")

	# no RoleArn naming a role, no session name: opa-sts and the subject
	e := decide(token({}), 0)
	e.grant.assumed_role.arn == "arn:aws:sts:::assumed-role/opa-sts/svc-1"

	c := sts.decision with data.opa_sts as config with input as {"action": "GetCallerIdentity", "caller": {
		"type": "session", "access_key_id": "ASIAX",
		"session": {"subject": "svc-1", "session_id": "s", "grant": d.grant},
	}}
	c.caller_identity.arn == d.grant.assumed_role.arn
	c.caller_identity.user_id == d.grant.assumed_role.id
}
