package credentials_test

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/jwtverify"
	"github.com/opa-sts/opa-sts/internal/keyring"
)

const issuer = "https://sts.example"

var now = time.Unix(1_800_000_000, 0)

func grant() credentials.Grant {
	return credentials.Grant{
		Action: "AssumeRoleWithWebIdentity", Subject: "alice", Duration: time.Hour,
		Source:   credentials.Source{Issuer: "https://idp.example", Subject: "u-1", ClientID: "app"},
		Details:  json.RawMessage(`{"roles":["reader"]}`),
		Revision: "rev-7",
	}
}

func setup(t *testing.T) (*credentials.Minter, *credentials.SessionVerifier, *keyring.Keyring) {
	t.Helper()
	kr, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	m, err := credentials.NewMinter(issuer, kr)
	if err != nil {
		t.Fatal(err)
	}
	v, err := credentials.NewSessionVerifier(issuer, kr, 100)
	if err != nil {
		t.Fatal(err)
	}
	return m, v, kr
}

func TestMintAndVerify(t *testing.T) {
	m, v, _ := setup(t)
	c, err := m.Mint(grant(), now)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9A-Z]{20}$`).MatchString(c.AccessKeyID) {
		t.Fatalf("access key id %q", c.AccessKeyID)
	}
	if len(c.SecretAccessKey) != 40 || strings.Contains(c.SecretAccessKey, "/") {
		t.Fatalf("secret %q", c.SecretAccessKey)
	}
	if !c.Expiration.Equal(now.Add(time.Hour)) || c.Expiration.Location() != time.UTC {
		t.Fatalf("expiration %v", c.Expiration)
	}
	s, verr := v.Verify(context.Background(), c.AccessKeyID, c.SessionToken, now.Add(time.Minute))
	if verr != nil {
		t.Fatalf("verify: %v", verr)
	}
	if s.Subject != "alice" || s.SessionID != c.SessionID || !s.Expiration.Equal(c.Expiration) {
		t.Fatalf("session %+v", s)
	}
	if v.Secret(s) != c.SecretAccessKey {
		t.Fatal("re-derived secret differs")
	}
	if strings.Contains(c.SessionToken, c.SecretAccessKey) {
		t.Fatal("session token carries the secret")
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(c.SessionToken, ".")[1])
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	if claims["rev"] != "rev-7" || claims["grant"].(map[string]any)["roles"] == nil || claims["src"].(map[string]any)["client_id"] != "app" {
		t.Fatalf("claims %v", claims)
	}
}

func TestEveryCredentialIsDistinct(t *testing.T) {
	m, _, _ := setup(t)
	seen := map[string]bool{}
	for range 200 {
		c, err := m.Mint(grant(), now)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{c.AccessKeyID, c.SecretAccessKey, c.SessionID} {
			if seen[v] {
				t.Fatalf("repeated value %q", v)
			}
			seen[v] = true
		}
	}
}

func TestRejections(t *testing.T) {
	m, v, _ := setup(t)
	c, _ := m.Mint(grant(), now)
	ctx := context.Background()

	check := func(name, akid, token string, at time.Time, want jwtverify.Code) {
		t.Helper()
		_, err := v.Verify(ctx, akid, token, at)
		if err == nil || err.Code != want {
			t.Errorf("%s: want %s, got %v", name, want, err)
		}
	}
	check("expired", c.AccessKeyID, c.SessionToken, now.Add(time.Hour+10*time.Second), jwtverify.CodeExpired)
	check("not yet valid", c.AccessKeyID, c.SessionToken, now.Add(-time.Minute), jwtverify.CodeNotYetValid)
	check("other access key", "AAAAAAAAAAAAAAAAAAAA", c.SessionToken, now, credentials.CodeAccessKeyMismatch)

	parts := strings.Split(c.SessionToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := strings.Replace(string(payload), `"sub":"alice"`, `"sub":"admin"`, 1)
	check("tampered", c.AccessKeyID, parts[0]+"."+base64.RawURLEncoding.EncodeToString([]byte(tampered))+"."+parts[2], now, jwtverify.CodeBadSignature)
	check("garbage", c.AccessKeyID, "x.y.z", now, jwtverify.CodeMalformed)

	// Minted by another STS (another keyring) with the same issuer name.
	foreign, _, _ := setup(t)
	fc, _ := foreign.Mint(grant(), now)
	check("foreign key", fc.AccessKeyID, fc.SessionToken, now, jwtverify.CodeUnknownKey)

	// Another issuer name with the same keys.
	_, _, kr := setup(t)
	other, _ := credentials.NewMinter("https://other.example", kr)
	ov, _ := credentials.NewSessionVerifier(issuer, kr, 10)
	oc, _ := other.Mint(grant(), now)
	if _, err := ov.Verify(ctx, oc.AccessKeyID, oc.SessionToken, now); err == nil || err.Code != jwtverify.CodeWrongIssuer {
		t.Errorf("other issuer: %v", err)
	}
}

func TestMintValidation(t *testing.T) {
	m, _, _ := setup(t)
	for name, g := range map[string]credentials.Grant{
		"too short":  {Subject: "a", Duration: time.Second},
		"too long":   {Subject: "a", Duration: 400 * 24 * time.Hour},
		"no subject": {Duration: time.Hour},
		"bad json":   {Subject: "a", Duration: time.Hour, Details: json.RawMessage(`{`)},
		"huge grant": {Subject: "a", Duration: time.Hour, Details: json.RawMessage(`"` + strings.Repeat("x", 20000) + `"`)},
	} {
		if _, err := m.Mint(g, now); err == nil {
			t.Errorf("%s: minted", name)
		}
	}
}

// Replicas sharing the key files verify each other's credentials and
// derive the same secrets; adding a key first rotates without logging
// anyone out.
func TestSharedFilesAndRotation(t *testing.T) {
	dir := t.TempDir()
	if _, err := keyring.EnsureFiles(dir); err != nil {
		t.Fatal(err)
	}
	files := keyring.DefaultFiles(dir)
	a, err := keyring.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := keyring.Load(files)
	ma, _ := credentials.NewMinter(issuer, a)
	vb, _ := credentials.NewSessionVerifier(issuer, b, 10)
	c, _ := ma.Mint(grant(), now)
	s, verr := vb.Verify(context.Background(), c.AccessKeyID, c.SessionToken, now)
	if verr != nil || vb.Secret(s) != c.SecretAccessKey {
		t.Fatalf("replica b: %v", verr)
	}

	// Rotation: a new key signs, the old one still verifies.
	newDir := t.TempDir()
	if _, err := keyring.EnsureFiles(newDir); err != nil {
		t.Fatal(err)
	}
	rotated, err := keyring.Load(keyring.Files{
		SigningKeys:      []string{keyring.DefaultFiles(newDir).SigningKeys[0], files.SigningKeys[0]},
		DerivationSecret: files.DerivationSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	vr, _ := credentials.NewSessionVerifier(issuer, rotated, 10)
	if _, verr := vr.Verify(context.Background(), c.AccessKeyID, c.SessionToken, now); verr != nil {
		t.Fatalf("old credential after rotation: %v", verr)
	}
	mr, _ := credentials.NewMinter(issuer, rotated)
	nc, _ := mr.Mint(grant(), now)
	if _, verr := vb.Verify(context.Background(), nc.AccessKeyID, nc.SessionToken, now); verr == nil || verr.Code != jwtverify.CodeUnknownKey {
		t.Fatalf("new key unknown to a replica that has not rotated: %v", verr)
	}
	if rotated.Signer().KID == a.Signer().KID {
		t.Fatal("rotation did not change the signing key")
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	created, err := keyring.EnsureFiles(dir)
	if err != nil || len(created) != 2 {
		t.Fatalf("created %v, %v", created, err)
	}
	again, err := keyring.EnsureFiles(dir)
	if err != nil || len(again) != 0 {
		t.Fatalf("second EnsureFiles created %v, %v", again, err)
	}
	bad := filepath.Join(dir, "short")
	if err := writeFile(bad, "c2hvcnQ="); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.LoadDerivationSecret(bad); err == nil {
		t.Fatal("short derivation secret accepted")
	}
	if _, err := keyring.LoadSigningKey(bad); err == nil {
		t.Fatal("non-PEM signing key accepted")
	}
}

// The issue time is kept to the millisecond (iat_ms), so a revocation made
// earlier within the same second does not reach a session issued after
// it; iat stays in whole seconds.
func TestIssueTimeInMilliseconds(t *testing.T) {
	m, v, kr := setup(t)
	at := now.Add(700 * time.Millisecond)
	c, err := m.Mint(grant(), at.Add(123*time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	if !c.IssuedAt.Equal(at) {
		t.Fatalf("issued at %v, want %v", c.IssuedAt, at)
	}
	s, verr := v.Verify(context.Background(), c.AccessKeyID, c.SessionToken, at)
	if verr != nil {
		t.Fatal(verr)
	}
	if !s.IssuedAt.Equal(at) {
		t.Fatalf("verified issue time %v, want %v", s.IssuedAt, at)
	}
	parts := strings.Split(c.SessionToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	must(t, json.Unmarshal(payload, &claims))
	if claims["iat"] != float64(now.Unix()) || claims["iat_ms"] != float64(at.UnixMilli()) {
		t.Fatalf("iat %v, iat_ms %v", claims["iat"], claims["iat_ms"])
	}

	// Signed by our key but with an iat_ms outside iat's second, or not an
	// integer: refused. Without iat_ms (a token minted before it existed):
	// the issue time is iat.
	resign := func(claims map[string]any) string {
		b, err := json.Marshal(claims)
		must(t, err)
		input := parts[0] + "." + base64.RawURLEncoding.EncodeToString(b)
		sig, err := kr.Signer().Private.Sign(nil, []byte(input), crypto.Hash(0))
		must(t, err)
		return input + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	for _, bad := range []any{float64(now.UnixMilli() - 1), float64(now.UnixMilli() + 1000), "1800000000700", 1800000000700.5} {
		claims["iat_ms"] = bad
		if _, verr := v.Verify(context.Background(), c.AccessKeyID, resign(claims), at); verr == nil || verr.Code != jwtverify.CodeMalformed {
			t.Errorf("iat_ms %v: %v, want malformed", bad, verr)
		}
	}
	delete(claims, "iat_ms")
	s, verr = v.Verify(context.Background(), c.AccessKeyID, resign(claims), at)
	if verr != nil || !s.IssuedAt.Equal(now) {
		t.Fatalf("without iat_ms: %v, %v", s, verr)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
