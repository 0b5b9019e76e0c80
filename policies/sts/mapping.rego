# METADATA
# title: identity to roles mapping
# description: |
#   Data-driven mapping from verified token claims to role names, shared by
#   the STS decision (issuance) and request-time authorization (MinIO's
#   access-management plugin contract). Bindings live in
#   data.opa_sts.bindings:
#
#     {"role": "readers", "issuer": "<iss>",
#      "clients": [...],        azp / client_id is one of
#      "subjects": [...],       the subject is one of
#      "scopes": [...],         one of the token's scopes (scope or scp)
#      "groups": [...],         one of the provider's groups_claim values (default "groups")
#      "realm_roles": [...],    one of Keycloak's realm_access.roles
#      "client_roles": {"<client>": [...]},  one of Keycloak's resource_access.<client>.roles
#      "claims": {"<claim>": [values]}}      each named claim has (or contains) one of the values
#
#   A binding applies when its issuer is the token's and every criterion it
#   names holds (a binding naming no criterion never applies).
package sts.mapping

criteria := {"clients", "subjects", "scopes", "groups", "realm_roles", "client_roles", "claims"}

default providers := []

providers := data.opa_sts.providers

# The provider that vouched for claims (its settings: subject_claim,
# groups_claim).
provider(c) := p if {
	some p in providers
	p.issuer == c.iss
} else := {}

# The client: azp (Keycloak, WSO2), else client_id (Hydra, oidc-provider).
client_id(c) := c.azp if is_string(c.azp)

else := c.client_id if is_string(c.client_id)

else := ""

# The subject: the provider's subject_claim (default "sub"), else the client
# id (WSO2 client-credentials tokens may carry no "sub").
subject(c, cid) := s if {
	s := c[object.get(provider(c), "subject_claim", "sub")]
	is_string(s)
	s != ""
} else := cid if cid != ""

roles(c, cid, sub) := sort({b.role |
	some b in data.opa_sts.bindings
	b.issuer == c.iss
	applies(b, c, cid, sub)
})

applies(b, c, cid, sub) if {
	some k in criteria
	b[k]
	not fails(b, c, cid, sub)
}

fails(b, _, cid, _) if {
	b.clients
	not cid in b.clients
}

fails(b, _, _, sub) if {
	b.subjects
	not sub in b.subjects
}

fails(b, c, _, _) if {
	b.scopes
	not any_in(scopes(c), b.scopes)
}

fails(b, c, _, _) if {
	b.groups
	not any_in(object.get(c, object.get(provider(c), "groups_claim", "groups"), []), b.groups)
}

fails(b, c, _, _) if {
	b.realm_roles
	not any_in(object.get(c, ["realm_access", "roles"], []), b.realm_roles)
}

fails(b, c, _, _) if {
	b.client_roles
	not client_role(b.client_roles, c)
}

fails(b, c, _, _) if {
	some k, vals in b.claims
	not any_in(object.get(c, k, []), vals)
}

client_role(want, c) if {
	some client, rs in want
	any_in(object.get(c, ["resource_access", client, "roles"], []), rs)
}

# any_in: some value of have (a scalar or a list) is in want.
any_in(have, want) if {
	not is_array(have)
	have in want
}

any_in(have, want) if {
	is_array(have)
	some h in have
	h in want
}

# Scopes: OAuth2 "scope" (space-separated) or Hydra's "scp" (array).
scopes(c) := split(c.scope, " ") if is_string(c.scope)

else := c.scp if is_array(c.scp)

else := []

# The statements of the roles.
statements(roles) := [s |
	some r in roles
	some s in data.opa_sts.roles[r].statements
]

# Policy variables for statements, fixed at issuance and carried by the
# session: ${jwt:<claim>} for every short string claim, ${aws:username}
# for the subject.
variables(c, sub) := object.union(
	{concat("", ["jwt:", k]): v | some k, v in c; is_string(v); count(v) <= 256},
	{"aws:username": sub},
)
