# METADATA
# title: decision log masking
# description: |
#   OPA evaluates data.system.log.mask for every decision log entry, whatever
#   API produced it (the STS listener, /v1/data, /v1/query). These paths are
#   erased so that identity tokens, session tokens and secrets never reach
#   decision logs, even when an operator queries the REST API with them.
package system.log

mask contains "/input/token"

mask contains "/input/access_token"

mask contains "/input/id_token"

mask contains "/input/web_identity_token"

mask contains "/input/session_token"

mask contains "/input/secret_access_key"

mask contains "/result/secret_access_key"

mask contains "/result/session_token"

# MinIO's access-management plugin puts every request header and query
# parameter into input.conditions: its own session token, the SigV4
# Authorization header and presigned signature, SSE-C encryption keys,
# cookies. Those conditions are erased, whatever their case.
secret_condition_keys := {
	"authorization",
	"cookie",
	"x-amz-security-token",
	"x-amz-signature",
	"x-amz-server-side-encryption-customer-key",
	"x-amz-copy-source-server-side-encryption-customer-key",
	"x-minio-replication-server-side-encryption-sealed-key",
}

mask contains concat("/", ["", "input", "conditions", escaped]) if {
	some key, _ in input.input.conditions
	lower(key) in secret_condition_keys

	# JSON pointer escaping (RFC 6901) of the member name
	escaped := replace(replace(key, "~", "~0"), "/", "~1")
}

# The Referer may be a presigned URL, whose query carries a session token
# and a signature: it is logged without its query and fragment.
mask contains {"op": "upsert", "path": concat("/", ["", "input", "conditions", key]), "value": stripped} if {
	some key, values in input.input.conditions
	lower(key) == "referer"
	not contains(key, "/")
	not contains(key, "~")
	stripped := [split(split(v, "?")[0], "#")[0] | some v in values]
}
