# METADATA
# title: MinIO access-management plugin contract
# description: |
#   MinIO (MINIO_POLICY_PLUGIN_URL=.../v1/data/httpapi/authz/allow) posts
#   {"input": {account, groups, action, bucket, object, conditions, owner,
#   claims, denyOnly}} for every S3 request. The session was minted by
#   MinIO from the same identity provider, so input.claims are the IdP's
#   claims and the same mapping rules (data.opa_sts.bindings) give the roles;
#   their statements are evaluated with sts.iam_evaluate_roles.
#
#   Rules, in order:
#     owner     MinIO's root credentials (owner: true) are allowed: MinIO
#               itself vouches for them.
#     denyOnly  MinIO asks whether an explicit Deny applies: allowed unless
#               a statement denies.
#     otherwise allowed when a statement of the identity's roles allows and
#               none denies, and, when the session carries a session
#               policy, that policy allows too and does not deny.
#
#   With a policy plugin set, MinIO stops enforcing session policies (the
#   Policy parameter of its STS calls) and forwards them as the claim
#   claims.sessionPolicy, base64 of the policy's JSON. It is intersected
#   here: a session policy only narrows. One that cannot be read denies
#   everything (fail closed).
package httpapi.authz

import data.sts.mapping

# allow is what MinIO asks, once per S3 request: the rules above written
# so that only what the answer needs is evaluated. decision gives the same
# answer with its reason and rule (for explanations and decision logs).
default allow := false

allow if input.owner == true

allow if outcome == "allow"

allow if {
	input.denyOnly == true
	outcome == "no_match"
}

default decision := {"allow": false, "reason": "no statement allows this request", "rule": "default"}

decision := {"allow": true, "reason": "MinIO owner credentials", "rule": "owner"} if {
	input.owner == true
} else := {"allow": outcome != "deny", "reason": concat("", [outcome, " (deny-only check)"]), "rule": "deny_only"} if {
	input.denyOnly == true
} else := {"allow": outcome == "allow", "reason": concat("", [outcome, " for roles ", concat(",", roles)]), "rule": "statements", "roles": roles}

id := mapping.identity(object.get(input, "claims", {}))

default roles := []

roles := id.roles

# MinIO's condition keys ("SourceIp", "prefix") are matched by statements'
# AWS names ("aws:SourceIp", "s3:prefix"): the evaluation falls back to
# the unprefixed key.
request := {
	"action": input.action,
	"resource": resource,
	"context": object.get(input, "conditions", {}),
	"variables": object.union(object.get(id, "variables", {}), {"aws:username": object.get(input, "account", "")}),
}

# The statements of all the roles are evaluated as one set (each role's
# compiled once): an explicit Deny in any role wins, then any Allow.
identity_outcome := sts.iam_evaluate_roles(object.get(mapping.config, "roles", {}), roles, request).decision

session_policy := json.unmarshal(base64.decode(input.claims.sessionPolicy)) if {
	is_string(input.claims.sessionPolicy)
} else := input.claims.sessionPolicy if {
	is_object(input.claims.sessionPolicy)
}

narrowed := sts.iam_evaluate(session_policy, request).decision

# deny from either wins; allow needs both when there is a session policy.
outcome := identity_outcome if {
	not input.claims.sessionPolicy
} else := "deny" if {
	identity_outcome == "deny"
} else := "deny" if {
	# a session policy that cannot be read narrows to nothing
	not narrowed
} else := "deny" if {
	narrowed == "deny"
} else := "allow" if {
	identity_outcome == "allow"
	narrowed == "allow"
} else := "no_match"

resource := concat("", ["arn:aws:s3:::", input.bucket, "/", input.object]) if {
	input.object != ""
} else := concat("", ["arn:aws:s3:::", input.bucket])
