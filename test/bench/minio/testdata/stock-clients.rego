# Client bindings for the stock IAM-in-Rego policy
# (test/bench/minio-stock/authz.rego, loaded with this file): a binding
# naming "clients" gives its role to tokens whose client_id (or azp) is
# one of them, as opa-sts's mapping does. Hydra's client-credentials
# tokens carry no groups, so the benchmark's identity is bound this way.
package httpapi.authz

roles contains b.role if {
	some b in data.opa_sts.bindings
	b.issuer == claims.iss
	some c in b.clients
	c in {object.get(claims, "client_id", ""), object.get(claims, "azp", "")}
}
