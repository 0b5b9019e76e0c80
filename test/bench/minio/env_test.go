// Package minio_test measures opa-sts next to the MinIO community server in
// one process run, on the same machine, with the real components: ory/hydra
// issues the identity tokens, MinIO runs as a separate process (AGPL: it is
// only ever run, never imported), stock OPA is the upstream `opa` binary of
// the OPA module in go.mod, and opa-sts is bin/opa-sts (OPA_STS_BIN).
//
//	bash scripts/bench-minio.sh          # full run, side-by-side table
//	go test -run '^$' -bench . -benchtime 1x ./test/bench/minio   # smoke (make test-bench)
//
// No duration is asserted anywhere: the machine's speed varies by ~20 %
// between runs, so only figures of one run compare. Every benchmark checks
// before it measures that the request it repeats succeeds (and, where a
// policy decides, that a request outside the policy is refused), so it
// never measures errors.
package minio_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/idp"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// The identities of the benchmarks.
const (
	// workload is the hydra client whose token every variant presents;
	// it is bound to the role "bench".
	workload = "bench-workload"
	// outsider is a hydra client bound to no role (identity plugin: 403).
	outsider     = "bench-outsider"
	clientSecret = "bench-client-secret-0123456789"
	// audience is the relying party the token is for, and MinIO's
	// MINIO_IDENTITY_OPENID_CLIENT_ID: MinIO accepts a token whose "aud"
	// (or "azp") contains its client id; hydra's client-credentials
	// tokens carry no "azp", so the token is requested for this audience.
	audience = "minio"
	// bucket holds the object the GETs read; other is a bucket the role
	// does not allow (the refusal checked before measuring).
	bucket, other = "bench", "other"
	objectKey     = "data/1KiB.bin"
	// fillerRoles is the number of other roles (10 statements each, one
	// group binding each) in the policy data, as in
	// scripts/loadtest-minio.sh: the policies find the identity's role
	// among them.
	fillerRoles = 100
)

// clientCounts are the concurrent clients of every sub-benchmark.
var clientCounts = []int{1, 16}

// env is what every benchmark function shares: hydra, the two clients and
// one token of the workload, and a temporary directory.
type env struct {
	hydra *idp.Hydra
	token string // the workload's access token (aud ["minio"])
	dir   string
}

// startEnv starts hydra (once per benchmark function: its lifetime is the
// function's) and gets the workload's token.
func startEnv(b *testing.B) *env {
	b.Helper()
	e := &env{dir: b.TempDir()}
	e.hydra = idp.StartHydra(b)
	e.hydra.CreateClient(b, workload, clientSecret, []string{audience}, []string{"s3"})
	e.hydra.CreateClient(b, outsider, clientSecret, []string{audience}, nil)
	e.token = e.hydra.Token(b, workload, clientSecret, []string{audience}, []string{"s3"})
	return e
}

// policyData is data.opa_sts for opa-sts and for the stock policy:
// hydra as a provider, the role "bench" bound to the workload client,
// and fillerRoles other roles bound by group to another issuer.
func (e *env) policyData() map[string]any {
	const fillerIssuer = "https://kc.example/realms/demo"
	roles := map[string]any{
		"bench": map[string]any{"statements": []any{map[string]any{
			"Effect":   "Allow",
			"Action":   []string{"s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:GetBucketLocation"},
			"Resource": []string{"arn:aws:s3:::" + bucket, "arn:aws:s3:::" + bucket + "/*"},
		}}},
	}
	bindings := []any{map[string]any{"role": "bench", "issuer": e.hydra.Issuer(), "clients": []string{workload}}}
	for i := range fillerRoles {
		var stmts []any
		for s := range 9 {
			stmts = append(stmts, map[string]any{
				"Effect":    "Allow",
				"Action":    []string{"s3:GetObject", "s3:PutObject", "s3:List*"},
				"Resource":  []string{fmt.Sprintf("arn:aws:s3:::bucket-%d/team-%d/${jwt:preferred_username}/*", i, s)},
				"Condition": map[string]any{"IpAddress": map[string]any{"aws:SourceIp": []string{"10.0.0.0/8"}}},
			})
		}
		stmts = append(stmts, map[string]any{"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"})
		name := fmt.Sprintf("role-%d", i)
		roles[name] = map[string]any{"statements": stmts}
		bindings = append(bindings, map[string]any{"role": name, "issuer": fillerIssuer, "groups": []string{fmt.Sprintf("/team-%d", i)}})
	}
	return map[string]any{"opa_sts": map[string]any{
		"providers": []any{
			map[string]any{"issuer": e.hydra.Issuer(), "discovery_url": e.hydra.DiscoveryURL(), "audiences": []string{audience}, "leeway_seconds": 60},
			map[string]any{"issuer": fillerIssuer, "audiences": []string{"sts"}, "jwks": map[string]any{"keys": []any{}}},
		},
		"roles":    roles,
		"bindings": bindings,
	}}
}

