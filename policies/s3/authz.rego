# METADATA
# title: request-time authorization of opa-sts sessions
# description: |
#   "May this session do this S3 request?" for credentials this STS issued,
#   as the enforcement side asks it (versitygw's external IAM, or any
#   caller of the OPA API). Input:
#
#     access_key_id, session_token   the credentials of the request
#     action                         e.g. "s3:GetObject"
#     resource                       the target as an ARN, or:
#     bucket, object                 the target ("" for none)
#     conditions                     condition keys: {"aws:SourceIp": ["10.1.2.3"], "s3:prefix": [...]}
#
#   The session's grant (fixed at issuance, carried in the signed session
#   token) holds the statements, the policy variables and the session
#   policy, which only narrows: a Deny in either wins, an Allow needs both.
package s3

default decision := {"allow": false, "decision": "deny", "reason": "no decision", "rule": "default"}

session := sts.verify_session(input.access_key_id, input.session_token)

decision := {"allow": false, "decision": "deny", "reason": session.error.message, "rule": "session"} if {
	not session.valid
} else := {
	"allow": outcome == "allow",
	"decision": outcome,
	"reason": concat("", [outcome, " for ", session.session.subject]),
	"rule": "statements",
	"session_id": session.session.session_id,
}

default allow := false

allow if decision.allow

# The resource: given as an ARN (as versitygw asks), or as bucket and object.
resource := input.resource if {
	is_string(input.resource)
} else := concat("", ["arn:aws:s3:::", input.bucket, "/", input.object]) if {
	input.object != ""
} else := concat("", ["arn:aws:s3:::", input.bucket])

# The session's tags are condition keys aws:PrincipalTag/<key> (the
# gateway's conditions cannot override them).
request := {
	"action": input.action,
	"resource": resource,
	"context": object.union(object.get(input, "conditions", {}), principal_tags),
	"variables": object.get(session.grant, "variables", {}),
}

principal_tags := {concat("", ["aws:PrincipalTag/", k]): [v] | some k, v in object.get(session.grant, "tags", {})}

identity := sts.iam_evaluate(object.get(session.grant, "permissions", []), request).decision

narrowed := sts.iam_evaluate(session.grant.session_policy, request).decision

# deny from either wins; allow needs both (when there is a session policy).
outcome := "deny" if {
	identity == "deny"
} else := "deny" if {
	narrowed == "deny"
} else := identity if {
	not session.grant.session_policy
} else := "allow" if {
	identity == "allow"
	narrowed == "allow"
} else := "no_match"
