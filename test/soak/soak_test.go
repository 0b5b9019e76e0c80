// Package soak runs opa-sts under mixed load for a while: 16 clients
// issuing credentials (fresh ES256 tokens) and using them on a real
// versitygw whose IAM is opa-sts, with subject revocations along the way
// and a bundle update at half time, served by a real HTTP bundle server.
// It fails on any unexpected error, on goroutine growth, and, in a run of
// five minutes or more, on RSS growth above 10 % after a two-minute
// warm-up. SOAK_SECONDS sets the length (default 60, as CI runs it;
// `make soak` runs 600).
package soak

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/opa-sts/opa-sts/internal/testkeys"
	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
	"github.com/opa-sts/opa-sts/test/e2e/versitygw"
)

const (
	rootAK, rootSK = "ROOTACCESSKEY0000001", "root-secret-key-0123456789abcdef"
	gwAK, gwSK     = "GATEWAYIAMCLIENT0001", "gateway-iam-secret-0123456789abcdef"
	bucket         = "soak"
	clients        = 16
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t testing.TB, path string, v any) {
	b, err := json.Marshal(v)
	must(t, err)
	must(t, os.MkdirAll(filepath.Dir(path), 0o700))
	must(t, os.WriteFile(path, b, 0o600))
}

// bundleServer serves one bundle that the test can replace, with an ETag,
// as any HTTP server (nginx, S3) would.
type bundleServer struct {
	mu   sync.Mutex
	body []byte
	etag string
}

func (b *bundleServer) set(body []byte, etag string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.body, b.etag = body, etag
}

func (b *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	body, etag := b.body, b.etag
	b.mu.Unlock()
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "application/gzip")
	_, _ = w.Write(body)
}

// buildBundle builds a bundle of the default policies and the soak data
// at revision rev with the opa-sts CLI.
func buildBundle(t *testing.T, dir, rev, issuer string, extra []any) []byte {
	t.Helper()
	stage := filepath.Join(dir, "stage-"+rev)
	must(t, policies.WriteDefault(stage))
	stmts := append([]any{
		map[string]any{"Effect": "Allow", "Action": []string{"s3:GetObject", "s3:PutObject"}, "Resource": "arn:aws:s3:::" + bucket + "/home/${jwt:sub}/*"},
	}, extra...)
	writeJSON(t, filepath.Join(stage, "opa_sts", "data.json"), map[string]any{
		"providers": []any{map[string]any{"issuer": issuer, "jwks_url": issuer + "/jwks", "audiences": []string{"sts"}}},
		"roles":     map[string]any{"rw": map[string]any{"statements": stmts}},
		"bindings":  []any{map[string]any{"role": "rw", "issuer": issuer, "clients": []string{"soak"}}},
		// One-minute credentials, so that sessions expire and are purged
		// within a run and the registry reaches its steady state.
		"durations": map[string]any{"min": 60, "default": 60, "max": 60},
	})
	writeJSON(t, filepath.Join(stage, ".manifest"), map[string]any{"revision": rev,
		"roots": []string{"sts", "s3", "httpapi", "system/log", "system/authz", "opa_sts"}})
	out := filepath.Join(dir, rev+".tar.gz")
	if res := opasts.Run(t, dir, "build", "-b", stage, "-o", out); res.Exit != 0 {
		t.Fatalf("opa-sts build: %s%s", res.Stdout, res.Stderr)
	}
	b, err := os.ReadFile(out)
	must(t, err)
	return b
}

type creds struct {
	akid, secret, token, rev string
	issued                   time.Time
}

var (
	reAKID  = regexp.MustCompile(`<AccessKeyId>([^<]+)</AccessKeyId>`)
	reSK    = regexp.MustCompile(`<SecretAccessKey>([^<]+)</SecretAccessKey>`)
	reToken = regexp.MustCompile(`<SessionToken>([^<]+)</SessionToken>`)
)

func revisionOf(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Rev string `json:"rev"`
	}
	_ = json.Unmarshal(payload, &c)
	return c.Rev
}