// policyDir writes opa-sts's default policies and the data into a new
// directory and returns it.
func (e *env) policyDir(b *testing.B, name string) string {
	b.Helper()
	dir := filepath.Join(e.dir, name)
	must(b, policies.WriteDefault(dir))
	writeJSON(b, filepath.Join(dir, "data.json"), e.policyData())
	return dir
}

// minioRoleARN is the role ARN MinIO gives an OpenID provider with a
// role policy: arn:minio:iam:::role/<base64url(sha1(client id))>
// (internal/config/identity/openid/openid.go in MinIO's source).
func minioRoleARN() string {
	h := sha1.Sum([]byte(audience))
	return "arn:minio:iam:::role/" + base64.RawURLEncoding.EncodeToString(h[:])
}

// minioOpenIDEnv configures MinIO's identity_openid on hydra with the
// role policy readwrite (MinIO's own IAM decides unless a policy plugin
// is set).
func (e *env) minioOpenIDEnv() []string {
	return []string{
		"MINIO_IDENTITY_OPENID_CONFIG_URL=" + e.hydra.DiscoveryURL(),
		"MINIO_IDENTITY_OPENID_CLIENT_ID=" + audience,
		"MINIO_IDENTITY_OPENID_ROLE_POLICY=readwrite",
	}
}

// creds are temporary S3 credentials.
type creds struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

// stsForm is the AssumeRoleWithWebIdentity request every benchmark sends.
func stsForm(token, roleARN string) string {
	return url.Values{
		"Action":           {"AssumeRoleWithWebIdentity"},
		"Version":          {"2011-06-15"},
		"WebIdentityToken": {token},
		"RoleArn":          {roleARN},
		"RoleSessionName":  {"bench"},
		"DurationSeconds":  {"900"},
	}.Encode()
}

// assumeRole sends one AssumeRoleWithWebIdentity and returns the body on
// 200, or an error with the status and body.
func assumeRole(c *http.Client, endpoint, form string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, endpoint+"/", strings.NewReader(form))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("<AccessKeyId>")) {
		return nil, fmt.Errorf("STS %s: %d %s", endpoint, resp.StatusCode, body)
	}
	return body, nil
}

// getCreds runs AssumeRoleWithWebIdentity once and parses the credentials.
func getCreds(b *testing.B, endpoint, token, roleARN string) creds {
	b.Helper()
	// MinIO reports ready at /minio/health/ready before its IAM has loaded:
	// for a moment its STS answers "RoleARN ... is not defined" or "None
	// of the given policies (`readwrite`) are defined". Retry for a few
	// seconds (a lasting error still fails, with MinIO's answer).
	var body []byte
	var err error
	for tries, deadline := 1, time.Now().Add(15*time.Second); ; tries++ {
		body, err = assumeRole(newHTTPClient(), endpoint, stsForm(token, roleARN))
		if err == nil && tries > 1 {
			b.Logf("STS %s answered after %d tries", endpoint, tries)
		}
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.Fatal(err)
	}
	var out struct {
		Creds creds `xml:"AssumeRoleWithWebIdentityResult>Credentials"`
	}
	if err := xml.Unmarshal(body, &out); err != nil || out.Creds.AccessKeyID == "" || out.Creds.SessionToken == "" {
		b.Fatalf("STS %s: no credentials in %s (%v)", endpoint, body, err)
	}
	return out.Creds
}

