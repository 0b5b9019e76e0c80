// End-to-end tests of the STS with real clients, unchanged: minio-go
// (client grants and web identity), aws-sdk-go-v2 (stscreds and the raw
// STS client) and the AWS CLI, against opa-sts with tokens from real
// identity providers (ory/hydra and panva/oidc-provider).
package sts_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/opa-sts/opa-sts/test/e2e/awscli"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

var accessKeyRE = regexp.MustCompile(`^[0-9A-Z]{20}$`)

func checkCredentials(t *testing.T, akid, secret, session string, exp time.Time, minLifetime time.Duration) {
	t.Helper()
	if !accessKeyRE.MatchString(akid) || len(secret) != 40 || session == "" {
		t.Fatalf("malformed credentials: akid %q, secret length %d, session token length %d", akid, len(secret), len(session))
	}
	if until := time.Until(exp); until < minLifetime-5*time.Second || until > 13*time.Hour {
		t.Fatalf("expiration %v is %v away", exp, until)
	}
}

func TestSTS(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	hydraToken := func(client string) string {
		return e.hydra.Token(t, client, clientSecret, []string{stsAudience}, nil)
	}
	oidcToken := func(client string) string {
		return e.oidc.Token(t, client, clientSecret, oidcResource, nil)
	}
	var issued []string // secrets and session tokens that must never be logged

	t.Run("minio-go client grants", func(t *testing.T) {
		tok := hydraToken(boundClient)
		creds, err := miniocreds.NewSTSClientGrants(e.stsURL, func() (*miniocreds.ClientGrantsToken, error) {
			// minio-go sends DurationSeconds = Expiry; 0 means "not given".
			return &miniocreds.ClientGrantsToken{Token: tok, Expiry: 0}, nil
		})
		must(t, err)
		v, err := creds.GetWithContext(nil)
		must(t, err)
		checkCredentials(t, v.AccessKeyID, v.SecretAccessKey, v.SessionToken, v.Expiration, time.Hour)
		issued = append(issued, v.SecretAccessKey, v.SessionToken)
		// The credential verifies through the OPA API of the same process.
		verifySessionViaAPI(t, e.srv.URL, v.AccessKeyID, v.SessionToken)
	})

	t.Run("minio-go client grants with a Keycloak-like 300s lifetime", func(t *testing.T) {
		tok := hydraToken(boundClient)
		creds, _ := miniocreds.NewSTSClientGrants(e.stsURL, func() (*miniocreds.ClientGrantsToken, error) {
			return &miniocreds.ClientGrantsToken{Token: tok, Expiry: 300}, nil
		})
		v, err := creds.GetWithContext(nil)
		must(t, err)
		// The default policy clamps to its 900 s minimum.
		checkCredentials(t, v.AccessKeyID, v.SecretAccessKey, v.SessionToken, v.Expiration, 900*time.Second)
		if time.Until(v.Expiration) > 901*time.Second {
			t.Fatalf("duration not clamped to 900 s: %v", time.Until(v.Expiration))
		}
	})

	t.Run("minio-go web identity", func(t *testing.T) {
		tok := oidcToken(boundClient)
		creds, err := miniocreds.NewSTSWebIdentity(e.stsURL, func() (*miniocreds.WebIdentityToken, error) {
			return &miniocreds.WebIdentityToken{Token: tok, Expiry: 7200}, nil
		})
		must(t, err)
		v, err := creds.GetWithContext(nil)
		must(t, err)
		checkCredentials(t, v.AccessKeyID, v.SecretAccessKey, v.SessionToken, v.Expiration, 2*time.Hour)
		issued = append(issued, v.SecretAccessKey, v.SessionToken)
	})

	t.Run("minio-go errors", func(t *testing.T) {
		for name, tc := range map[string]struct {
			token string
			code  string
		}{
			"bad token":     {"not-a-jwt-at-all", "InvalidIdentityToken"},
			"forged token":  {forge(hydraToken(boundClient)), "InvalidIdentityToken"},
			"expired token": {expiredToken(t, e), "ExpiredTokenException"},
			"policy denial": {hydraToken(unboundClient), "AccessDenied"},
		} {
			creds, _ := miniocreds.NewSTSClientGrants(e.stsURL, func() (*miniocreds.ClientGrantsToken, error) {
				return &miniocreds.ClientGrantsToken{Token: tc.token}, nil
			})
			_, err := creds.GetWithContext(nil)
			var stsErr miniocreds.ErrorResponse
			if !errors.As(err, &stsErr) || stsErr.STSError.Code != tc.code || stsErr.RequestID == "" {
				t.Errorf("%s: want %s, got %#v", name, tc.code, err)
			}
		}
	})

	client := sts.New(sts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.stsURL),
		Credentials:  aws.AnonymousCredentials{},
	})

	t.Run("aws-sdk-go-v2 stscreds", func(t *testing.T) {
		tok := oidcToken(boundClient)
		p := stscreds.NewWebIdentityRoleProvider(client, "arn:aws:iam::000000000000:role/e2e", tokenRetriever(tok),
			func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = "e2e-session" })
		c, err := aws.NewCredentialsCache(p).Retrieve(ctx)
		must(t, err)
		checkCredentials(t, c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expires, time.Hour)
		if !c.CanExpire {
			t.Fatal("credentials do not expire")
		}
		issued = append(issued, c.SecretAccessKey, c.SessionToken)
	})

	t.Run("aws-sdk-go-v2 errors", func(t *testing.T) {
		for name, tc := range map[string]struct {
			token string
			code  string
		}{
			"bad token":     {"not-a-jwt-at-all", "InvalidIdentityToken"},
			"expired token": {expiredToken(t, e), "ExpiredTokenException"},
			"policy denial": {oidcToken(unboundClient), "AccessDenied"},
		} {
			_, err := client.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
				RoleArn: aws.String("arn:aws:iam::000000000000:role/e2e"), RoleSessionName: aws.String("e2e"),
				WebIdentityToken: aws.String(tc.token),
			}, func(o *sts.Options) { o.RetryMaxAttempts = 1 })
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.code {
				t.Errorf("%s: want %s, got %v", name, tc.code, err)
			}
		}
	})

	t.Run("aws cli", func(t *testing.T) {
		tok := hydraToken(boundClient)
		out, stderr, err := assumeWithCLI(t, e.stsURL, tok)
		if err != nil {
			t.Fatalf("aws cli: %v\n%s", err, stderr)
		}
		var resp struct {
			Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
		}
		must(t, json.Unmarshal([]byte(out), &resp))
		exp, err := time.Parse(time.RFC3339, resp.Credentials.Expiration)
		must(t, err)
		checkCredentials(t, resp.Credentials.AccessKeyId, resp.Credentials.SecretAccessKey, resp.Credentials.SessionToken, exp, time.Hour)
		issued = append(issued, resp.Credentials.SecretAccessKey, resp.Credentials.SessionToken)

		for name, tc := range map[string]struct{ token, code string }{
			"bad token":     {"not-a-jwt-at-all", "InvalidIdentityToken"},
			"expired token": {expiredToken(t, e), "ExpiredTokenException"},
			"policy denial": {hydraToken(unboundClient), "AccessDenied"},
		} {
			_, stderr, err := assumeWithCLI(t, e.stsURL, tc.token)
			if err == nil || !strings.Contains(stderr, tc.code) {
				t.Errorf("%s: want %s, got %v: %s", name, tc.code, err, stderr)
			}
		}
	})

	t.Run("second replica verifies credentials of the first", func(t *testing.T) {
		tok := hydraToken(boundClient)
		creds, _ := miniocreds.NewSTSClientGrants(e.stsURL, func() (*miniocreds.ClientGrantsToken, error) {
			return &miniocreds.ClientGrantsToken{Token: tok}, nil
		})
		v, err := creds.GetWithContext(nil)
		must(t, err)
		replica, replicaSTS := startSTS(t, e, "replica-2")
		verifySessionViaAPI(t, replica.URL, v.AccessKeyID, v.SessionToken)
		// And the replica issues credentials the first one verifies.
		creds2, _ := miniocreds.NewSTSClientGrants(replicaSTS, func() (*miniocreds.ClientGrantsToken, error) {
			return &miniocreds.ClientGrantsToken{Token: tok}, nil
		})
		v2, err := creds2.GetWithContext(nil)
		must(t, err)
		verifySessionViaAPI(t, e.srv.URL, v2.AccessKeyID, v2.SessionToken)
		issued = append(issued, v.SecretAccessKey, v.SessionToken, v2.SecretAccessKey, v2.SessionToken)
	})

	t.Run("query string encoding and protocol errors", func(t *testing.T) {
		tok := hydraToken(boundClient)
		q := url.Values{"Action": {"AssumeRoleWithClientGrants"}, "Version": {"2011-06-15"}, "Token": {tok}, "DurationSeconds": {"0"}}
		status, body, hdr := post(t, e.stsURL+"/?"+q.Encode(), "", "")
		if status != 200 || !strings.Contains(body, "<AccessKeyId>") || hdr.Get("x-amz-request-id") == "" {
			t.Fatalf("query encoding: %d %s", status, body)
		}
		for name, tc := range map[string]struct {
			form   string
			status int
			code   string
		}{
			"bad version":                {"Action=AssumeRoleWithClientGrants&Version=2010-01-01&Token=" + tok, 400, "MissingParameter"},
			"unknown action":             {"Action=GetSessionToken&Version=2011-06-15", 400, "InvalidParameterValue"},
			"unsigned GetCallerIdentity": {"Action=GetCallerIdentity&Version=2011-06-15", 403, "MissingAuthenticationToken"},
			"no token":                   {"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::000000000000:role/x", 400, "MissingParameter"},
			"bad duration":               {"Action=AssumeRoleWithClientGrants&Version=2011-06-15&DurationSeconds=abc&Token=" + tok, 400, "InvalidParameterValue"},
			"bad policy":                 {"Action=AssumeRoleWithClientGrants&Version=2011-06-15&Policy=%7Bnot&Token=" + tok, 400, "MalformedPolicyDocument"},
		} {
			status, body, _ := post(t, e.stsURL+"/", "application/x-www-form-urlencoded", tc.form)
			if status != tc.status || !strings.Contains(body, "<Code>"+tc.code+"</Code>") || !strings.Contains(body, "<RequestId>") {
				t.Errorf("%s: %d %s", name, status, body)
			}
			if strings.Contains(body, tok) {
				t.Errorf("%s: the token is echoed", name)
			}
		}
		big := "Action=AssumeRoleWithClientGrants&Version=2011-06-15&Token=" + strings.Repeat("a", 1<<20)
		if status, body, _ := post(t, e.stsURL+"/", "application/x-www-form-urlencoded", big); status < 400 || status >= 500 || !strings.Contains(body, "<ErrorResponse") {
			t.Errorf("oversized body: %d %s", status, body)
		}
	})

	t.Run("metrics and health", func(t *testing.T) {
		metrics := get(t, e.srv.URL+"/metrics")
		for _, want := range []string{
			`opa_sts_credentials_issued_total{action="AssumeRoleWithClientGrants"}`,
			`opa_sts_credentials_issued_total{action="AssumeRoleWithWebIdentity"}`,
			`opa_sts_requests_denied_total{action="AssumeRoleWithWebIdentity",code="ExpiredTokenException"}`,
			`opa_sts_requests_denied_total{action="AssumeRoleWithClientGrants",code="AccessDenied"}`,
			`opa_sts_request_duration_seconds_bucket`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("metric %s missing", want)
			}
		}
		if resp, err := http.Get(e.srv.URL + "/health?plugins"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("health: %v %v", resp, err)
		}
	})

	t.Run("no secret in logs, decision logs or metrics", func(t *testing.T) {
		logs := e.srv.Logs()
		if !strings.Contains(logs, `"decision_id"`) || !strings.Contains(logs, "redacted:sha256:") {
			t.Fatalf("decision logs missing or unmasked:\n%.2000s", logs)
		}
		metrics := get(t, e.srv.URL+"/metrics")
		for i, s := range issued {
			if i := strings.Index(logs, s); i >= 0 {
				t.Fatalf("secret %d appears in the logs: ...%s...", i, logs[max(0, i-300):i])
			}
			if strings.Contains(metrics, s) {
				t.Fatalf("secret %d appears in the metrics", i)
			}
		}
		// No identity token either (any JWT-looking string in the log).
		if m := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.`).FindString(logs); m != "" {
			t.Fatalf("a JWT appears in the logs: %.40s...", m)
		}
	})
}

func tokenRetriever(tok string) stscreds.IdentityTokenRetriever {
	return stscreds.IdentityTokenFile(writeTemp(tok))
}

var tempFiles []string

func writeTemp(content string) string {
	f, err := os.CreateTemp("", "opa-sts-e2e-token-*")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	_, _ = f.WriteString(content)
	tempFiles = append(tempFiles, f.Name())
	return f.Name()
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range tempFiles {
		os.Remove(f)
	}
	os.Exit(code)
}

// expiredToken is a real token of the short-lived IdP, past its expiry.
func expiredToken(t *testing.T, e *env) string {
	t.Helper()
	tok := e.short.Token(t, boundClient, clientSecret, oidcResource, nil)
	time.Sleep(2100 * time.Millisecond)
	return tok
}

// forge changes the token's claims without re-signing it.
func forge(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return tok
	}
	return parts[0] + "." + parts[1] + "x." + parts[2]
}

// assumeWithCLI asks the STS at endpoint for credentials with the AWS CLI's
// assume-role-with-web-identity.
func assumeWithCLI(t *testing.T, endpoint, token string) (string, string, error) {
	t.Helper()
	return awscli.Run(t, nil, "sts", "assume-role-with-web-identity",
		"--endpoint-url", endpoint,
		"--role-arn", "arn:aws:iam::000000000000:role/e2e", "--role-session-name", "cli",
		"--web-identity-token", token)
}

func post(t *testing.T, u, contentType, body string) (int, string, http.Header) {
	t.Helper()
	return send(t, http.MethodPost, u, contentType, body)
}

// send makes one request with the given method, content type and body.
func send(t *testing.T, method, u, contentType, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	must(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// verifySessionViaAPI checks that a session token is valid on a server.
func verifySessionViaAPI(t *testing.T, apiURL, akid, sessionToken string) {
	t.Helper()
	if r := opasts.VerifySession(t, apiURL, akid, sessionToken); r["valid"] != true {
		t.Fatalf("session not valid on %s: %v", apiURL, r)
	}
}
