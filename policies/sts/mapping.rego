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
#      "subjects": [...],       the subject the token claims is one of
#      "scopes": [...],         one of the token's scopes (scope or scp)
#      "groups": [...],         one of the provider's groups_claim values (default "groups")
#      "realm_roles": [...],    one of Keycloak's realm_access.roles
#      "client_roles": {"<client>": [...]},  one of Keycloak's resource_access.<client>.roles
#      "claims": {"<claim>": [values]},     each named claim has (or contains) one of the values
#      "claim_lists": {"<claim>": [values]}} each named claim, read as comma-separated lists
#                                            (MinIO's policy claim), lists one of the values
#
#   A binding applies when its issuer is the token's and every criterion it
#   names holds (a binding naming no criterion never applies). The rules are
#   compiled once by the sts.identity built-in (internal/rolemap): resolving
#   claims costs microseconds at any number of bindings, where the same
#   rules written in Rego cost over a millisecond at 100 bindings.
package sts.mapping

default config := {}

config := data.opa_sts

# identity(claims) is {client_id, subject (absent if none), roles, variables}.
identity(c) := sts.identity(c, config)

# The statements of the roles.
statements(roles) := [s |
	some r in roles
	some s in data.opa_sts.roles[r].statements
]
