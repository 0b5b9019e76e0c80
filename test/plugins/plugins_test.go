// Package plugins_test runs opa-sts's plugins in-process on a real OPA
// plugins.Manager (an in-memory store with the default policies, a test
// logger, OPA's own decision-log plugin writing to the console), the way
// opa-envoy-plugin tests its plugin: start, status, reconfigure, stop, the
// decision-log entries, an enforcement-only manager, and the mint that a
// query outside the STS plugin may not make.
package plugins_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/logging/test"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/plugins/logs"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/prometheus/client_golang/prometheus"

	_ "github.com/opa-sts/opa-sts/builtins"
	"github.com/opa-sts/opa-sts/internal/core"
	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/internal/sessions"
	"github.com/opa-sts/opa-sts/internal/sessionstore"
	"github.com/opa-sts/opa-sts/plugin/minioidentity"
	"github.com/opa-sts/opa-sts/plugin/s3iam"
	"github.com/opa-sts/opa-sts/plugin/sts"
	"github.com/opa-sts/opa-sts/policies"
)

const (
	issuer     = "https://sts.inprocess.test"
	gwAK, gwSK = "GATEWAYIAMCLIENT0001", "gateway-iam-secret-0123456789abcdef"
)

type harness struct {
	m       *plugins.Manager
	console *test.Logger
	dir     string
	// registry is the manager's Prometheus registry.
	registry *prometheus.Registry
	stopped  bool
}

// stop stops the manager once (OPA's decision-log plugin blocks on a
// second Stop, and on a Stop without a Start).
func (h *harness) stop() {
	if !h.stopped {
		h.stopped = true
		h.m.Stop(context.Background())
	}
}

func secretFile(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "gateway-secret")
	must(t, os.WriteFile(path, []byte(gwSK+"\n"), 0o600))
	return path
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newManager builds a manager from an OPA configuration (JSON) with the
// default policies and data, registers the plugins it names the way the
// runtime does (core always), and OPA's decision-log plugin on the
// console.
func newManager(t *testing.T, dir, config string, data map[string]any) *harness {
	t.Helper()
	ctx := context.Background()
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	must(t, storage.Txn(ctx, store, storage.WriteParams, func(txn storage.Transaction) error {
		return fs.WalkDir(policies.Default, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".rego") || strings.HasSuffix(path, "_test.rego") {
				return err
			}
			src, err := fs.ReadFile(policies.Default, path)
			if err != nil {
				return err
			}
			return store.UpsertPolicy(ctx, txn, path, src)
		})
	}))
	console := test.New()
	registry := prometheus.NewRegistry()
	m, err := plugins.New([]byte(config), "inprocess", store,
		plugins.Logger(logging.NewNoOpLogger()), plugins.ConsoleLogger(console),
		plugins.WithPrometheusRegister(registry))
	must(t, err)
	must(t, m.Init(ctx))
	factories := map[string]plugins.Factory{core.Name: core.Factory{}, sts.Name: sts.Factory{}, s3iam.Name: s3iam.Factory{}, minioidentity.Name: minioidentity.Factory{}}
	var cfg map[string]json.RawMessage
	must(t, json.Unmarshal([]byte(config), &struct {
		Plugins *map[string]json.RawMessage `json:"plugins"`
	}{&cfg}))
	if _, ok := cfg[core.Name]; !ok {
		if cfg == nil {
			cfg = map[string]json.RawMessage{}
		}
		cfg[core.Name] = json.RawMessage(`{}`)
	}
	for name, raw := range cfg {
		f := factories[name]
		parsed, err := f.Validate(m, raw)
		must(t, err)
		m.Register(name, f.New(m, parsed))
	}
	lc, err := logs.NewConfigBuilder().WithBytes([]byte(`{"console": true}`)).WithServices(m.Services()).Parse()
	must(t, err)
	m.Register(logs.Name, logs.New(lc, m))
	h := &harness{m: m, console: console, dir: dir, registry: registry}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) status(name string) plugins.State {
	if s := h.m.PluginStatus()[name]; s != nil {
		return s.State
	}
	return ""
}

func sessionsConfig(dir string) string {
	return `"` + core.Name + `": {"issuer": "` + issuer + `", "store": {"type": "memory"}, "keys": {"dir": "` + filepath.Join(dir, "keys") + `"}}`
}

func generateKeys(t *testing.T, dir string) *keyring.Keyring {
	t.Helper()
	_, err := keyring.EnsureFiles(filepath.Join(dir, "keys"))
	must(t, err)
	kr, err := keyring.Load(keyring.DefaultFiles(filepath.Join(dir, "keys")))
	must(t, err)
	return kr
}

