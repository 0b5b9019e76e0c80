package sts.minio_test

import data.sts.minio
import data.tests.verify_token.ec_private
import data.tests.verify_token.ec_public

iss := "https://idp.example/realms/demo"

now := floor(time.now_ns() / 1000000000)

config := {
	"providers": [{"issuer": iss, "jwks": {"keys": [ec_public]}, "audiences": ["sts"]}],
	"roles": {
		"reader": {"statements": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}]},
		"short": {"max_duration_seconds": 600, "statements": []},
	},
	"bindings": [
		{"role": "reader", "issuer": iss, "clients": ["app"]},
		{"role": "short", "issuer": iss, "clients": ["brief"]},
	],
}

token(extra) := io.jwt.encode_sign(
	{"alg": "ES256", "kid": ec_private.kid, "typ": "JWT"},
	object.union({"iss": iss, "aud": "sts", "sub": "svc-1", "azp": "app", "iat": now, "exp": now + 3000}, extra),
	ec_private,
)

decide(tok, cfg) := d if {
	d := minio.identity with data.opa_sts as cfg with input as {"token": tok}
}

test_bound_identity_is_answered_with_user_validity_and_claims if {
	d := decide(token({"groups": ["/team-a"], "parent": "root", "roleArn": "x", "sessionPolicy": "e30="}), config)
	d.allow
	d.user == "svc-1"
	d.max_validity_seconds == 3600
	d.roles == ["reader"]

	# MinIO's own claims are not passed on; the subject travels as opa_sts_sub.
	d.claims == {"iss": iss, "aud": "sts", "azp": "app", "groups": ["/team-a"], "opa_sts_sub": "svc-1"}
}

test_unbound_identity_is_refused_before_minio_mints if {
	d := decide(token({"azp": "stranger"}), config)
	not d.allow
	d.rule == "bindings"
	not d.user
}

test_invalid_tokens_are_refused_with_the_reason if {
	d := decide(token({"exp": now - 3600}), config)
	not d.allow
	d.rule == "token"
	d.token_error.code == "expired"

	e := decide("not-a-jwt", config)
	not e.allow
	e.rule == "token"

	f := decide(token({"aud": "other"}), config)
	not f.allow
	f.rule == "token"
}

test_no_providers if {
	d := decide(token({}), {})
	not d.allow
	d.rule == "providers"
}

test_validity_below_minios_minimum_is_refused if {
	d := decide(token({"azp": "brief"}), config)
	not d.allow
	d.rule == "validity"
}

test_validity_follows_durations_and_the_token_clamp if {
	d := decide(token({}), object.union(config, {"durations": {"default": 7200}}))
	d.max_validity_seconds == 7200

	# clamp_to_token_exp: no longer than the token (3000 s left).
	c := decide(token({}), object.union(config, {"durations": {"clamp_to_token_exp": true}}))
	c.max_validity_seconds <= 3000
	c.max_validity_seconds >= 2990

	# and never above MinIO's maximum
	m := decide(token({}), object.union(config, {"durations": {"default": 40000000, "max": 40000000}}))
	m.max_validity_seconds == 31536000
}

test_token_without_subject_is_the_client if {
	tok := io.jwt.encode_sign(
		{"alg": "ES256", "kid": ec_private.kid, "typ": "JWT"},
		{"iss": iss, "aud": "sts", "azp": "app", "iat": now, "exp": now + 3000},
		ec_private,
	)
	d := decide(tok, config)
	d.allow
	d.user == "client:app"
	not d.claims.opa_sts_sub
}
