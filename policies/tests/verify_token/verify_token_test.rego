# opa test suites for sts.verify_token: every rule of the verification
# contract, with tokens signed in the test by io.jwt.encode_sign and an
# inline JWKS, so no network is needed.
package tests.verify_token

issuer := "https://idp.example/realms/demo"

now := floor(time.now_ns() / 1000000000)

jwks := {"keys": [rsa_public, ec_public]}

provider := {"issuer": issuer, "jwks": jwks, "audiences": ["sts"]}

claims(extra) := object.union(
	{"iss": issuer, "aud": "sts", "sub": "svc-1", "iat": now - 10, "exp": now + 300, "scope": "s3:read"},
	extra,
)

header(alg, key, extra) := object.union({"alg": alg, "kid": key.kid, "typ": "JWT"}, extra)

rs256(extra) := io.jwt.encode_sign(header("RS256", rsa_private, {}), claims(extra), rsa_private)

es256(extra) := io.jwt.encode_sign(header("ES256", ec_private, {}), claims(extra), ec_private)

b64(x) := base64url.encode_no_pad(json.marshal(x))

code(result) := result.error.code

# Valid tokens.

test_rs256_valid if {
	r := sts.verify_token(rs256({}), provider)
	r.valid
	r.claims.sub == "svc-1"
	r.header.kid == "test-rsa"
	not r.error
}

test_es256_valid if {
	r := sts.verify_token(es256({}), provider)
	r.valid
	r.claims.scope == "s3:read"
}

test_audience_array if {
	sts.verify_token(rs256({"aud": ["account", "sts"]}), provider).valid
}

test_typ_at_jwt_accepted if {
	tok := io.jwt.encode_sign(header("ES256", ec_private, {"typ": "at+jwt"}), claims({}), ec_private)
	sts.verify_token(tok, provider).valid
}

test_jwks_as_json_string if {
	sts.verify_token(es256({}), object.union(provider, {"jwks": json.marshal(jwks)})).valid
}

test_extra_provider_members_ignored if {
	sts.verify_token(es256({}), object.union(provider, {"groups_claim": "groups"})).valid
}

# Time claims.

test_expired if {
	code(sts.verify_token(rs256({"exp": now - 3600}), provider)) == "expired"
}

test_expired_within_leeway_is_valid if {
	sts.verify_token(rs256({"exp": now - 20}), provider).valid
}

test_expired_with_zero_leeway if {
	code(sts.verify_token(rs256({"exp": now - 20}), object.union(provider, {"leeway_seconds": 0}))) == "expired"
}

test_not_yet_valid if {
	code(sts.verify_token(rs256({"nbf": now + 3600}), provider)) == "not_yet_valid"
}

test_issued_in_the_future if {
	code(sts.verify_token(rs256({"iat": now + 3600}), provider)) == "not_yet_valid"
}

test_max_age if {
	p := object.union(provider, {"max_age_seconds": 60})
	code(sts.verify_token(rs256({"iat": now - 3600}), p)) == "expired"
	sts.verify_token(rs256({}), p).valid
}

test_missing_exp if {
	tok := io.jwt.encode_sign(header("RS256", rsa_private, {}), object.remove(claims({}), ["exp"]), rsa_private)
	code(sts.verify_token(tok, provider)) == "missing_claim"
}

# Issuer and audience.

test_wrong_issuer if {
	code(sts.verify_token(rs256({"iss": "https://evil.example"}), provider)) == "wrong_issuer"
}

test_issuer_trailing_slash_matters if {
	code(sts.verify_token(rs256({"iss": concat("", [issuer, "/"])}), provider)) == "wrong_issuer"
}

test_wrong_audience if {
	code(sts.verify_token(rs256({"aud": "account"}), provider)) == "wrong_audience"
}

test_azp_fallback if {
	tok := rs256({"aud": "account", "azp": "sts"})
	code(sts.verify_token(tok, provider)) == "wrong_audience"
	sts.verify_token(tok, object.union(provider, {"azp_fallback": true})).valid
}

test_required_claims if {
	p := object.union(provider, {"required_claims": ["client_id"]})
	code(sts.verify_token(rs256({}), p)) == "missing_claim"
	sts.verify_token(rs256({"client_id": "app"}), p).valid
}

# Algorithms and keys.

test_alg_none_never_verifies if {
	tok := concat(".", [b64({"alg": "none", "typ": "JWT"}), b64(claims({})), ""])
	code(sts.verify_token(tok, provider)) == "unsupported_algorithm"
}

test_alg_none_with_signature_never_verifies if {
	tok := concat(".", [b64({"alg": "none", "kid": "test-rsa"}), b64(claims({})), "c2ln"])
	code(sts.verify_token(tok, provider)) == "unsupported_algorithm"
}

test_hmac_with_public_key_as_secret_never_verifies if {
	secret := {"kty": "oct", "k": base64url.encode_no_pad(json.marshal(rsa_public))}
	tok := io.jwt.encode_sign({"alg": "HS256", "kid": "test-rsa", "typ": "JWT"}, claims({}), secret)
	code(sts.verify_token(tok, provider)) == "unsupported_algorithm"
}

test_hmac_cannot_be_allowed if {
	code(sts.verify_token(rs256({}), object.union(provider, {"algorithms": ["HS256"]}))) == "invalid_provider"
}

test_algorithm_not_in_allow_list if {
	code(sts.verify_token(es256({}), object.union(provider, {"algorithms": ["RS256"]}))) == "unsupported_algorithm"
}

