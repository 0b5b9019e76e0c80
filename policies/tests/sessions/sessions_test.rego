# opa test suites for sts.issue_credentials and sts.verify_session. Outside
# the server these use a process-local ephemeral keyring.
package tests.sessions

grant := {
	"subject": "alice",
	"duration_seconds": 3600,
	"action": "AssumeRoleWithWebIdentity",
	"source": {"iss": "https://idp.example", "sub": "u-1", "client_id": "app"},
	"permissions": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::bucket/*"]}],
}

test_issue_and_verify if {
	c := sts.issue_credentials(grant)
	regex.match(`^[0-9A-Z]{20}$`, c.access_key_id)
	count(c.secret_access_key) == 40
	not contains(c.secret_access_key, "/")
	r := sts.verify_session(c.access_key_id, c.session_token)
	r.valid
	r.session.subject == "alice"
	r.session.session_id == c.session_id
	r.session.expiration == c.expiration
	r.grant.permissions == grant.permissions
	r.claims.src.client_id == "app"
}

test_expiration_is_exact if {
	c := sts.issue_credentials(grant)
	expires := time.parse_rfc3339_ns(c.expiration)
	r := sts.verify_session(c.access_key_id, c.session_token)
	issued := time.parse_rfc3339_ns(r.session.issued_at)
	expires - issued == 3600 * 1000000000
}

test_session_of_another_access_key if {
	c := sts.issue_credentials(grant)
	d := sts.issue_credentials(grant)
	sts.verify_session(d.access_key_id, c.session_token).error.code == "access_key_mismatch"
}

test_tampered_session if {
	c := sts.issue_credentials(grant)
	parts := split(c.session_token, ".")
	claims := json.unmarshal(base64url.decode(parts[1]))
	forged := base64url.encode_no_pad(json.marshal(object.union(claims, {"sub": "admin"})))
	r := sts.verify_session(c.access_key_id, concat(".", [parts[0], forged, parts[2]]))
	r.error.code == "bad_signature"
}

test_idp_token_is_not_a_session if {
	key := {"kty": "EC", "crv": "P-256", "x": "aLPUBBIzVCXKX3y6DBCgsm3DfPk_vLF-xVnbcY6iMpY", "y": "hJtGNh33NlCrUjlWg-Ib7nSewVOYaH-uJFicqPZrDVo", "d": "u3CJ6ovYUe8UORjD7T5GyHo03cT9cXbSR_vaugqOlmg"}
	tok := io.jwt.encode_sign({"alg": "ES256", "typ": "JWT"}, {"iss": "urn:opa-sts:ephemeral", "sub": "x", "exp": 4102444800, "akid": "A", "jti": "j", "iat": 1}, key)
	not sts.verify_session("A", tok).valid
}

test_garbage_session if {
	sts.verify_session("AKIA", "not-a-token").error.code == "malformed"
}

test_grant_needs_subject_and_duration if {
	not sts.issue_credentials({"duration_seconds": 3600})
	not sts.issue_credentials({"subject": "a"})
	not sts.issue_credentials({"subject": "a", "duration_seconds": 10})
	not sts.issue_credentials({"subject": "a", "duration_seconds": "3600"})
}
