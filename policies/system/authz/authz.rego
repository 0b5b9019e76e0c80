# METADATA
# title: OPA API authorization
# description: |
#   With `opa-sts run --server --authentication=token --authorization=basic`
#   OPA asks data.system.authz.allow about every request to its REST API.
#   MinIO's access-management plugin needs that API reachable, and with it
#   come /v1/data writes, /v1/policies and /v1/query. This policy lets
#   through only what enforcement and orchestration need, and everything
#   else only with an administrator's token:
#
#     GET /health (and /health/live, /health/ready)   anyone
#     POST to a decision path                          anyone (MinIO, versitygw-side callers)
#     GET /metrics                                     a metrics token
#     anything                                         an administrator token
#
#   Tokens are bearer tokens (Authorization: Bearer <token>); data holds
#   only their SHA-256 (hex), never the tokens themselves:
#
#     data.opa_sts.api.admin_token_sha256    [hex, ...]
#     data.opa_sts.api.metrics_token_sha256  [hex, ...]
#     data.opa_sts.api.decision_paths        ["v1/data/httpapi/authz/allow", ...] (default below)
package system.authz

default allow := false

default api := {}

api := data.opa_sts.api

default_decision_paths := [
	"v1/data/httpapi/authz/allow",
	"v1/data/httpapi/authz",
	"v1/data/s3/decision",
	"v1/data/s3/allow",
]

decision_paths contains split(trim(p, "/"), "/") if {
	some p in object.get(api, "decision_paths", default_decision_paths)
}

token_hash := crypto.sha256(input.identity) if is_string(input.identity)

# Liveness and readiness probes.
allow if {
	input.method == "GET"
	input.path[0] == "health"
}

# The decisions enforcement asks for. Their inputs carry the caller's own
# credentials; they change nothing.
allow if {
	input.method == "POST"
	input.path in decision_paths
}

allow if {
	input.method == "GET"
	input.path == ["metrics"]
	token_hash in object.get(api, "metrics_token_sha256", [])
}

allow if token_hash in object.get(api, "admin_token_sha256", [])
