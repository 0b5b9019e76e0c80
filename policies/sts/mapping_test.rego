package sts.mapping_test

import data.sts.mapping

iss := "https://kc.example/realms/demo"

config := {
	"providers": [{"issuer": iss, "groups_claim": "grp", "audiences": ["sts"], "jwks": {"keys": []}}],
	"bindings": [
		{"role": "by-scope", "issuer": iss, "scopes": ["s3:read"]},
		{"role": "by-group", "issuer": iss, "groups": ["/analytics"]},
		{"role": "by-realm-role", "issuer": iss, "realm_roles": ["s3-admin"]},
		{"role": "by-client-role", "issuer": iss, "client_roles": {"minio": ["writer"]}},
		{"role": "by-claim", "issuer": iss, "claims": {"tenant": ["acme"]}},
		{"role": "and", "issuer": iss, "clients": ["app"], "scopes": ["s3:write"]},
		{"role": "nothing", "issuer": iss},
		{"role": "other-issuer", "issuer": "https://other.example", "clients": ["app"]},
	],
	"roles": {"by-scope": {"statements": [{"Sid": "a"}]}, "by-group": {"statements": [{"Sid": "b"}, {"Sid": "c"}]}},
}

roles_of(claims) := r if {
	r := mapping.identity(claims).roles with data.opa_sts as config
}

test_scope_string_and_scp_array if {
	roles_of({"iss": iss, "sub": "u", "scope": "openid s3:read"}) == ["by-scope"]
	roles_of({"iss": iss, "sub": "u", "scp": ["s3:read"]}) == ["by-scope"]
}

test_groups_from_the_providers_groups_claim if {
	roles_of({"iss": iss, "sub": "u", "grp": ["/analytics", "/x"]}) == ["by-group"]
	roles_of({"iss": iss, "sub": "u", "groups": ["/analytics"]}) == []
}

test_keycloak_roles if {
	roles_of({"iss": iss, "sub": "u", "realm_access": {"roles": ["s3-admin"]}}) == ["by-realm-role"]
	roles_of({"iss": iss, "sub": "u", "resource_access": {"minio": {"roles": ["writer"]}}}) == ["by-client-role"]
	roles_of({"iss": iss, "sub": "u", "resource_access": {"other": {"roles": ["writer"]}}}) == []
}

test_custom_claim_scalar_and_array if {
	roles_of({"iss": iss, "sub": "u", "tenant": "acme"}) == ["by-claim"]
	roles_of({"iss": iss, "sub": "u", "tenant": ["x", "acme"]}) == ["by-claim"]
	roles_of({"iss": iss, "sub": "u", "tenant": "evil"}) == []
}

test_criteria_are_anded if {
	roles_of({"iss": iss, "sub": "u", "azp": "app", "scope": "s3:write"}) == ["and"]
	roles_of({"iss": iss, "sub": "u", "azp": "app"}) == []
	roles_of({"iss": iss, "sub": "u", "azp": "other", "scope": "s3:write"}) == []
}

test_binding_without_criteria_never_applies if {
	not "nothing" in roles_of({"iss": iss, "sub": "u", "azp": "app", "scope": "s3:write s3:read"})
}

test_bindings_are_per_issuer if {
	roles_of({"iss": "https://other.example", "sub": "u", "azp": "app"}) == ["other-issuer"]
}

test_statements_of_roles if {
	s := mapping.statements(["by-scope", "by-group", "unknown"]) with data.opa_sts as config
	count(s) == 3
}

test_subject_rules if {
	mapping.identity({"iss": iss, "sub": "u1", "azp": "app"}).subject == "u1" with data.opa_sts as config
	mapping.identity({"iss": iss, "azp": "app"}).subject == "client:app" with data.opa_sts as config
	not mapping.identity({"iss": iss}).subject with data.opa_sts as config
	mapping.identity({"client_id": "c"}).client_id == "c" with data.opa_sts as config
	mapping.identity({}).client_id == "" with data.opa_sts as config
}

test_variables if {
	v := mapping.identity({"iss": iss, "sub": "u1", "preferred_username": "alice", "n": 1}).variables with data.opa_sts as config
	v["jwt:preferred_username"] == "alice"
	v["aws:username"] == "u1"
	not v["jwt:n"]
}

test_misspelt_binding_is_an_error if {
	cfg := object.union(config, {"bindings": [{"role": "r", "issuer": iss, "client": ["app"]}]})
	not mapping.identity({"iss": iss, "azp": "app"}) with data.opa_sts as cfg
}
