# METADATA
# title: MinIO access-management plugin contract
# description: |
#   MinIO (MINIO_POLICY_PLUGIN_URL=.../v1/data/httpapi/authz/allow) posts
#   {"input": {account, groups, action, bucket, object, conditions, owner,
#   claims, denyOnly}} for every S3 request. The session was minted by
#   MinIO from the same identity provider, so input.claims are the IdP's
#   claims and the same mapping rules (data.opa_sts.bindings) give the roles;
#   their statements are evaluated with sts.iam_evaluate.
#
#   Rules, in order:
#     owner     MinIO's root credentials (owner: true) are allowed: MinIO
#               itself vouches for them.
#     denyOnly  MinIO asks whether an explicit Deny applies: allowed unless
#               a statement denies.
#     otherwise allowed when a statement of the identity's roles allows and
#               none denies.
package httpapi.authz

import data.sts.mapping

default allow := false

allow if decision.allow

default decision := {"allow": false, "reason": "no statement allows this request", "rule": "default"}

decision := {"allow": true, "reason": "MinIO owner credentials", "rule": "owner"} if {
	input.owner == true
} else := {"allow": outcome != "deny", "reason": concat("", [outcome, " (deny-only check)"]), "rule": "deny_only"} if {
	input.denyOnly == true
} else := {"allow": outcome == "allow", "reason": concat("", [outcome, " for roles ", concat(",", roles)]), "rule": "statements", "roles": roles}

claims := object.get(input, "claims", {})

id := mapping.identity(claims)

default roles := []

roles := id.roles

# MinIO's condition keys ("SourceIp", "prefix") are matched by statements'
# AWS names ("aws:SourceIp", "s3:prefix"): sts.iam_evaluate falls back to
# the unprefixed key.
request := {
	"action": input.action,
	"resource": resource,
	"context": object.get(input, "conditions", {}),
	"variables": object.union(object.get(id, "variables", {}), {"aws:username": object.get(input, "account", "")}),
}

# Each role's statements are evaluated as stored (compiled once, found again
# by identity); across roles an explicit Deny wins, then any Allow, exactly
# as if the statements were one list.
decisions contains sts.iam_evaluate(data.opa_sts.roles[role].statements, request).decision if some role in roles

outcome := "deny" if {
	"deny" in decisions
} else := "allow" if {
	"allow" in decisions
} else := "no_match"

resource := concat("", ["arn:aws:s3:::", input.bucket, "/", input.object]) if {
	input.object != ""
} else := concat("", ["arn:aws:s3:::", input.bucket])