func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func goroutines(t *testing.T, api string) int {
	resp, err := http.Get(api + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^go_goroutines ([0-9]+)`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

type sample struct {
	at         time.Duration
	rss        int64
	goroutines int
}

func TestSoak(t *testing.T) {
	duration := 60 * time.Second
	if s := os.Getenv("SOAK_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		must(t, err)
		duration = time.Duration(n) * time.Second
	}
	dir := t.TempDir()

	// The identity provider: an ES256 key set on loopback.
	key := testkeys.New(t, "ES256", "soak-key")
	jwks := testkeys.JWKS(key.PublicJWK(t, true))
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	defer idp.Close()

	// The bundle server, revision 1 now, revision 2 at half time.
	bs := &bundleServer{}
	bs.set(buildBundle(t, dir, "rev-1", idp.URL, nil), `"rev-1"`)
	rev2 := buildBundle(t, dir, "rev-2", idp.URL, []any{map[string]any{"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::" + bucket + "/home/*/forbidden/*"}})
	bundles := httptest.NewServer(bs)
	defer bundles.Close()

	stsAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	socket := filepath.Join(dir, "iam.sock")
	must(t, os.WriteFile(filepath.Join(dir, "gw-secret"), []byte(gwSK), 0o600))
	writeJSON(t, filepath.Join(dir, "config.json"), map[string]any{
		"persistence_directory": dir,
		"services":              map[string]any{"bundles": map[string]any{"url": bundles.URL}},
		"bundles": map[string]any{"opa-sts": map[string]any{"service": "bundles", "resource": "/opa-sts.tar.gz",
			"polling": map[string]any{"min_delay_seconds": 1, "max_delay_seconds": 2}}},
		"plugins": map[string]any{
			"sts_sessions": map[string]any{"issuer": "http://" + stsAddr, "keys": map[string]any{"generate": true},
				"store": map[string]any{"purge_interval_seconds": 5}, "verified_token_cache_size": 1024,
				// Bounded caches reach their bound within the warm-up.
				"identity_token_cache_size": 64},
			"sts":    map[string]any{"addr": stsAddr},
			"s3_iam": map[string]any{"socket": socket, "access_key": gwAK, "secret_key_file": filepath.Join(dir, "gw-secret")},
		},
	})
	// SOAK_PPROF=<dir> saves heap profiles after the warm-up and at the
	// end, to see what memory grows with.
	profDir := os.Getenv("SOAK_PPROF")
	args := []string{"-c", filepath.Join(dir, "config.json")}
	if profDir != "" {
		args = append(args, "--pprof")
	}
	srv := opasts.Start(t, dir, args...)
	saveHeap := func(name string) {
		if profDir == "" {
			return
		}
		resp, err := http.Get(srv.URL + "/debug/pprof/heap?gc=1")
		if err != nil {
			t.Logf("heap profile: %v", err)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		_ = os.WriteFile(filepath.Join(profDir, name), b, 0o600)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no s3_iam socket:\n%s", srv.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	gw := versitygw.Start(t, dir, versitygw.Options{RootAccess: rootAK, RootSecret: rootSK, IAMAccess: gwAK, IAMSecret: gwSK,
		IAMEndpoint: socket, IAMLogs: srv.Logs})
	ctx := context.Background()
	root, err := minio.New(gw.Addr, &minio.Options{Creds: miniocreds.NewStaticV4(rootAK, rootSK, ""), Region: "us-east-1"})
	must(t, err)
	must(t, root.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}))

	// Revocations by subject: the time of the latest per subject.
	var revMu sync.Mutex
	revokedAt := map[string]time.Time{}
	httpc := &http.Client{Timeout: 10 * time.Second}
	// A client presents the same token for several issuances, as SDKs do
	// until the IdP token expires: a new one every tenth issuance. (ES256
	// signatures are randomised: signing again would make a new token,
	// and fill the verified-token cache with one entry per issuance.)
	var tokMu sync.Mutex
	tokens := map[string]string{}
	issue := func(sub string, n int) (creds, error) {
		jti := fmt.Sprintf("%s-%d", sub, n/80)
		tokMu.Lock()
		tok, ok := tokens[jti]
		if !ok {
			tok = key.Sign(t, map[string]any{"iss": idp.URL, "sub": sub, "aud": "sts", "azp": "soak",
				"exp": time.Now().Add(time.Hour).Unix(), "jti": jti}, nil)
			tokens[jti] = tok
		}
		tokMu.Unlock()
		form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {"arn:aws:iam::000000000000:role/x"},
			"RoleSessionName": {"soak"}, "WebIdentityToken": {tok}}
		resp, err := httpc.PostForm("http://"+stsAddr+"/", form)
		if err != nil {
			return creds{}, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return creds{}, fmt.Errorf("issuance: %d %s", resp.StatusCode, b)
		}
		c := creds{akid: string(reAKID.FindSubmatch(b)[1]), secret: string(reSK.FindSubmatch(b)[1]), token: string(reToken.FindSubmatch(b)[1]), issued: time.Now()}
		c.rev = revisionOf(c.token)
		return c, nil
	}

	start := time.Now()
	end := start.Add(duration)
	var issued, s3ok, expected, unexpected atomic.Int64
	var sawRev2 atomic.Bool
	var errMu sync.Mutex
	var firstErrors []string
	fail := func(format string, a ...any) {
		unexpected.Add(1)
		errMu.Lock()
		defer errMu.Unlock()
		if len(firstErrors) < 10 {
			firstErrors = append(firstErrors, fmt.Sprintf(format, a...))
		}
	}
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := fmt.Sprintf("worker-%d", w)
			var c creds
			var cli *minio.Client
			for n := 0; time.Now().Before(end); n++ {
				if cli == nil || n%8 == 0 {
					var err error
					if c, err = issue(sub, n); err != nil {
						fail("%s: %v", sub, err)
						time.Sleep(100 * time.Millisecond)
						continue
					}
					issued.Add(1)
					if c.rev == "rev-2" {
						sawRev2.Store(true)
					}
					cli, _ = minio.New(gw.Addr, &minio.Options{Creds: miniocreds.NewStaticV4(c.akid, c.secret, c.token), Region: "us-east-1"})
				}
				key := fmt.Sprintf("home/%s/obj-%d", sub, n%4)
				body := []byte("soak " + key)
				_, err := cli.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
				if err == nil {
					var o *minio.Object
					if o, err = cli.GetObject(ctx, bucket, key, minio.GetObjectOptions{}); err == nil {
						_, err = io.ReadAll(o)
					}
				}
				if err == nil {
					s3ok.Add(1)
					continue
				}
				revMu.Lock()
				at, revoked := revokedAt[sub]
				revMu.Unlock()
				if revoked && !c.issued.After(at.Add(time.Second)) {
					expected.Add(1) // refused after a revocation: get new credentials
					cli = nil
					continue
				}
				fail("%s: S3 with credentials of %s: %v", sub, c.issued.Format(time.RFC3339Nano), err)
			}
		}()
	}

	// Revocations every tenth of the run, the bundle update at half time,
	// RSS and goroutines every few seconds.
	var samples []sample
	tick := time.NewTicker(duration / 20)
	defer tick.Stop()
	revokes, updated := 0, false
	for now := range tick.C {
		if now.After(end) {
			break
		}
		el := now.Sub(start)
		samples = append(samples, sample{at: el, rss: rss(srv.PID()), goroutines: goroutines(t, srv.URL)})
		if el >= 2*time.Minute && el < 2*time.Minute+duration/20 {
			saveHeap("heap-warm.pb.gz")
		}
		if len(samples)%2 == 0 {
			sub := fmt.Sprintf("worker-%d", revokes%clients)
			body, _ := json.Marshal(map[string]string{"kind": "subject", "value": sub, "reason": "soak"})
			revMu.Lock()
			revokedAt[sub] = time.Now()
			revMu.Unlock()
			resp, err := httpc.Post(srv.URL+"/v1/sts/revocations", "application/json", bytes.NewReader(body))
			if err != nil || resp.StatusCode != 200 {
				fail("revoke %s: %v %v", sub, resp, err)
			} else {
				resp.Body.Close()
			}
			revokes++
		}
		if !updated && el >= duration/2 {
			bs.set(rev2, `"rev-2"`)
			updated = true
		}
	}
	wg.Wait()
	samples = append(samples, sample{at: time.Since(start), rss: rss(srv.PID()), goroutines: goroutines(t, srv.URL)})
	saveHeap("heap-end.pb.gz")

	// Report, then judge.
	total := time.Since(start)
	t.Logf("soak %s, %d clients: %d issuances (%.0f/s), %d S3 put+get pairs (%.0f/s), %d revocations, %d refusals after revocations, %d unexpected errors",
		total.Round(time.Second), clients, issued.Load(), float64(issued.Load())/total.Seconds(), s3ok.Load(), float64(s3ok.Load())/total.Seconds(),
		revokes, expected.Load(), unexpected.Load())
	// Warm-up: the verified-session cache (1,024) fills in about 25 s at
	// this rate, the first one-minute sessions expire and are purged after
	// 65 s, and Go's heap settles after that: two minutes. Memory must be
	// flat after it, which only a run of five minutes or more can show
	// (make soak); a shorter run reports memory and checks the rest.
	warmUp := max(duration/5, 2*time.Minute)
	judgeRSS := duration >= 5*time.Minute
	warm := samples[0]
	for _, s := range samples {
		if s.at >= warmUp {
			warm = s
			break
		}
	}
	last := samples[len(samples)-3:]
	sort.Slice(last, func(i, j int) bool { return last[i].rss < last[j].rss })
	endRSS := last[1].rss // the median of the last three samples
	maxG := 0
	for _, s := range samples[len(samples)-3:] {
		maxG = max(maxG, s.goroutines)
	}
	t.Logf("RSS after warm-up %.1f MiB, at the end %.1f MiB (%+.1f %%); goroutines after warm-up %d, at the end %d",
		float64(warm.rss)/(1<<20), float64(endRSS)/(1<<20), 100*(float64(endRSS)/float64(warm.rss)-1), warm.goroutines, maxG)
	for _, s := range samples {
		t.Logf("  t=%5.1fs rss=%6.1f MiB goroutines=%d", s.at.Seconds(), float64(s.rss)/(1<<20), s.goroutines)
	}
	if unexpected.Load() > 0 {
		t.Fatalf("%d unexpected errors, the first: %v", unexpected.Load(), firstErrors)
	}
	if issued.Load() == 0 || s3ok.Load() == 0 {
		t.Fatal("no load was served")
	}
	if !sawRev2.Load() {
		t.Fatal("no credential was issued under the updated bundle (rev-2)")
	}
	if judgeRSS && float64(endRSS) > 1.10*float64(warm.rss) {
		t.Fatalf("RSS grew from %d to %d bytes after the warm-up", warm.rss, endRSS)
	}
	if maxG > warm.goroutines+20 {
		t.Fatalf("goroutines grew from %d to %d", warm.goroutines, maxG)
	}
}
