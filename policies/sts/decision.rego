# METADATA
# title: opa-sts default decision
# description: |
#   Decides AssumeRoleWithClientGrants and AssumeRoleWithWebIdentity
#   requests. Identity providers, roles and bindings are data under
#   data.opa_sts, so adding an IdP or a team is a data change:
#
#     providers  [{issuer, discovery_url | jwks_url | jwks, audiences, ...,
#                  subject_claim, groups_claim}]   (see docs/verify_token.md)
#     roles      {name: {statements: [IAM-style statements]}}
#     bindings   [{role, issuer, criteria...}]    (see mapping.rego)
#     durations  {default, min, max, clamp_to_token_exp} seconds; a provider
#                may override them with its own "durations", and a role
#                may cap them with "max_duration_seconds"
#
#   The decision document is the plugin's contract: allow, reason, rule,
#   token_error (on a token failure), grant (when allowed).
package sts

import data.sts.mapping

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

decision := data.sts.assume_role.decision if {
	# SigV4-signed calls (policies/sts/assume_role.rego).
	input.action in {"AssumeRole", "GetCallerIdentity"}
} else := {"allow": false, "reason": "no identity provider is configured", "rule": "providers"} if {
	count(providers) == 0
} else := {
	"allow": false,
	"reason": "PolicyArns are not supported: pass the session policy in the Policy parameter",
	"rule": "policy_arns",
	"error_code": "InvalidParameterValue",
} if {
	# A client that asks to narrow its credentials with managed policies
	# must not silently get the whole grant.
	count(object.get(input, "policy_arns", [])) > 0
} else := {"allow": false, "reason": token.error.message, "token_error": token.error, "rule": "token"} if {
	not token.valid
} else := {
	"allow": true,
	"reason": concat("", ["roles ", concat(",", bound), " bound to ", sub]),
	"grant": object.union(object.union(session_policy, tags_grant(tt)), {
		"subject": sub,
		"duration_seconds": duration(c, bound),
		"roles": bound,
		"permissions": permissions,
		"source": {"iss": c.iss, "sub": object.get(c, "sub", ""), "client_id": cid, "aud": object.get(c, "aud", "")},
		# Only the variables the statements use travel in the session token.
		"variables": sts.iam_variables(object.union(id.variables, tag_variables(tt.tags)), [permissions, object.get(input, "policy_document", null)]),
		# The AssumedRoleUser of the answer, which GetCallerIdentity
		# repeats for this session.
		"assumed_role": web_assumed_role(sub),
	}),
	"rule": "bindings",
} if {
	c := token.claims
	tt := token_tags(c)
	not tt.error
	id := mapping.identity(c)
	sub := id.subject
	cid := id.client_id
	bound := selected_roles(id.roles)
	count(bound) > 0
	permissions := mapping.statements(bound)
} else := {"allow": false, "reason": token_tags(token.claims).error, "error_code": "InvalidIdentityToken", "rule": "tags"} if {
	token_tags(token.claims).error
} else := {"allow": false, "reason": concat("", ["the role ", requested_role, " is not bound to this identity"]), "rule": "role_arn"} if {
	mapping.identity(token.claims).subject
	requested_role
} else := {"allow": false, "reason": "no role is bound to this identity", "rule": "bindings"} if {
	mapping.identity(token.claims).subject
} else := {"allow": false, "reason": "the token names no subject", "rule": "subject"}

# RoleArn selects a role, as with AWS: when it names one of
# data.opa_sts.roles (arn:aws:iam::<account>:role/<name>, the name after
# the last "/"), the grant is that role alone, if it is bound to the
# identity, and nothing otherwise. A RoleArn naming no known role (clients
# must send one: "role/any") leaves the grant at every bound role.
requested_role := name if {
	arn := input.role_arn
	contains(arn, ":role/")
	parts := split(arn, "/")
	name := parts[count(parts) - 1]
	data.opa_sts.roles[name]
}

selected_roles(bound) := bound if {
	not requested_role
} else := [requested_role] if {
	requested_role in bound
} else := []

# Duration: the requested DurationSeconds (0 or absent means "not given",
# as minio-go sends) or the default, clamped to [min, max] where the
# settings are the provider's "durations" over data.opa_sts.durations over
# the defaults, and max is further capped by the granted roles'
# max_duration_seconds. The credential may outlive the identity token, as
# with AWS, unless clamp_to_token_exp is set: then it ends with the token
# (and the STS refuses a credential shorter than one minute).
settings(c) := object.union(durations, p.durations) if {
	some p in providers
	p.issuer == c.iss
	p.durations
} else := durations

duration(c, roles) := d if {
	s := settings(c)
	caps := [m | some r in roles; m := data.opa_sts.roles[r].max_duration_seconds]
	upper := min(array.concat([s.max], caps))
	wanted := requested(s)
	d := min([max([wanted, s.min]), upper, token_limit(c, s)])
}

requested(s) := input.duration_seconds if input.duration_seconds > 0

else := s.default

token_limit(c, s) := floor(c.exp - (time.now_ns() / 1000000000)) if s.clamp_to_token_exp

else := 366 * 86400

# AWS's AssumedRoleUser of a web-identity or client-grants session: the
# role and account of RoleArn (a RoleArn that names no role: opa-sts), the
# RoleSessionName or else the subject.
web_assumed_role(sub) := {
	"arn": concat("", ["arn:aws:sts::", arn_account, ":assumed-role/", arn_role, "/", name]),
	"id": concat(":", [concat("", ["AROA", upper(substring(crypto.sha256(concat(":", [arn_account, arn_role])), 0, 17))]), name]),
	"session_name": name,
} if {
	name := session_name(sub)
}

session_name(sub) := input.role_session_name if {
	input.role_session_name != ""
} else := sub

role_arn_parts := split(object.get(input, "role_arn", ""), ":")

default arn_account := ""

arn_account := role_arn_parts[4] if {
	count(role_arn_parts) == 6
	startswith(role_arn_parts[5], "role/")
}

default arn_role := "opa-sts"

arn_role := r if {
	count(role_arn_parts) == 6
	startswith(role_arn_parts[5], "role/")
	segments := split(role_arn_parts[5], "/")
	r := segments[count(segments) - 1]
	r != ""
}

# The session policy (Policy parameter) travels with the grant: enforcement
# intersects it with the permissions, so it can only narrow them.
session_policy := {"session_policy": input.policy_document} if input.policy_document

else := {}
