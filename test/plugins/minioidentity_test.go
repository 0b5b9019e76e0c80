package plugins_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/testkeys"
	"github.com/opa-sts/opa-sts/plugin/minioidentity"
)

const (
	idpIssuer     = "https://idp.inprocess.test"
	identityToken = "minio-identity-plugin-token-0123456789"
)

type identityHarness struct {
	*harness
	url string // http://addr/minio/identity
	key *testkeys.Key
}

func newIdentityHarness(t *testing.T) *identityHarness {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "minio-identity.token")
	must(t, os.WriteFile(tokenFile, []byte(identityToken+"\n"), 0o600))
	key := testkeys.New(t, "ES256", "k1")
	data := map[string]any{"opa_sts": map[string]any{
		"providers": []any{map[string]any{"issuer": idpIssuer, "audiences": []any{"minio"},
			"jwks": map[string]any{"keys": []any{key.PublicJWK(t, true)}}}},
		"bindings": []any{map[string]any{"role": "home", "issuer": idpIssuer, "clients": []any{"app"}}},
		"roles": map[string]any{"home": map[string]any{"statements": []any{map[string]any{
			"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::homes/${jwt:sub}/*"}}}},
	}}
	cfg, _ := json.Marshal(map[string]any{"plugins": map[string]any{minioidentity.Name: map[string]any{
		"addr": "127.0.0.1:0", "auth_token_file": tokenFile}}})
	h := newManager(t, dir, string(cfg), data)
	must(t, h.m.Start(context.Background()))
	p := h.m.Plugin(minioidentity.Name).(*minioidentity.Plugin)
	return &identityHarness{harness: h, url: "http://" + p.Addr() + minioidentity.Path, key: key}
}

func (h *identityHarness) token(t *testing.T, claims map[string]any) string {
	now := time.Now().Unix()
	base := map[string]any{"iss": idpIssuer, "aud": "minio", "sub": "u-42", "azp": "app", "iat": now, "exp": now + 3000}
	for k, v := range claims {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	return h.key.Sign(t, base, nil)
}

// call sends what MinIO sends: POST <url>?token=<token>, an empty body,
// Authorization verbatim.
func (h *identityHarness) call(t *testing.T, method, rawQuery string, header http.Header, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, h.url+"?"+rawQuery, body)
	must(t, err)
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		must(t, json.Unmarshal(raw, &out))
	}
	return resp.StatusCode, out
}

func minioHeader() http.Header {
	return http.Header{"Authorization": {"Bearer " + identityToken}, "Content-Type": {"application/json"}}
}

func tokenQuery(tok string) string { return url.Values{"token": {tok}}.Encode() }

// The negative cases first: nothing but MinIO's exact request, with the
// configured token, reaches the decision.
func TestMinIOIdentityRefusesWhatIsNotMinIO(t *testing.T) {
	h := newIdentityHarness(t)
	good := h.token(t, nil)
	cases := []struct {
		name, method, query string
		header              http.Header
		body                io.Reader
		status              int
	}{
		{"no authorization", http.MethodPost, tokenQuery(good), http.Header{}, nil, 401},
		{"wrong token", http.MethodPost, tokenQuery(good), http.Header{"Authorization": {"Bearer " + identityToken + "x"}}, nil, 401},
		{"token without Bearer", http.MethodPost, tokenQuery(good), http.Header{"Authorization": {identityToken}}, nil, 401},
		{"two authorization headers", http.MethodPost, tokenQuery(good), http.Header{"Authorization": {"Bearer " + identityToken, "Bearer " + identityToken}}, nil, 401},
		{"HEAD without authorization", http.MethodHead, "", http.Header{}, nil, 401},
		{"GET", http.MethodGet, tokenQuery(good), minioHeader(), nil, 405},
		{"a body", http.MethodPost, tokenQuery(good), minioHeader(), strings.NewReader(`{"token":"x"}`), 400},
		{"the token twice", http.MethodPost, tokenQuery(good) + "&" + tokenQuery(good), minioHeader(), nil, 400},
		{"malformed query", http.MethodPost, "token=%zz", minioHeader(), nil, 400},
		{"no token", http.MethodPost, "", minioHeader(), nil, 403},
		{"empty token", http.MethodPost, "token=", minioHeader(), nil, 403},
		{"oversized token", http.MethodPost, tokenQuery(strings.Repeat("a", 20001)), minioHeader(), nil, 403},
		{"not a JWT", http.MethodPost, tokenQuery("not-a-jwt"), minioHeader(), nil, 403},
		{"expired", http.MethodPost, tokenQuery(h.token(t, map[string]any{"exp": time.Now().Unix() - 3600})), minioHeader(), nil, 403},
		{"wrong audience", http.MethodPost, tokenQuery(h.token(t, map[string]any{"aud": "other"})), minioHeader(), nil, 403},
		{"unbound client", http.MethodPost, tokenQuery(h.token(t, map[string]any{"azp": "stranger"})), minioHeader(), nil, 403},
		{"forged signature", http.MethodPost, tokenQuery(good[:len(good)-4] + "AAAA"), minioHeader(), nil, 403},
	}
	for _, c := range cases {
		status, body := h.call(t, c.method, c.query, c.header, c.body)
		if status != c.status {
			t.Errorf("%s: status %d, want %d (%v)", c.name, status, c.status, body)
			continue
		}
		if c.method != http.MethodHead && (body == nil || body["reason"] == "" || body["user"] != nil) {
			t.Errorf("%s: body %v, want only a reason", c.name, body)
		}
		if reason, _ := body["reason"].(string); strings.Contains(reason, identityToken) {
			t.Errorf("%s: the refusal shows the configured token", c.name)
		}
	}
	// The unbound identity is refused by the decision, with its reason.
	_, body := h.call(t, http.MethodPost, tokenQuery(h.token(t, map[string]any{"azp": "stranger"})), minioHeader(), nil)
	if body["reason"] != "no role is bound to this identity" {
		t.Errorf("unbound: reason %q", body["reason"])
	}
	for result, want := range map[string]float64{"unauthorized": 5, "bad_request": 4, "denied": 9} {
		if got := counter(t, h.harness, "opa_sts_minio_identity_requests_total", result); got != want {
			t.Errorf("opa_sts_minio_identity_requests_total{result=%q} = %v, want %v", result, got, want)
		}
	}
}

