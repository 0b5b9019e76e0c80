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

claims := token.claims if token.valid

# The provider whose issuer the verified token names.
provider := p if {
	some p in providers
	p.issuer == claims.iss
}

client_id := claims.azp if is_string(claims.azp)

else := claims.client_id if is_string(claims.client_id)

else := ""

# The subject: the provider's subject_claim (default "sub"), else the client
# id (WSO2 client-credentials tokens may carry no "sub").
subject := s if {
	s := claims[object.get(provider, "subject_claim", "sub")]
	is_string(s)
	s != ""
} else := client_id if client_id != ""

roles contains b.role if {
	some b in data.opa_sts.bindings
	b.issuer == claims.iss
	binding_matches(b)
}

binding_matches(b) if client_id in b.clients

binding_matches(b) if subject in b.subjects

# Duration: the requested DurationSeconds (0 or absent means "not given",
# as minio-go sends) or the default, clamped to [min, max]. The credential
# may outlive the identity token, as with AWS.
requested := input.duration_seconds if input.duration_seconds > 0

else := durations.default

# The session policy (Policy parameter) travels with the grant: enforcement
# intersects it with the permissions, so it can only narrow them.
session_policy := {"session_policy": input.policy_document} if input.policy_document

else := {}

# One else-chain: the first matching branch decides and no other branch is
# evaluated (alternative definitions of a complete rule would all be
# evaluated, to check that they agree). The grant is built in the last
# branch only, where it is needed.
default decision := {"allow": false, "reason": "access denied", "rule": "default"}

decision := {"allow": false, "reason": "no identity provider is configured", "rule": "providers"} if {
	count(providers) == 0
} else := {"allow": false, "reason": token.error.message, "token_error": token.error, "rule": "token"} if {
	not token.valid
} else := {"allow": false, "reason": "the token names no subject", "rule": "subject"} if {
	not subject
} else := {"allow": false, "reason": "no role is bound to this identity", "rule": "bindings"} if {
	count(roles) == 0
} else := {
	"allow": true,
	"reason": concat("", ["roles ", concat(",", bound), " bound to ", subject]),
	"grant": object.union(session_policy, {
		"subject": subject,
		"duration_seconds": min([max([requested, durations.min]), durations.max]),
		"roles": bound,
		"permissions": [s | some r in bound; some s in data.opa_sts.roles[r].statements],
		"source": {
			"iss": claims.iss,
			"sub": object.get(claims, "sub", ""),
			"client_id": client_id,
			"aud": object.get(claims, "aud", ""),
		},
	}),
	"rule": "bindings",
} if {
	bound := sort(roles)
}