// gateway calls the s3_iam plugin over its unix socket, signed as
// versitygw signs (SigV4, service iam).
func gateway(t *testing.T, socket, path string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	r, _ := http.NewRequest(http.MethodPost, "http://unix"+path, bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Vgw-Private-Protocol", "1")
	sum := sha256.Sum256(b)
	payload := hex.EncodeToString(sum[:])
	r.Header.Set("X-Amz-Content-Sha256", payload)
	must(t, v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: gwAK, SecretAccessKey: gwSK}, r, payload, "iam", "us-east-1", time.Now()))
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}, Timeout: 10 * time.Second}
	resp, err := c.Do(r)
	must(t, err)
	defer resp.Body.Close()
	var out map[string]any
	rb, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(rb, &out)
	return resp.StatusCode, out
}

func mint(t *testing.T, kr *keyring.Keyring, grant map[string]any) credentials.Issued {
	t.Helper()
	a, err := sessions.NewForTest(issuer, kr)
	must(t, err)
	details, _ := json.Marshal(grant)
	c, err := a.Mint(credentials.Grant{Subject: grant["subject"].(string), Duration: time.Hour, Details: details,
		Source: credentials.Source{Issuer: "https://idp.test", ClientID: "app"}}, time.Now())
	must(t, err)
	return c
}

