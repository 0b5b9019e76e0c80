# The worked examples: token shapes of Keycloak, WSO2, Hydra and a generic
# OIDC provider, mapped by bundles/example/data.json.
#   opa-sts test policies/ bundles/example/
package examples_test

import data.sts.explain

explain_claims(claims) := r if {
	r := explain.result with input as {"claims": claims, "duration_seconds": 0}
}

test_keycloak_service_account if {
	r := explain_claims({
		"iss": "https://keycloak.example.com/realms/storage", "aud": "account", "azp": "minio",
		"sub": "6f0c7c1a-6a1b-4c1e-9b1e-1c3f5d7e9a2b", "preferred_username": "service-account-minio",
		"realm_access": {"roles": ["s3-user", "offline_access"]}, "resource_access": {"minio": {"roles": ["analytics"]}},
		"scope": "profile email",
	})
	r.allow
	r.identity.subject == "service-account-minio"
	r.identity.roles == ["analytics-read", "home"]
	r.identity.variables["jwt:preferred_username"] == "service-account-minio"
}

test_wso2_without_sub if {
	r := explain_claims({
		"iss": "https://wso2.example.com:9443/oauth2/token", "aud": "Xq1bFvT9sD3kLw2E7nHy", "azp": "Xq1bFvT9sD3kLw2E7nHy",
		"scope": "default", "exp": 4102444800,
	})
	r.allow
	r.identity.subject == "client:Xq1bFvT9sD3kLw2E7nHy"
	r.identity.roles == ["ingest"]
	r.duration_seconds == 3600
}

test_hydra_scopes if {
	claims := {"iss": "https://hydra.example.com/", "aud": ["sts"], "client_id": "backup-job", "sub": "backup-job", "scp": ["s3.write"]}
	explain_claims(claims).identity.roles == ["backup"]
	not explain_claims(object.union(claims, {"scp": ["s3.read"]})).allow
}

test_generic_oidc_custom_claims if {
	claims := {"iss": "https://login.example.org", "aud": "https://sts.example.org", "sub": "u-42", "tenant": "acme", "groups": ["storage-users"]}
	r := explain_claims(claims)
	r.identity.roles == ["tenant-acme"]
	r.duration_seconds == 900
	not explain_claims(object.union(claims, {"tenant": "globex"})).allow
}
