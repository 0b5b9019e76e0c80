package sts.explain_test

import data.sts.explain

iss := "https://kc.example/realms/demo"

config := {
	"providers": [{"issuer": iss, "audiences": ["sts"], "jwks": {"keys": []}}],
	"bindings": [{"role": "reader", "issuer": iss, "realm_roles": ["s3-read"]}],
	"roles": {"reader": {"statements": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}},
}

explain_claims(claims) := r if {
	r := explain.result with data.opa_sts as config with input as {"claims": claims, "duration_seconds": 0}
}

test_explains_a_grant if {
	r := explain_claims({"iss": iss, "sub": "u1", "realm_access": {"roles": ["s3-read"]}})
	r.allow
	r.identity.roles == ["reader"]
	r.permissions == config.roles.reader.statements
	r.duration_seconds == 3600
}

test_explains_a_denial if {
	r := explain_claims({"iss": iss, "sub": "u1"})
	not r.allow
	r.reason == "no binding applies to this identity"
	not explain_claims({"iss": iss}).allow
}
