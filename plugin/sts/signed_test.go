package sts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/internal/sessions"
)

func signedAt(t *testing.T, akid, secret, token string, at time.Time) (*http.Request, []byte) {
	t.Helper()
	form := "Action=GetCallerIdentity&Version=2011-06-15"
	r, _ := http.NewRequest(http.MethodPost, "http://sts.test/", strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		r.Header.Set("X-Amz-Security-Token", token)
	}
	sum := sha256.Sum256([]byte(form))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token}, r,
		hex.EncodeToString(sum[:]), "sts", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	return r, []byte(form)
}

// Who may sign: a session until it expires (then ExpiredToken), a
// principal by its derived secret, nobody else.
func TestSignedCaller(t *testing.T) {
	kr, _ := keyring.Generate()
	a, err := sessions.NewForTest("https://sts.test", kr)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	s, err := a.Mint(credentials.Grant{Subject: "svc", Duration: time.Minute, Source: credentials.Source{Issuer: "https://idp", ClientID: "app"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	// Within its minute: the session signs.
	r, body := signedAt(t, s.AccessKeyID, s.SecretAccessKey, s.SessionToken, now)
	if _, werr := signedCaller(ctx, r, body, a, "", now); werr != nil {
		t.Fatalf("a live session: %v", werr)
	}
	// Two minutes later, signed then: the session has expired.
	later := now.Add(2 * time.Minute)
	r, body = signedAt(t, s.AccessKeyID, s.SecretAccessKey, s.SessionToken, later)
	if _, werr := signedCaller(ctx, r, body, a, "", later); werr == nil || werr.Code != "ExpiredToken" || werr.Status != 400 {
		t.Fatalf("an expired session: %v", werr)
	}
	// The session's secret under another key id, a session's secret
	// without its token, a key that is neither kind.
	akid, _ := credentials.NewPrincipalAccessKeyID()
	for name, c := range map[string][3]string{
		"a principal signing with a session's secret": {akid, s.SecretAccessKey, ""},
		"a session key without its token":             {s.AccessKeyID, s.SecretAccessKey, ""},
		"another kind of key":                         {"XYZW0000000000000000", s.SecretAccessKey, ""},
	} {
		r, body := signedAt(t, c[0], c[1], c[2], now)
		if _, werr := signedCaller(ctx, r, body, a, "", now); werr == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A principal by its derived secret.
	secret, _ := a.PrincipalSecret(akid)
	r, body = signedAt(t, akid, secret, "", now)
	caller, werr := signedCaller(ctx, r, body, a, "", now)
	if werr != nil || !strings.Contains(caller.String(), `"type": "principal"`) {
		t.Fatalf("a principal: %v %v", caller, werr)
	}
	// With a region configured, only a signature scoped to it (signedAt
	// signs for us-east-1), before any secret is looked up.
	if _, werr := signedCaller(ctx, r, body, a, "us-east-1", now); werr != nil {
		t.Fatalf("the configured region: %v", werr)
	}
	if _, werr := signedCaller(ctx, r, body, a, "eu-west-1", now); werr == nil || werr.Code != "SignatureDoesNotMatch" || werr.Status != 403 ||
		!strings.Contains(werr.Message, "scoped to a valid region") {
		t.Fatalf("another region: %v", werr)
	}
}
