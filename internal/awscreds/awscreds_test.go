package awscreds

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/stswire"
)

const (
	testSecretKey    = "SECRETsecretSECRETsecretSECRETsecret0123"
	testSessionToken = "eyJhbGciOiJFZERTQSJ9.eyJzZXNzaW9uIjoidG9rZW4ifQ.c2Vzc2lvbi1zaWduYXR1cmU"
	testClientSecret = "client-secret-that-must-not-leak"
	testIDToken      = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZCJ9.aWRlbnRpdHktc2lnbmF0dXJl"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	must(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// expectNoSecret fails if text holds any secret of these tests.
func expectNoSecret(t testing.TB, what, text string) {
	t.Helper()
	for _, s := range []string{testSecretKey, testSessionToken, testClientSecret, testIDToken, "eyJ"} {
		if strings.Contains(text, s) {
			t.Fatalf("%s shows a secret (%.8s...): %s", what, s, text)
		}
	}
}

func TestValidateRefusesBadSettings(t *testing.T) {
	dir := t.TempDir()
	tok := writeFile(t, dir, "token", testIDToken)
	good := Settings{STS: "https://sts.example.com/", TokenFile: tok}
	if _, err := good.Validate(); err != nil {
		t.Fatalf("good settings refused: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*Settings)
		want string
	}{
		{"no sts", func(s *Settings) { s.STS = "" }, "--sts is required"},
		{"relative sts", func(s *Settings) { s.STS = "sts.example.com" }, "--sts"},
		{"ftp sts", func(s *Settings) { s.STS = "ftp://sts.example.com" }, "scheme"},
		{"plain http to the network", func(s *Settings) { s.STS = "http://sts.example.com" }, "loopback addresses only"},
		{"plain http to a private address", func(s *Settings) { s.STS = "http://10.1.2.3:8282" }, "loopback addresses only"},
		{"user in the URL", func(s *Settings) { s.STS = "https://u:p@sts.example.com" }, "user or password"},
		{"query in the URL", func(s *Settings) { s.STS = "https://sts.example.com/?Action=x" }, "query"},
		{"unknown action", func(s *Settings) { s.Action = "AssumeRole" }, "--action"},
		{"short role arn", func(s *Settings) { s.RoleARN = "arn:aws:iam::1:r" }, "--role-arn"},
		{"not an arn", func(s *Settings) { s.RoleARN = strings.Repeat("x", 30) }, "--role-arn"},
		{"bad session name", func(s *Settings) { s.SessionName = "has space" }, "--role-session-name"},
		{"one-letter session name", func(s *Settings) { s.SessionName = "x" }, "--role-session-name"},
		{"client grants with a role", func(s *Settings) { s.Action = ClientGrants; s.RoleARN = DefaultRoleARN }, "--role-arn"},
		{"duration too short", func(s *Settings) { s.DurationSeconds = 59 }, "--duration-seconds"},
		{"duration too long", func(s *Settings) { s.DurationSeconds = 400 * 24 * 3600 }, "--duration-seconds"},
		{"negative duration", func(s *Settings) { s.DurationSeconds = -1 }, "--duration-seconds"},
		{"no token source", func(s *Settings) { s.TokenFile = "" }, "identity token source is required"},
		{"two token sources", func(s *Settings) { s.TokenURL = "https://idp.example.com/token" }, "exclude each other"},
		{"client id with a token file", func(s *Settings) { s.ClientID = "x" }, "go with --token-url"},
		{"token url without client", func(s *Settings) {
			s.TokenFile, s.TokenURL, s.ClientSecretFile = "", "https://idp.example.com/token", tok
		}, "--client-id is required"},
		{"token url without secret file", func(s *Settings) {
			s.TokenFile, s.TokenURL, s.ClientID = "", "https://idp.example.com/token", "c"
		}, "--client-secret-file is required"},
		{"token url over plain http", func(s *Settings) {
			s.TokenFile, s.TokenURL, s.ClientID, s.ClientSecretFile = "", "http://idp.example.com/token", "c", tok
		}, "--token-url: plain http"},
		{"unknown client auth", func(s *Settings) {
			s.TokenFile, s.TokenURL, s.ClientID, s.ClientSecretFile, s.ClientAuth = "", "https://idp.example.com/token", "c", tok, "jwt"
		}, "--client-auth"},
		{"control character in the scope", func(s *Settings) {
			s.TokenFile, s.TokenURL, s.ClientID, s.ClientSecretFile, s.Scope = "", "https://idp.example.com/token", "c", tok, "a\nb"
		}, "control characters"},
	} {
		s := good
		c.edit(&s)
		_, err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
		if _, ferr := NewFetcher(s, 0); ferr == nil {
			t.Errorf("%s: NewFetcher accepted it", c.name)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8282", "http://localhost:8282/", "http://[::1]:8282", "https://sts.example.com/sts/"} {
		s := good
		s.STS = u
		if _, err := s.Validate(); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	if _, err := NewFetcher(good, -time.Second); err == nil {
		t.Error("a negative timeout was accepted")
	}
	s := good
	s.CAFile = writeFile(t, dir, "ca.pem", "not a certificate")
	if _, err := NewFetcher(s, 0); err == nil || !strings.Contains(err.Error(), "--ca-file") {
		t.Errorf("a CA file without certificates: %v", err)
	}
}

func TestKeyIdentifiesSettings(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, dir, "token", testIDToken)
	a := Settings{STS: "https://sts.example.com", TokenFile: "token"}
	b := Settings{STS: "https://sts.example.com", TokenFile: filepath.Join(dir, "token"), Action: WebIdentity,
		RoleARN: DefaultRoleARN, SessionName: DefaultSessionName}
	if a.Key() != b.Key() {
		t.Fatal("the same settings spelled differently have different keys")
	}
	for _, edit := range []func(*Settings){
		func(s *Settings) { s.STS = "https://other.example.com" },
		func(s *Settings) { s.RoleARN = "arn:aws:iam::000000000000:role/other" },
		func(s *Settings) { s.SessionName = "other" },
		func(s *Settings) { s.DurationSeconds = 900 },
		func(s *Settings) { s.TokenFile = "other" },
	} {
		c := a
		edit(&c)
		if c.Key() == a.Key() {
			t.Errorf("%+v has the key of %+v", c, a)
		}
	}
	if len(a.Key()) != 64 {
		t.Fatalf("key %q", a.Key())
	}
}

func TestCredentialsNeverFormatTheirSecrets(t *testing.T) {
	c := Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: testSecretKey, SessionToken: testSessionToken,
		Expiration: time.Now().Add(time.Hour), Obtained: time.Now()}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		expectNoSecret(t, f, fmt.Sprintf(f, c))
		expectNoSecret(t, f+" of a pointer", fmt.Sprintf(f, &c))
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "creds", c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "creds", c)
	expectNoSecret(t, "slog", buf.String())
	if !strings.Contains(buf.String(), "ASIAEXAMPLE") {
		t.Fatalf("the access key id is missing from the log: %s", buf.String())
	}
	var out map[string]any
	must(t, json.Unmarshal(c.ProcessJSON(), &out))
	if out["Version"] != float64(1) || out["AccessKeyId"] != "ASIAEXAMPLE" || out["SecretAccessKey"] != testSecretKey ||
		out["SessionToken"] != testSessionToken || len(out) != 5 {
		t.Fatalf("credential_process output: %v", out)
	}
	if _, err := time.Parse(time.RFC3339, out["Expiration"].(string)); err != nil || !strings.HasSuffix(out["Expiration"].(string), "Z") {
		t.Fatalf("Expiration %v: %v", out["Expiration"], err)
	}
}

func TestTiming(t *testing.T) {
	now := time.Now()
	creds := func(life time.Duration) Credentials {
		return Credentials{AccessKeyID: "A", SecretAccessKey: "S", SessionToken: "T", Obtained: now, Expiration: now.Add(life)}
	}
	for _, c := range []struct {
		life, margin, want time.Duration
	}{
		{time.Hour, 0, DefaultMargin},
		{12 * time.Hour, 0, DefaultMargin},
		{time.Minute, 0, 15 * time.Second},
		{2 * time.Minute, 0, 30 * time.Second},
		{time.Hour, 5 * time.Minute, 5 * time.Minute},
		{time.Minute, 5 * time.Minute, 30 * time.Second}, // capped at half the lifetime
	} {
		got := creds(c.life).Expiration.Sub(Timing{Margin: c.margin}.RefreshAt(creds(c.life)))
		if got != c.want {
			t.Errorf("lifetime %s, margin %s: renewed %s before expiry, want %s", c.life, c.margin, got, c.want)
		}
	}
	c := creds(time.Minute)
	tm := Timing{}
	if !tm.Fresh(c, now) || tm.Fresh(c, now.Add(50*time.Second)) {
		t.Error("Fresh")
	}
	if !Usable(c, now.Add(50*time.Second)) || Usable(c, now.Add(55*time.Second)) || Usable(c, now.Add(time.Hour)) {
		t.Error("Usable: a tenth of the lifetime must be left")
	}
	if MinRemaining(creds(12*time.Hour)) != MaxMinRemaining {
		t.Error("MinRemaining is at most a minute")
	}
	incomplete := c
	incomplete.SessionToken = ""
	if tm.Fresh(incomplete, now) || Usable(incomplete, now) {
		t.Error("incomplete credentials are never fresh or usable")
	}
}

// fakeSTS answers with the repository's own STS wire code, so the requests
// the Fetcher sends are parsed exactly as opa-sts parses them.
type fakeSTS struct {
	mu       sync.Mutex
	requests []*stswire.Request
	fail     *stswire.Error
	life     time.Duration
	answer   func(w http.ResponseWriter) bool
}

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, werr := stswire.ParseRequest(r, stswire.DefaultLimits())
	if werr != nil {
		stswire.WriteError(w, werr, "req-1")
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	fail, life, answer := f.fail, f.life, f.answer
	f.mu.Unlock()
	if answer != nil && answer(w) {
		return
	}
	if fail != nil {
		stswire.WriteError(w, fail, "req-2")
		return
	}
	if life == 0 {
		life = time.Hour
	}
	_ = stswire.WriteResult(w, stswire.Result{Action: req.Action, Credentials: stswire.Credentials{
		AccessKeyID: "ASIAFAKE0000000001", SecretAccessKey: testSecretKey, SessionToken: testSessionToken,
		Expiration: time.Now().Add(life).Truncate(time.Second),
	}, Subject: "workload"}, "req-3")
}

func (f *fakeSTS) last(t testing.TB) *stswire.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("the STS got no request")
	}
	return f.requests[len(f.requests)-1]
}

