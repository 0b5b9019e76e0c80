# METADATA
# title: opa-sts default decision
# description: |
#   Decides AssumeRoleWithClientGrants and AssumeRoleWithWebIdentity
#   requests. Identity providers, roles and bindings are data under
#   data.opa_sts, so adding an IdP or a team is a data change:
#
#     providers  [{issuer, discovery_url | jwks_url | jwks, audiences, ...,
#                  subject_claim}]     (see docs/verify_token.md)
#     roles      {name: {statements: [IAM-style statements]}}
#     bindings   [{role, issuer, clients: [...], subjects: [...]}]
#     durations  {default, min, max} seconds
#
#   The decision document is the plugin's contract: allow, reason, rule,
#   token_error (on a token failure), grant (when allowed).
package sts

default_durations := {"default": 3600, "min": 900, "max": 43200}

default providers := []

providers := data.opa_sts.providers

default durations := {"default": 3600, "min": 900, "max": 43200}

durations := object.union(default_durations, data.opa_sts.durations)

token := sts.verify_token(input.token, providers)

# The decision is one else-chain. The allowing branch computes everything
# in one body with local variables: on the issuance hot path every rule or
# function evaluation costs, and this shape halves the evaluation time.
# The denial branches after it only run when it did not allow.
default decision := {"allow": false, "reason": "access denied", "rule": "default"}

decision := {"allow": false, "reason": "no identity provider is configured", "rule": "providers"} if {
	count(providers) == 0
} else := {"allow": false, "reason": token.error.message, "token_error": token.error, "rule": "token"} if {
	not token.valid
} else := {
	"allow": true,
	"reason": concat("", ["roles ", concat(",", bound), " bound to ", sub]),
	"grant": object.union(session_policy, {
		"subject": sub,
		"duration_seconds": min([max([requested, durations.min]), durations.max]),
		"roles": bound,
		"permissions": [s | some r in bound; some s in data.opa_sts.roles[r].statements],
		"source": {"iss": c.iss, "sub": object.get(c, "sub", ""), "client_id": cid, "aud": object.get(c, "aud", "")},
	}),
	"rule": "bindings",
} if {
	c := token.claims
	cid := client_id
	sub := subject
	bound := sort({b.role |
		some b in data.opa_sts.bindings
		b.issuer == c.iss
		bound_to(b, cid, sub)
	})
	count(bound) > 0
} else := {"allow": false, "reason": "no role is bound to this identity", "rule": "bindings"} if {
	subject
} else := {"allow": false, "reason": "the token names no subject", "rule": "subject"}

claims := token.claims if token.valid

# The client: azp (Keycloak, WSO2), else client_id (Hydra, oidc-provider).
client_id := claims.azp if is_string(claims.azp)

else := claims.client_id if is_string(claims.client_id)

else := ""

# The subject: the provider's subject_claim (default "sub"), else the client
# id (WSO2 client-credentials tokens may carry no "sub").
subject := s if {
	some p in providers
	p.issuer == claims.iss
	s := claims[object.get(p, "subject_claim", "sub")]
	is_string(s)
	s != ""
} else := client_id if client_id != ""

bound_to(b, cid, _) if cid in b.clients

bound_to(b, _, sub) if sub in b.subjects

# Duration: the requested DurationSeconds (0 or absent means "not given",
# as minio-go sends) or the default, clamped to [min, max]. The credential
# may outlive the identity token, as with AWS.
requested := input.duration_seconds if input.duration_seconds > 0

else := durations.default

# The session policy (Policy parameter) travels with the grant: enforcement
# intersects it with the permissions, so it can only narrow them.
session_policy := {"session_policy": input.policy_document} if input.policy_document

else := {}