test_jwk_alg_must_agree_with_header if {
	pinned := object.union(rsa_public, {"alg": "RS256"})
	tok := io.jwt.encode_sign(header("PS256", rsa_private, {}), claims({}), rsa_private)
	sts.verify_token(tok, provider).valid
	code(sts.verify_token(tok, object.union(provider, {"jwks": {"keys": [pinned]}}))) == "unknown_key"
}

test_unknown_kid if {
	tok := io.jwt.encode_sign(header("RS256", object.union(rsa_private, {"kid": "rotated-away"}), {}), claims({}), rsa_private)
	code(sts.verify_token(tok, provider)) == "unknown_key"
}

test_key_type_must_fit_algorithm if {
	# An ES256 token that names the RSA key's kid.
	tok := io.jwt.encode_sign(header("ES256", rsa_private, {}), claims({}), ec_private)
	code(sts.verify_token(tok, provider)) == "unknown_key"
}

test_bad_signature if {
	parts := split(rs256({}), ".")
	forged := concat(".", [parts[0], b64(claims({"sub": "admin"})), parts[2]])
	code(sts.verify_token(forged, provider)) == "bad_signature"
}

test_encryption_keys_ignored if {
	enc_only := {"keys": [object.union(ec_public, {"use": "enc"}), rsa_public]}
	code(sts.verify_token(es256({}), object.union(provider, {"jwks": enc_only}))) == "unknown_key"
	sts.verify_token(rs256({}), object.union(provider, {"jwks": enc_only})).valid
}

test_one_broken_key_does_not_break_the_others if {
	broken := {"kty": "RSA", "kid": "broken", "n": "not-base64!", "e": "AQAB"}
	sts.verify_token(es256({}), object.union(provider, {"jwks": {"keys": [broken, ec_public]}})).valid
}

# Malformed and hostile input.

test_crit_header_rejected if {
	tok := concat(".", [b64({"alg": "ES256", "kid": "test-ec", "crit": ["exp"], "exp": 1}), b64(claims({})), "c2ln"])
	code(sts.verify_token(tok, provider)) == "malformed"
}

test_nested_jwt_rejected if {
	tok := io.jwt.encode_sign(header("ES256", ec_private, {"cty": "JWT"}), claims({}), ec_private)
	code(sts.verify_token(tok, provider)) == "malformed"
}

test_unexpected_typ_rejected if {
	tok := io.jwt.encode_sign(header("ES256", ec_private, {"typ": "dpop+jwt"}), claims({}), ec_private)
	code(sts.verify_token(tok, provider)) == "malformed"
}

test_encrypted_token_rejected if {
	code(sts.verify_token("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", provider)) == "malformed"
}

test_garbage_rejected if {
	every tok in ["", "x", "a.b", "a.b.c", "!!!.???.***", concat(".", [b64([1]), b64(claims({})), "c2ln"])] {
		code(sts.verify_token(tok, provider)) == "malformed"
	}
}

test_oversized_token_rejected if {
	big := rs256({"pad": sprintf("%0*d", [30000, 0])})
	code(sts.verify_token(big, provider)) == "malformed"
}

test_messages_never_contain_the_token if {
	tok := rs256({"exp": now - 3600})
	r := sts.verify_token(tok, provider)
	not contains(r.error.message, split(tok, ".")[2])
	not contains(r.error.message, tok)
}

# Provider configuration.

test_invalid_providers if {
	every p in [
		{"issuer": issuer, "jwks": jwks},
		{"jwks": jwks, "audiences": ["sts"]},
		{"issuer": issuer, "audiences": ["sts"]},
		{"issuer": issuer, "audiences": ["sts"], "jwks_url": "http://idp.example/keys"},
		{"issuer": issuer, "audiences": ["sts"], "jwks": jwks, "jwks_url": "https://idp.example/keys"},
		{"issuer": issuer, "audiences": ["sts"], "jwks": {"keys": []}},
		{"issuer": issuer, "audiences": ["sts"], "jwks": jwks, "leeway_seconds": "60"},
	] {
		code(sts.verify_token(rs256({}), p)) == "invalid_provider"
	}
}

test_skip_audience_check if {
	p := {"issuer": issuer, "jwks": jwks, "skip_audience_check": true}
	sts.verify_token(rs256({"aud": "anything"}), p).valid
}

# Several providers: the token's iss selects one.

other_provider := {"issuer": "https://other.example", "jwks": {"keys": [ec_public]}, "audiences": ["other"]}

test_provider_list_selects_by_issuer if {
	providers := [other_provider, provider]
	sts.verify_token(rs256({}), providers).valid
	sts.verify_token(es256({"iss": "https://other.example", "aud": "other"}), providers).valid
}

test_provider_list_never_crosses_issuers if {
	# Signed by a key of the other provider's set, but naming this issuer with
	# the other's audience: checked against this provider, so the audience fails.
	code(sts.verify_token(es256({"aud": "other"}), [other_provider, provider])) == "wrong_audience"
	code(sts.verify_token(rs256({"iss": "https://unknown.example"}), [other_provider, provider])) == "wrong_issuer"
}

test_provider_list_rejects_duplicates_and_empty if {
	code(sts.verify_token(rs256({}), [provider, provider])) == "invalid_provider"
	code(sts.verify_token(rs256({}), [])) == "invalid_provider"
}
