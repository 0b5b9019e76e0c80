# METADATA
# title: MinIO access-management plugin contract
# description: |
#   MinIO (MINIO_POLICY_PLUGIN_URL=.../v1/data/httpapi/authz/allow) posts
#   {"input": {account, groups, action, bucket, object, conditions, owner,
#   claims, denyOnly}} for every authenticated request, root's and admin
#   APIs included. The roles of the request are those of
#     - the claims' identity, mapped by data.opa_sts.bindings like an
#       issuance (sessions MinIO minted with identity_openid, or with
#       AssumeRoleWithCustomToken through opa-sts's identity plugin, and
#       the service accounts such sessions created, which carry their
#       parent's claims);
#     - MinIO's own users (credentials without an "iss" claim: MinIO
#       authenticated them itself) in data.opa_sts.minio.users
#       {"<user>": [roles]}, the user being the claims' parent (STS and
#       service accounts of that user) or the account;
#     - the groups MinIO sends (input.groups: LDAP groups; MinIO sends
#       none for its own users), data.opa_sts.minio.groups
#       {"<group>": [roles]}.
#   Their statements are evaluated with sts.iam_evaluate_roles.
#
#   Rules, in order:
#     owner     MinIO's root credentials (owner: true) are allowed unless
#               data.opa_sts.minio.owner is "deny" (default "allow":
#               MinIO vouches for them, and an operator who denies root
#               can only administer MinIO through its environment).
#     denyOnly  MinIO asks whether an explicit Deny applies: allowed unless
#               a statement denies.
#     otherwise allowed when a statement of the roles allows and none
#               denies, and, when the session carries a session policy,
#               that policy allows too and does not deny.
#
#   With a policy plugin set, MinIO stops enforcing session policies (the
#   Policy parameter of its STS calls, a service account's embedded
#   policy) and forwards them as the claim claims.sessionPolicy, base64 of
#   the policy's JSON. It is intersected here: a session policy only
#   narrows. One that cannot be read denies everything (fail closed).
package httpapi.authz

import data.sts.mapping

# allow is what MinIO asks, once per S3 request: the rules above written
# so that only what the answer needs is evaluated. decision gives the same
# answer with its reason and rule (for explanations and decision logs).
default allow := false

allow if owner

# The root credentials, when the operator lets them through.
owner if {
	input.owner == true
	object.get(minio, "owner", "allow") != "deny"
}

default minio := {}

minio := data.opa_sts.minio

allow if outcome == "allow"

allow if {
	input.denyOnly == true
	outcome == "no_match"
}

default decision := {"allow": false, "reason": "no statement allows this request", "rule": "default"}

decision := {"allow": true, "reason": "MinIO owner credentials", "rule": "owner"} if {
	owner
} else := {"allow": outcome != "deny", "reason": concat("", [outcome, " (deny-only check)"]), "rule": "deny_only"} if {
	input.denyOnly == true
} else := {"allow": outcome == "allow", "reason": concat("", [outcome, " for roles ", concat(",", roles)]), "rule": "statements", "roles": roles}

default input_claims := {}

input_claims := input.claims if is_object(input.claims)

# A session MinIO minted with AssumeRoleWithCustomToken has MinIO's own
# subject ("custom:<user>", its parent too); opa-sts's identity plugin put
# the token's subject in opa_sts_sub, and the mapping sees that one.
claims := object.union(input_claims, {"sub": input_claims.opa_sts_sub}) if {
	startswith(input_claims.parent, "custom:")
	input_claims.sub == input_claims.parent
	is_string(input_claims.opa_sts_sub)
} else := input_claims

id := mapping.identity(claims)

# MinIO's own user: the parent of an STS session or service account, else
# the account; only for credentials no identity provider asserted.
minio_user := input_claims.parent if {
	not input_claims.iss
	is_string(input_claims.parent)
} else := input.account if {
	not input_claims.iss
}

default roles := []

roles := object.get(id, "roles", []) if {
	not minio.users
	not minio.groups
} else := sort((({r |
	some r in object.get(id, "roles", [])
} | {r |
	some r in object.get(object.get(minio, "users", {}), minio_user, [])
}) | {r |
	is_array(input.groups)
	some g in input.groups
	some r in object.get(object.get(minio, "groups", {}), g, [])
}))

# MinIO's condition keys ("SourceIp", "prefix") are matched by statements'
# AWS names ("aws:SourceIp", "s3:prefix"): the evaluation falls back to
# the unprefixed key.
request := {
	"action": input.action,
	"resource": resource,
	"context": object.get(input, "conditions", {}),
	"variables": variables,
}

# ${aws:username} is MinIO's own: the "username" it puts first in the
# conditions (the user, the parent of derived credentials, a hash of sub
# and iss for an OpenID session; a client's query parameter of that name
# only comes after it), else MinIO's user, else the identity's subject.
variables := object.union(object.get(id, "variables", {}), {"aws:username": minio_username}) if {
	is_string(minio_username)
} else := object.union(object.get(id, "variables", {}), {"aws:username": minio_user}) if {
	minio_user
} else := object.get(id, "variables", {})

minio_username := input.conditions.username[0]

# The statements of all the roles are evaluated as one set (each role's
# compiled once): an explicit Deny in any role wins, then any Allow.
identity_outcome := "allow" if {
	owner_derived
} else := sts.iam_evaluate_roles(object.get(mapping.config, "roles", {}), roles, request).decision

# A credential derived from MinIO's root (its service account or STS
# session) that carries a session policy: MinIO sends owner false for it,
# and decides by the session policy alone. MinIO's principal type, first
# in the conditions, is "Account" when the parent is root.
owner_derived if {
	object.get(minio, "owner", "allow") != "deny"
	not input_claims.iss
	input.conditions.principaltype[0] == "Account"
	input_claims.sessionPolicy
}

session_policy := json.unmarshal(base64.decode(input.claims.sessionPolicy)) if {
	is_string(input.claims.sessionPolicy)
} else := input.claims.sessionPolicy if {
	is_object(input.claims.sessionPolicy)
}

# Session policies are MinIO documents: a bucket request is matched the
# way MinIO matches it ("arn:aws:s3:::b/*" covers bucket b).
narrowed := sts.iam_evaluate(session_policy, object.union(request, {"minio_bucket_match": input.object == ""})).decision

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