// fakeIdP is a client_credentials token endpoint.
type fakeIdP struct {
	mu     sync.Mutex
	forms  []url.Values
	auth   []string
	answer func(w http.ResponseWriter) bool
}

func (f *fakeIdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	f.forms = append(f.forms, r.PostForm)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	answer := f.answer
	f.mu.Unlock()
	if answer != nil && answer(w) {
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	w.Header().Set("Content-Type", "application/json")
	if id != "workload" || secret != testClientSecret {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"client authentication failed"}`))
		return
	}
	_, _ = w.Write([]byte(`{"access_token":"` + testIDToken + `","token_type":"bearer","expires_in":300}`))
}

func newEnv(t *testing.T) (*fakeIdP, *fakeSTS, *httptest.Server, *httptest.Server) {
	idp, sts := &fakeIdP{}, &fakeSTS{}
	idpSrv, stsSrv := httptest.NewServer(idp), httptest.NewServer(sts)
	t.Cleanup(idpSrv.Close)
	t.Cleanup(stsSrv.Close)
	return idp, sts, idpSrv, stsSrv
}

func TestFetchWithClientCredentials(t *testing.T) {
	idp, sts, idpSrv, stsSrv := newEnv(t)
	dir := t.TempDir()
	secretFile := writeFile(t, dir, "secret", testClientSecret+"\n")
	for _, auth := range []string{"", ClientSecretPost} {
		f, err := NewFetcher(Settings{STS: stsSrv.URL, TokenURL: idpSrv.URL + "/token", ClientID: "workload",
			ClientSecretFile: secretFile, ClientAuth: auth, Scope: "s3 sts", Audience: "sts", DurationSeconds: 900}, 0)
		must(t, err)
		c, err := f.Fetch(context.Background())
		must(t, err)
		if c.AccessKeyID != "ASIAFAKE0000000001" || c.SecretAccessKey != testSecretKey || c.SessionToken != testSessionToken ||
			!c.Expiration.After(c.Obtained) || c.Lifetime() > time.Hour {
			t.Fatalf("credentials %v", c)
		}
		req := sts.last(t)
		if req.Action != stswire.AssumeRoleWithWebIdentity || req.Token != testIDToken || req.RoleArn != DefaultRoleARN ||
			req.RoleSessionName != DefaultSessionName || req.DurationSeconds != 900 {
			t.Fatalf("STS request %v", req)
		}
		idp.mu.Lock()
		form, authz := idp.forms[len(idp.forms)-1], idp.auth[len(idp.auth)-1]
		idp.mu.Unlock()
		if form.Get("grant_type") != "client_credentials" || form.Get("scope") != "s3 sts" || form.Get("audience") != "sts" {
			t.Fatalf("token request %v", form)
		}
		if auth == ClientSecretPost {
			if authz != "" || form.Get("client_secret") != testClientSecret {
				t.Fatalf("client_secret_post: Authorization %q, form %v", authz, form)
			}
		} else if authz != "Basic "+base64.StdEncoding.EncodeToString([]byte("workload:"+testClientSecret)) || form.Has("client_secret") {
			t.Fatalf("client_secret_basic: Authorization %q, form %v", authz, form)
		}
	}
}

func TestFetchWithTokenFileAndClientGrants(t *testing.T) {
	_, sts, _, stsSrv := newEnv(t)
	dir := t.TempDir()
	tokenFile := writeFile(t, dir, "token", testIDToken+"\n")
	f, err := NewFetcher(Settings{STS: stsSrv.URL, TokenFile: tokenFile, Action: ClientGrants, DurationSeconds: 3600}, 0)
	must(t, err)
	c, err := f.Fetch(context.Background())
	must(t, err)
	req := sts.last(t)
	if req.Action != stswire.AssumeRoleWithClientGrants || req.Token != testIDToken || req.DurationSeconds != 3600 || c.SessionToken != testSessionToken {
		t.Fatalf("request %v, credentials %v", req, c)
	}
	// The file is read at every fetch: a rotated token is used at once.
	rotated := strings.Replace(testIDToken, "aWRlbnRpdHkt", "cm90YXRlZC0t", 1)
	must(t, os.WriteFile(tokenFile, []byte(rotated), 0o600))
	_, err = f.Fetch(context.Background())
	must(t, err)
	if sts.last(t).Token != rotated {
		t.Fatal("the rotated token was not read")
	}
}

// Every failure names what failed, and never shows a secret, even when the
// remote party echoes one.
func TestFetchFailuresNameTheCauseWithoutSecrets(t *testing.T) {
	idp, sts, idpSrv, stsSrv := newEnv(t)
	dir := t.TempDir()
	secretFile := writeFile(t, dir, "secret", testClientSecret)
	tokenFile := writeFile(t, dir, "token", testIDToken)
	viaIdP := Settings{STS: stsSrv.URL, TokenURL: idpSrv.URL, ClientID: "workload", ClientSecretFile: secretFile}
	viaFile := Settings{STS: stsSrv.URL, TokenFile: tokenFile}
	setIdP := func(a func(w http.ResponseWriter) bool) { idp.mu.Lock(); idp.answer = a; idp.mu.Unlock() }
	setSTS := func(fail *stswire.Error, a func(w http.ResponseWriter) bool) {
		sts.mu.Lock()
		sts.fail, sts.answer = fail, a
		sts.mu.Unlock()
	}
	fetch := func(s Settings) error {
		f, err := NewFetcher(s, 5*time.Second)
		must(t, err)
		_, err = f.Fetch(context.Background())
		if err == nil {
			t.Fatal("the fetch succeeded")
		}
		expectNoSecret(t, "error", err.Error())
		return err
	}
	expect := func(name string, err error, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", name, err, w)
			}
		}
	}

	wrong := writeFile(t, dir, "wrong", "not-the-secret")
	s := viaIdP
	s.ClientSecretFile = wrong
	expect("wrong client secret", fetch(s), "identity provider "+idpSrv.URL, "invalid_client", "HTTP 401")
	s.ClientSecretFile = filepath.Join(dir, "missing")
	expect("missing secret file", fetch(s), "client secret file", "missing")
	s.ClientSecretFile = writeFile(t, dir, "empty", "\n")
	expect("empty secret file", fetch(s), "client secret file", "empty")

	echo := func(status int, body string) func(w http.ResponseWriter) bool {
		return func(w http.ResponseWriter) bool {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
			return true
		}
	}
	setIdP(echo(400, `{"error":"invalid_scope","error_description":"secret `+testClientSecret+` token `+testIDToken+`"}`))
	expect("an IdP that echoes secrets", fetch(viaIdP), "invalid_scope", "<redacted>")
	setIdP(echo(200, `{"token_type":"bearer"}`))
	expect("no access token", fetch(viaIdP), "no access_token")
	setIdP(echo(200, `{"access_token":"`+testIDToken+`","token_type":"mac"}`))
	expect("not a bearer token", fetch(viaIdP), "not Bearer")
	setIdP(echo(200, `{"access_token":"two words"}`))
	expect("white space in the token", fetch(viaIdP), "white space")
	setIdP(func(w http.ResponseWriter) bool {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<html>` + testClientSecret + `</html>`))
		return true
	})
	expect("an HTML page", fetch(viaIdP), "not an OAuth2 token response")
	setIdP(func(w http.ResponseWriter) bool {
		w.Header().Set("Location", "https://elsewhere.example/")
		w.WriteHeader(http.StatusTemporaryRedirect)
		return true
	})
	expect("a redirect", fetch(viaIdP), "HTTP 307")
	setIdP(func(w http.ResponseWriter) bool {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"` + strings.Repeat("a", maxResponseBytes) + `"}`))
		return true
	})
	expect("an oversized answer", fetch(viaIdP), "larger than")
	setIdP(nil)

	s = viaIdP
	s.TokenURL = "http://127.0.0.1:1/token"
	expect("an unreachable IdP", fetch(s), "identity provider http://127.0.0.1:1/token", "unreachable")

	s = viaFile
	s.TokenFile = filepath.Join(dir, "absent")
	expect("missing token file", fetch(s), "token file", "absent")
	s.TokenFile = writeFile(t, dir, "blank", "  \n")
	expect("blank token file", fetch(s), "token file", "empty")
	s.TokenFile = writeFile(t, dir, "two", "a b")
	expect("white space in the token file", fetch(s), "white space")

	setSTS(stswire.InvalidIdentityToken("token signature invalid"), nil)
	expect("an STS refusal", fetch(viaFile), "STS "+stsSrv.URL, WebIdentity, "InvalidIdentityToken", "token signature invalid", "HTTP 400", "request id req-2")
	setSTS(stswire.AccessDenied("no role for "+testIDToken[:40]), nil)
	expect("an STS that echoes a piece of the token", fetch(viaIdP), "AccessDenied", "HTTP 403")
	cg := viaFile
	cg.Action = ClientGrants
	setSTS(stswire.ExpiredToken("token expired"), nil)
	expect("a client grants refusal", fetch(cg), ClientGrants, "ExpiredTokenException", "token expired", "HTTP 400")
	setSTS(nil, func(w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>bad gateway</html>"))
		return true
	})
	expect("a proxy's error page (client grants)", fetch(cg), ClientGrants, "HTTP 502")
	setSTS(nil, func(w http.ResponseWriter) bool {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`))
		return true
	})
	expect("incomplete credentials", fetch(viaFile), "lacks")
	setSTS(nil, nil)
	sts.mu.Lock()
	sts.life = -time.Hour
	sts.mu.Unlock()
	expect("expired credentials", fetch(viaFile), "expired at")
	sts.mu.Lock()
	sts.life = 0
	sts.mu.Unlock()

	s = viaFile
	s.STS = "http://127.0.0.1:1"
	expect("an unreachable STS (client grants)", fetch(func() Settings { c := s; c.Action = ClientGrants; return c }()), "unreachable")
}

func TestScrub(t *testing.T) {
	got := scrub("a\x00b\nc "+testClientSecret+" "+testIDToken[:30]+" \xff", testClientSecret)
	if strings.Contains(got, "\x00") || strings.Contains(got, "\n") || strings.Contains(got, testClientSecret) || strings.Contains(got, "eyJ") {
		t.Fatalf("scrub: %q", got)
	}
	if long := scrub(strings.Repeat("x", 10*maxRemoteText)); len(long) > maxRemoteText+3 {
		t.Fatalf("scrub does not bound the length: %d", len(long))
	}
	if e := scrubError(errors.New("x "+testClientSecret), testClientSecret); errors.Unwrap(e) != nil || strings.Contains(e.Error(), testClientSecret) {
		t.Fatalf("scrubError: %v", e)
	}
}