// newHTTPClient is the HTTP client of every benchmark: keep-alive with
// enough idle connections for all the concurrent clients.
func newHTTPClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: newTransport()}
}

func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
}

// measure runs b.N calls of do spread over clients goroutines (after a
// warm-up of a few calls per client, not timed) and reports throughput
// under name ("req/s", "issuances/s") and the p50 and p99 latencies. Any
// error fails the benchmark: errors are never measured.
func measure(b *testing.B, clients int, name string, do func() error) {
	b.Helper()
	if _, err := run(clients, 4*clients, do); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	b.ResetTimer()
	start := time.Now()
	lat, err := run(clients, b.N, do)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), name)
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
}

// run makes n calls of do from clients goroutines and returns every
// call's latency, or the first error.
func run(clients, n int, do func() error) ([]time.Duration, error) {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		all      = make([]time.Duration, 0, n)
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, n/clients+1)
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				err := do()
				lat = append(lat, time.Since(t0))
				if err != nil {
					next.Store(int64(n)) // stop the others
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, firstErr
}

// percentile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// rssMB is the resident set size of a process in MiB (VmRSS of
// /proc/<pid>/status).
func rssMB(b *testing.B, pid int) float64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(b, err)
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			must(b, err)
			return kb / 1024
		}
	}
	b.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// opaServer is a running stock OPA (`opa run --server`).
type opaServer struct {
	URL  string
	cmd  *exec.Cmd
	logs *opasts.SyncBuffer
	done chan struct{}
}

// startStockOPA runs the upstream opa binary as a server on a free
// loopback port with the given policy and data paths, and waits until
// /health answers. It is stopped at cleanup.
func startStockOPA(b *testing.B, paths ...string) *opaServer {
	b.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(b))
	args := append([]string{"run", "--server", "--addr", addr, "--log-level", "error"}, paths...)
	s := &opaServer{URL: "http://" + addr, cmd: exec.Command(stockOPA(b), args...), logs: &opasts.SyncBuffer{}, done: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	must(b, s.cmd.Start())
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	b.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if b.Failed() {
			b.Logf("stock OPA log:\n%s", s.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.done:
			b.Fatalf("stock OPA exited during start-up:\n%s", s.logs.String())
		default:
		}
		resp, err := http.Get(s.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("stock OPA not healthy after 30s:\n%s", s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var stockOPAOnce struct {
	sync.Once
	path string
	err  error
}

// stockOPA returns the upstream opa binary of the OPA version in go.mod,
// cached as ${OPA_STS_TOOLS:-~/.cache/opa-sts/tools}/bin/opa-<version>
// and built with `go build github.com/open-policy-agent/opa` (from this
// module, so with its dependency versions) only when absent.
func stockOPA(b *testing.B) string {
	b.Helper()
	stockOPAOnce.Do(func() {
		stockOPAOnce.path, stockOPAOnce.err = buildStockOPA()
	})
	if stockOPAOnce.err != nil {
		b.Fatalf("stock OPA: %v", stockOPAOnce.err)
	}
	return stockOPAOnce.path
}

func buildStockOPA() (string, error) {
	ver, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/open-policy-agent/opa").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m github.com/open-policy-agent/opa: %w", err)
	}
	tools := os.Getenv("OPA_STS_TOOLS")
	if tools == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		tools = filepath.Join(home, ".cache", "opa-sts", "tools")
	}
	out := filepath.Join(tools, "bin", "opa-"+strings.TrimSpace(string(ver)))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.build.%d", out, os.Getpid())
	cmd := exec.Command("go", "build", "-trimpath", "-o", tmp, "github.com/open-policy-agent/opa")
	if msg, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build github.com/open-policy-agent/opa: %v\n%s", err, msg)
	}
	return out, os.Rename(tmp, out)
}

// postJSON posts a JSON body and decodes the JSON answer into out.
func postJSON(url string, in, out any) (int, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
}

var ctx = context.Background()

func writeJSON(b *testing.B, path string, v any) {
	b.Helper()
	raw, err := json.MarshalIndent(v, "", "  ")
	must(b, err)
	must(b, os.WriteFile(path, raw, 0o600))
}

func must(b testing.TB, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
