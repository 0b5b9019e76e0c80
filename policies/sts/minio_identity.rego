# METADATA
# title: MinIO identity plugin decision
# description: |
#   MinIO's identity plugin (MINIO_IDENTITY_PLUGIN_URL=http://<addr>/minio/identity)
#   asks, for every AssumeRoleWithCustomToken, who the bearer of a token is.
#   The plugin (plugins.minio_identity) evaluates this decision with input
#   {"token": "<the client's Token parameter>"} and answers MinIO:
#
#     allow    200 {"user", "maxValiditySeconds", "claims"}
#     deny     403 {"reason"} (MinIO shows the reason to the client)
#
#   The token is verified against data.opa_sts.providers and mapped with
#   data.opa_sts.bindings exactly as an issuance is: an identity with no
#   bound role is refused here, before MinIO mints anything. The claims
#   returned are the token's, without those MinIO keeps for itself; MinIO
#   puts them in the session and sends them back to the policy plugin
#   (data.httpapi.authz), which maps them again on every request, so a
#   binding change applies to live sessions. MinIO replaces "sub" with its
#   own "custom:<user>": the token's subject travels as "opa_sts_sub".
#
#   maxValiditySeconds is the STS decision's default duration (the
#   provider's over data.opa_sts.durations), capped by the roles'
#   max_duration_seconds and, with clamp_to_token_exp, by the token's
#   expiry. MinIO gives a session that long unless the client asks less
#   with DurationSeconds. MinIO refuses anything outside 900..31536000
#   seconds: a session that would be shorter than 900 s is denied here.
package sts.minio

import data.sts.mapping

# The claims MinIO sets itself, or reads with its own meaning: a token's
# claims of those names are not passed on.
minio_claims := {"exp", "iat", "nbf", "sub", "parent", "roleArn", "accessKey", "sessionPolicy", "sa-policy"}

min_validity := 900

max_validity := 31536000

default identity := {"allow": false, "reason": "access denied", "rule": "default"}

identity := {"allow": false, "reason": "no identity provider is configured", "rule": "providers"} if {
	count(data.sts.providers) == 0
} else := {"allow": false, "reason": data.sts.token.error.message, "token_error": data.sts.token.error, "rule": "token"} if {
	not data.sts.token.valid
} else := {
	"allow": true,
	"reason": concat("", ["roles ", concat(",", id.roles), " bound to ", id.subject]),
	"rule": "bindings",
	"user": id.subject,
	"max_validity_seconds": validity,
	"claims": object.union(object.remove(c, minio_claims), subject_claim(c)),
	"roles": id.roles,
} if {
	c := data.sts.token.claims
	id := mapping.identity(c)
	id.subject
	count(id.roles) > 0
	validity := min([data.sts.duration(c, id.roles), max_validity])
	validity >= min_validity
} else := {
	"allow": false,
	"reason": concat("", ["the session would last less than ", format_int(min_validity, 10), " seconds, MinIO's shortest"]),
	"rule": "validity",
} if {
	count(mapping.identity(data.sts.token.claims).roles) > 0
	mapping.identity(data.sts.token.claims).subject
} else := {"allow": false, "reason": "no role is bound to this identity", "rule": "bindings"} if {
	mapping.identity(data.sts.token.claims).subject
} else := {"allow": false, "reason": "the token names no subject", "rule": "subject"}

subject_claim(c) := {"opa_sts_sub": c.sub} if is_string(c.sub)

else := {}
