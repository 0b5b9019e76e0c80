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

# The same secrets deeper in an entry: an ad-hoc /v1/query returns its
# bindings (a minted credential under any variable name), a decision may
# carry a token it was given, and MinIO's access-management plugin puts
# every request header and query parameter into input.conditions (its own
# session token, the SigV4 Authorization and Proxy-Authorization headers,
# the presigned signature, SSE-C keys, cookies). Every member whose name
# is a secret's, or a secret header's, is erased at any depth of the input
# and the result, whatever its case.
secret_members := {
	"token",
	"access_token",
	"id_token",
	"refresh_token",
	"web_identity_token",
	"webidentitytoken",
	"session_token",
	"sessiontoken",
	"secret_access_key",
	"secretaccesskey",
	"secret_key",
	"client_secret",
	"password",
	"derivedkey",
	"external_id",
}

secret_condition_keys := {
	"cookie",
	"set-cookie",
	"x-amz-security-token",
	"x-amz-signature",
	"x-amz-server-side-encryption-customer-key",
	"x-amz-copy-source-server-side-encryption-customer-key",
	"x-minio-replication-server-side-encryption-sealed-key",
}

secret_names := secret_members | secret_condition_keys

# A header class: anything that authorizes (Authorization,
# Proxy-Authorization, X-...-Authorization) or carries a customer key.
# sts.find_members walks the entry once in Go: the same walk in Rego cost
# more than the decision it logged (0.5 to 0.9 ms an entry).
mask contains pointer if {
	some root in ["input", "result"]
	some p in sts.find_members(input[root], secret_names, ["authorization"], ["customer-key"])
	pointer := concat("", ["/", root, p])
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
