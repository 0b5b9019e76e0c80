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
} else := {"allow": result.decision != "deny", "reason": reason, "rule": "deny_only", "statement": result.statement, "sid": result.sid} if {
	input.denyOnly == true
} else := {"allow": result.decision == "allow", "reason": reason, "rule": "statements", "statement": result.statement, "sid": result.sid, "roles": roles}

reason := sprintf("%s by statement %d of roles %v", [result.decision, result.statement, roles])

claims := object.get(input, "claims", {})

roles := r if {
	cid := mapping.client_id(claims)
	r := mapping.roles(claims, cid, mapping.subject(claims, cid))
} else := []

result := sts.iam_evaluate(mapping.statements(roles), {
	"action": input.action,
	"resource": resource,
	"context": context,
	"variables": variables,
})

resource := concat("", ["arn:aws:s3:::", input.bucket, "/", input.object]) if {
	input.object != ""
} else := concat("", ["arn:aws:s3:::", input.bucket])

# MinIO names condition keys without their prefix ("SourceIp", "prefix");
# statements use AWS names ("aws:SourceIp", "s3:prefix"). Both are given.
aws_keys := {"sourceip", "currenttime", "epochtime", "securetransport", "useragent", "referer", "principaltype", "userid", "username", "groups"}

context := object.union(
	{k: v | some k, v in object.get(input, "conditions", {})},
	{prefixed(k): v | some k, v in object.get(input, "conditions", {})},
)

prefixed(k) := concat("", ["aws:", k]) if lower(k) in aws_keys

else := concat("", ["s3:", k])

# Policy variables: ${jwt:<claim>} for every string claim, ${aws:username}.
variables := object.union(
	{concat("", ["jwt:", k]): v | some k, v in claims; is_string(v)},
	{"aws:username": object.get(input, "account", "")},
)