// An enforcement-only manager (s3_iam and the session authority, no STS)
// verifies sessions minted elsewhere with the same keys, answers
// evaluate-policy from data.s3.decision, refuses revoked sessions at both
// endpoints, and logs refusals without the session token.
func TestEnforcementOnlyManager(t *testing.T) {
	dir := t.TempDir()
	kr := generateKeys(t, dir)
	socket := filepath.Join(dir, "iam.sock")
	h := newManager(t, dir, `{"plugins": {`+sessionsConfig(dir)+`, "s3_iam": {"socket": "`+socket+`", "access_key": "`+gwAK+`", "secret_key_file": "`+secretFile(t, dir)+`"}}}`, nil)
	must(t, h.m.Start(context.Background()))
	if h.status(core.Name) != plugins.StateOK || h.status(s3iam.Name) != plugins.StateOK {
		t.Fatalf("statuses %v", h.m.PluginStatus())
	}
	c := mint(t, kr, map[string]any{"subject": "alice", "duration_seconds": 3600,
		"permissions": []any{map[string]any{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/alice/*"}}})
	eval := func() (int, map[string]any) {
		return gateway(t, socket, "/private/evaluate-policy", map[string]any{"accessKeyId": c.AccessKeyID, "sessionToken": c.SessionToken,
			"actions": []string{"s3:GetObject"}, "resources": []string{"arn:aws:s3:::data/alice/x", "arn:aws:s3:::data/bob/x"}})
	}
	status, out := eval()
	if status != 200 {
		t.Fatalf("evaluate-policy: %d %v", status, out)
	}
	if got, _ := json.Marshal(out["decisions"]); string(got) != `[["allow"],["no_match"]]` {
		t.Fatalf("decisions %s", got)
	}
	status, out = gateway(t, socket, "/private/derive-signing-key", map[string]any{"accessKeyId": c.AccessKeyID, "sessionToken": c.SessionToken,
		"date": time.Now().UTC().Format("20060102"), "region": "us-east-1", "service": "s3"})
	if status != 200 || out["derivedKey"] == nil {
		t.Fatalf("derive-signing-key: %d %v", status, out)
	}
	// A scope that is not one SigV4 can have is refused before the session
	// is looked at.
	for _, scope := range []map[string]any{
		{"date": "2026-12-01", "region": "us-east-1", "service": "s3"},
		{"date": "20261301", "region": "us-east-1", "service": "s3"},
		{"date": time.Now().UTC().Format("20060102"), "region": "us-east-1/x", "service": "s3"},
		{"date": time.Now().UTC().Format("20060102"), "region": "US-EAST-1", "service": "s3"},
		{"date": time.Now().UTC().Format("20060102"), "region": "us-east-1", "service": ""},
		{"date": time.Now().UTC().Format("20060102"), "region": strings.Repeat("a", 65), "service": "s3"},
	} {
		what := fmt.Sprint(scope)
		scope["accessKeyId"], scope["sessionToken"] = c.AccessKeyID, c.SessionToken
		if status, out := gateway(t, socket, "/private/derive-signing-key", scope); status != 400 || out["derivedKey"] != nil {
			t.Fatalf("derive-signing-key for %s: %d %v, want 400", what, status, out)
		}
	}

	// Revoked through the authority: both endpoints refuse.
	a := core.Lookup(h.m).Authority()
	_, err := a.Revoke(context.Background(), sessionsRevocation("alice"), time.Now())
	must(t, err)
	if status, out = eval(); status != 403 || out["code"] != "InvalidToken" {
		t.Fatalf("revoked session at evaluate-policy: %d %v", status, out)
	}

	// The refusal is decision-logged, with a fingerprint for the token.
	entries := h.decisionLogs()
	if len(entries) == 0 {
		t.Fatal("no decision-log entry")
	}
	all, _ := json.Marshal(entries)
	if strings.Contains(string(all), c.SessionToken) || !strings.Contains(string(all), "redacted:sha256:") {
		t.Fatalf("decision log: %s", all)
	}
	if !strings.Contains(string(all), `"no_match"`) || !strings.Contains(string(all), "the session has been revoked") {
		t.Fatalf("decision log lacks the refusals: %s", all)
	}

	// Stop: the plugins report it, and the authority is gone.
	h.stop()
	if h.status(s3iam.Name) != plugins.StateNotReady || core.Lookup(h.m).Authority() != nil {
		t.Fatalf("after stop: %v", h.m.PluginStatus())
	}
}

func (h *harness) decisionLogs() []map[string]any {
	var out []map[string]any
	for _, e := range h.console.Entries() {
		if e.Fields["type"] == "openpolicyagent.org/decision_logs" {
			out = append(out, e.Fields)
		}
	}
	return out
}

// In a server, sts.issue_credentials outside the STS plugin's decision
// (a query through OPA's API) is refused with a clear error, and
// sts.verify_session reads the server's authority, not a throwaway one.
func TestMintRefusedOutsideTheSTSDecision(t *testing.T) {
	dir := t.TempDir()
	kr := generateKeys(t, dir)
	h := newManager(t, dir, `{"plugins": {`+sessionsConfig(dir)+`}}`, nil)
	must(t, h.m.Start(context.Background()))
	query := func(q string) (rego.ResultSet, error) {
		return rego.New(rego.Query(q), rego.Compiler(h.m.GetCompiler()), rego.Store(h.m.Store)).Eval(context.Background())
	}
	_, err := query(`sts.issue_credentials({"subject": "root", "duration_seconds": 31536000})`)
	if err == nil || !strings.Contains(err.Error(), "minted only by the STS plugin's own decision") {
		t.Fatalf("mint through a query: %v", err)
	}
	c := mint(t, kr, map[string]any{"subject": "alice", "duration_seconds": 3600})
	rs, err := query(`x := sts.verify_session("` + c.AccessKeyID + `", "` + c.SessionToken + `")`)
	must(t, err)
	if v := rs[0].Bindings["x"].(map[string]any); v["valid"] != true {
		t.Fatalf("the server's own session: %v", v)
	}
}

// A manager without a session authority: the core plugin is healthy (it
// was asked for nothing), sts.verify_session says not_configured, and
// the STS plugin refuses to start.
func TestNoAuthority(t *testing.T) {
	dir := t.TempDir()
	h := newManager(t, dir, `{"plugins": {"sts": {"addr": "127.0.0.1:0"}}}`, nil)
	err := h.m.Start(context.Background())
	h.stopped = true // a failed start leaves the decision-log plugin unstarted
	if err == nil || !strings.Contains(err.Error(), "configure plugins.sts_sessions") {
		t.Fatalf("start: %v", err)
	}
	rs, err := rego.New(rego.Query(`x := sts.verify_session("ASIAAAAAAAAAAAAAAAAA", "a.b.c")`), rego.Compiler(h.m.GetCompiler()), rego.Store(h.m.Store)).Eval(context.Background())
	must(t, err)
	if v := rs[0].Bindings["x"].(map[string]any); v["error"].(map[string]any)["code"] != "not_configured" {
		t.Fatalf("verify without an authority: %v", v)
	}
}

// The STS plugin on a manager: it issues through the authority, its
// entry is decision-logged with metrics and the fingerprint, and a
// reconfiguration with new keys keeps it running with them.
func TestSTSPluginLifecycle(t *testing.T) {
	dir := t.TempDir()
	generateKeys(t, dir)
	config := func(extra string) string {
		return `{"plugins": {` + sessionsConfig(dir) + `, "sts": {"addr": "127.0.0.1:0"` + extra + `}}}`
	}
	data := map[string]any{"opa_sts": map[string]any{"providers": []any{}, "roles": map[string]any{}, "bindings": []any{}}}
	h := newManager(t, dir, config(""), data)
	must(t, h.m.Start(context.Background()))
	p := h.m.Plugin(sts.Name).(*sts.Plugin)
	if h.status(sts.Name) != plugins.StateOK || p.Addr() == "" {
		t.Fatalf("sts not running: %v", h.m.PluginStatus())
	}
	form := "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::000000000000:role/x&RoleSessionName=s1&WebIdentityToken=not.a.jwt"
	resp, err := http.Post("http://"+p.Addr()+"/", "application/x-www-form-urlencoded", strings.NewReader(form))
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "AccessDenied") {
		t.Fatalf("no provider configured: %d %s", resp.StatusCode, body)
	}
	entries := h.decisionLogs()
	if len(entries) != 1 {
		t.Fatalf("%d decision-log entries", len(entries))
	}
	e, _ := json.Marshal(entries[0])
	for _, want := range []string{`"path":"data.sts.decision"`, `"token_fingerprint":"redacted:sha256:`, `"metrics":`, `"AccessDenied"`} {
		if !strings.Contains(string(e), want) {
			t.Errorf("entry lacks %s: %s", want, e)
		}
	}
	if strings.Contains(string(e), "not.a.jwt") {
		t.Fatalf("the token is in the decision log: %s", e)
	}
	resp, err = http.Get("http://" + p.Addr() + "/.well-known/jwks.json")
	must(t, err)
	before, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	// Reconfigure the authority with new keys: the listener keeps serving, with them.
	newKeys := filepath.Join(dir, "keys2")
	_, err = keyring.EnsureFiles(newKeys)
	must(t, err)
	corePlugin := core.Lookup(h.m)
	cfg, err := core.Factory{}.Validate(h.m, []byte(`{"issuer": "`+issuer+`", "store": {"type": "memory"}, "keys": {"dir": "`+newKeys+`"}}`))
	must(t, err)
	corePlugin.Reconfigure(context.Background(), cfg)
	resp, err = http.Get("http://" + p.Addr() + "/.well-known/jwks.json")
	must(t, err)
	after, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Equal(before, after) || h.status(core.Name) != plugins.StateOK {
		t.Fatalf("keys not replaced: %s / %s, %v", before, after, h.m.PluginStatus())
	}

	// A reconfiguration that cannot open keeps the authority in service.
	bad, err := core.Factory{}.Validate(h.m, []byte(`{"issuer": "`+issuer+`", "store": {"type": "memory"}, "keys": {"dir": "`+filepath.Join(dir, "none")+`"}}`))
	must(t, err)
	corePlugin.Reconfigure(context.Background(), bad)
	if h.status(core.Name) != plugins.StateErr || corePlugin.Authority() == nil {
		t.Fatalf("a failed reconfigure: %v", h.m.PluginStatus())
	}
	h.stop()
	if h.status(sts.Name) != plugins.StateNotReady {
		t.Fatalf("after stop: %v", h.m.PluginStatus())
	}
}

func sessionsRevocation(subject string) sessionstore.Revocation {
	return sessionstore.Revocation{Kind: sessionstore.KindSubject, Value: subject, At: time.Now(), Reason: "in-process test"}
}

// Reconfiguring an authority on a bolt file: the file admits one opener,
// so the old authority makes way, and comes back if the new one cannot
// open.
func TestReconfigureOnTheSameBoltFile(t *testing.T) {
	dir := t.TempDir()
	generateKeys(t, dir)
	raw := func(keys string) []byte {
		return []byte(`{"issuer": "` + issuer + `", "store": {"type": "bolt", "path": "` + filepath.Join(dir, "s.db") + `"}, "keys": {"dir": "` + keys + `"}}`)
	}
	h := newManager(t, dir, `{"plugins": {"`+core.Name+`": `+string(raw(filepath.Join(dir, "keys")))+`}}`, nil)
	must(t, h.m.Start(context.Background()))
	p := core.Lookup(h.m)
	first := p.Authority()
	c := mint(t, mustKeys(t, filepath.Join(dir, "keys")), map[string]any{"subject": "alice", "duration_seconds": 3600})
	// Same file, same keys, another cache size: reopened at once.
	cfg, err := core.Factory{}.Validate(h.m, []byte(strings.Replace(string(raw(filepath.Join(dir, "keys"))), `"issuer"`, `"verified_token_cache_size": 10, "issuer"`, 1)))
	must(t, err)
	p.Reconfigure(context.Background(), cfg)
	if p.Authority() == nil || p.Authority() == first || h.status(core.Name) != plugins.StateOK {
		t.Fatalf("not reopened: %v", h.m.PluginStatus())
	}
	// Same file, keys that do not exist: the previous one is back.
	bad, err := core.Factory{}.Validate(h.m, raw(filepath.Join(dir, "missing")))
	must(t, err)
	p.Reconfigure(context.Background(), bad)
	a := p.Authority()
	if a == nil || h.status(core.Name) != plugins.StateErr {
		t.Fatalf("after a failed reconfigure: %v %v", a, h.m.PluginStatus())
	}
	if _, verr := a.Verify(context.Background(), c.AccessKeyID, c.SessionToken, time.Now()); verr != nil {
		t.Fatalf("the previous authority no longer verifies: %v", verr)
	}
}

func mustKeys(t *testing.T, dir string) *keyring.Keyring {
	t.Helper()
	kr, err := keyring.Load(keyring.DefaultFiles(dir))
	must(t, err)
	return kr
}

// A decision that mints with sts.issue_credentials and returns what it
// minted: the STS plugin's decision-log entry carries none of its
// secrets, even with the mask policy removed (the plugin scrubs at its
// own depth, whatever policy an operator ships).
func TestSecretsMintedByTheDecisionNeverReachTheLog(t *testing.T) {
	dir := t.TempDir()
	generateKeys(t, dir)
	h := newManager(t, dir, `{"plugins": {`+sessionsConfig(dir)+`, "sts": {"addr": "127.0.0.1:0", "decision": "custom/decision"}}}`, nil)
	ctx := context.Background()
	must(t, storage.Txn(ctx, h.m.Store, storage.WriteParams, func(txn storage.Transaction) error {
		if err := h.m.Store.DeletePolicy(ctx, txn, "system/log/mask.rego"); err != nil {
			return err
		}
		return h.m.Store.UpsertPolicy(ctx, txn, "custom.rego", []byte(`package custom

decision := {"allow": false, "reason": "minted on the side", "minted": sts.issue_credentials({"subject": "side", "duration_seconds": 900})}
`))
	}))
	must(t, h.m.Start(ctx))
	p := h.m.Plugin(sts.Name).(*sts.Plugin)
	form := "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::000000000000:role/x&RoleSessionName=s1&WebIdentityToken=a.b.c"
	resp, err := http.Post("http://"+p.Addr()+"/", "application/x-www-form-urlencoded", strings.NewReader(form))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	entries := h.decisionLogs()
	if len(entries) != 1 {
		t.Fatalf("%d entries", len(entries))
	}
	e, _ := json.Marshal(entries[0])
	var logged struct {
		Result struct {
			Decision struct {
				Minted map[string]any `json:"minted"`
			} `json:"decision"`
		} `json:"result"`
	}
	must(t, json.Unmarshal(e, &logged))
	m := logged.Result.Decision.Minted
	str := func(k string) string { s, _ := m[k].(string); return s }
	if str("access_key_id") == "" || m["ephemeral"] != false || !strings.HasPrefix(str("secret_access_key"), "redacted:sha256:") ||
		!strings.HasPrefix(str("session_token"), "redacted:sha256:") {
		t.Fatalf("minted credentials as logged: %s", e)
	}
}

// The IAM socket holds at most limits.max_connections open connections:
// one more is answered 503 at once, closed and counted, and a connection
// freed lets the next one in.
func TestGatewayConnectionCap(t *testing.T) {
	dir := t.TempDir()
	generateKeys(t, dir)
	socket := filepath.Join(dir, "iam.sock")
	h := newManager(t, dir, `{"plugins": {`+sessionsConfig(dir)+`, "s3_iam": {"socket": "`+socket+`", "access_key": "`+gwAK+`", "secret_key_file": "`+secretFile(t, dir)+`", "limits": {"max_connections": 2}}}}`, nil)
	must(t, h.m.Start(context.Background()))
	dial := func() net.Conn {
		c, err := net.Dial("unix", socket)
		must(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	first, _ := dial(), dial()
	over := dial()
	must(t, over.SetReadDeadline(time.Now().Add(5*time.Second)))
	reply, _ := io.ReadAll(over)
	if !strings.HasPrefix(string(reply), "HTTP/1.1 503") {
		t.Fatalf("a connection over the cap: %q", reply)
	}
	families, err := h.registry.Gather()
	must(t, err)
	refused := 0.0
	for _, f := range families {
		if f.GetName() == "opa_sts_s3iam_connections_refused_total" {
			refused = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if refused != 1 {
		t.Fatalf("opa_sts_s3iam_connections_refused_total = %v, want 1", refused)
	}
	// A freed connection lets the gateway in again.
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if status, out := gateway(t, socket, "/private/version", map[string]any{}); status == 200 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("after a connection closed: %d %v", status, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