// counter reads a counter with one label value from the manager's registry.
func counter(t *testing.T, h *harness, name, label string) float64 {
	t.Helper()
	families, err := h.registry.Gather()
	must(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					sum += m.GetCounter().GetValue()
				}
			}
		}
		return sum
	}
	return 0
}

func TestMinIOIdentityAnswersABoundToken(t *testing.T) {
	h := newIdentityHarness(t)
	tok := h.token(t, map[string]any{"groups": []any{"/team-a"}, "roleArn": "forged", "parent": "root"})
	status, body := h.call(t, http.MethodPost, tokenQuery(tok), minioHeader(), nil)
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, body)
	}
	if body["user"] != "u-42" || body["maxValiditySeconds"] != float64(3600) {
		t.Errorf("answer %v", body)
	}
	claims, _ := body["claims"].(map[string]any)
	if claims["opa_sts_sub"] != "u-42" || claims["iss"] != idpIssuer || claims["azp"] != "app" {
		t.Errorf("claims %v", claims)
	}
	for _, minioOwn := range []string{"sub", "exp", "iat", "parent", "roleArn"} {
		if _, ok := claims[minioOwn]; ok {
			t.Errorf("claims carry %q, which MinIO sets itself", minioOwn)
		}
	}
	if status, _ := h.call(t, http.MethodHead, "", minioHeader(), nil); status != http.StatusOK {
		t.Errorf("HEAD health check: %d", status)
	}
	if got := counter(t, h.harness, "opa_sts_minio_identity_requests_total", "allowed"); got != 2 {
		t.Errorf("allowed counter %v", got)
	}

	// One decision-log entry for the POST, with the token's fingerprint
	// and never the token (nor the auth token).
	var entry map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for entry == nil && time.Now().Before(deadline) {
		for _, e := range h.decisionLogs() {
			if e["path"] == "data.sts.minio.identity" {
				entry = e
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if entry == nil {
		t.Fatal("no decision log entry for the identity call")
	}
	raw, _ := json.Marshal(entry)
	if strings.Contains(string(raw), tok) || strings.Contains(string(raw), identityToken) {
		t.Fatalf("the decision log shows a token: %s", raw)
	}
	if !strings.Contains(string(raw), "token_fingerprint") || !strings.Contains(string(raw), `"user":"u-42"`) {
		t.Errorf("decision log entry lacks the fingerprint or the decision: %s", raw)
	}
}

func TestMinIOIdentityConfiguration(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	must(t, os.WriteFile(short, []byte("tooshort"), 0o600))
	spaced := filepath.Join(dir, "spaced")
	must(t, os.WriteFile(spaced, []byte("Bearer minio-identity-plugin-token"), 0o600))
	for name, cfg := range map[string]string{
		"no token file":   `{}`,
		"inline token":    `{"auth_token": "minio-identity-plugin-token-0123456789"}`,
		"missing file":    `{"auth_token_file": "` + filepath.Join(dir, "absent") + `"}`,
		"short token":     `{"auth_token_file": "` + short + `"}`,
		"two words":       `{"auth_token_file": "` + spaced + `"}`,
		"unknown setting": `{"auth_token_file": "` + short + `", "tokn": 1}`,
		"bad addr":        `{"addr": "nowhere", "auth_token_file": "` + short + `"}`,
		"negative limit":  `{"auth_token_file": "` + short + `", "limits": {"max_token_bytes": -1}}`,
	} {
		if _, err := (minioidentity.Factory{}).Validate(nil, []byte(cfg)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "minio-identity-plugin-token") {
			t.Errorf("%s: the error shows the token: %v", name, err)
		}
	}
}

// A reconfiguration with a new token file takes effect: the old token is
// refused, the new one accepted.
func TestMinIOIdentityReconfigure(t *testing.T) {
	h := newIdentityHarness(t)
	newFile := filepath.Join(h.dir, "rotated.token")
	must(t, os.WriteFile(newFile, []byte("rotated-identity-token-0123456789"), 0o600))
	parsed, err := (minioidentity.Factory{}).Validate(h.m, []byte(`{"addr": "127.0.0.1:0", "auth_token_file": "`+newFile+`"}`))
	must(t, err)
	p := h.m.Plugin(minioidentity.Name).(*minioidentity.Plugin)
	p.Reconfigure(context.Background(), parsed)
	h.url = "http://" + p.Addr() + minioidentity.Path
	tok := h.token(t, nil)
	if status, _ := h.call(t, http.MethodPost, tokenQuery(tok), minioHeader(), nil); status != http.StatusUnauthorized {
		t.Errorf("old token after rotation: %d", status)
	}
	hdr := http.Header{"Authorization": {"Bearer rotated-identity-token-0123456789"}}
	if status, body := h.call(t, http.MethodPost, tokenQuery(tok), hdr, nil); status != http.StatusOK {
		t.Errorf("new token after rotation: %d %v", status, body)
	}
	if h.status(minioidentity.Name) != "OK" {
		t.Errorf("status after reconfigure: %v", h.m.PluginStatus()[minioidentity.Name])
	}
}
