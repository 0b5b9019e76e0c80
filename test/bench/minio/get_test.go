package minio_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/opa-sts/opa-sts/test/e2e/minioserver"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// BenchmarkMinIOGet1KiB: a 1 KiB object GET through MinIO with temporary
// credentials from MinIO's own AssumeRoleWithWebIdentity (identity_openid
// on hydra, role policy readwrite, the same hydra token and STS request
// for every variant), so that only the authorization of the GET differs:
//
//	minio-iam        MinIO's own IAM (the readwrite canned policy)
//	bare-http-allow  a plain Go HTTP handler in the benchmark process as
//	                 the plugin, answering {"result":true} after reading
//	                 the body: the floor of MinIO's plugin protocol alone
//	trivial-allow    stock OPA as MinIO's policy plugin with `allow := true`:
//	                 the floor of any OPA as the plugin (MinIO's plugin
//	                 client, the HTTP round trip, OPA's HTTP path)
//	stock-opa        stock OPA as the plugin with a straightforward
//	                 IAM-in-Rego policy on stock built-ins
//	                 (test/bench/minio-stock/authz.rego, plus
//	                 testdata/stock-clients.rego for client bindings)
//	opa-sts          opa-sts as the plugin with its shipped
//	                 policies/httpapi/authz
//	opa-sts-decision-logs
//	                 the same with decision logs on the console (as
//	                 test/e2e/minio deploys it): every entry is masked by
//	                 the shipped policies/system/log/mask.rego
//
// Both policies read the same data: the workload's role among 100 other
// roles of 10 statements. MinIO asks its plugin three times per GET
// (s3:GetObject, then s3:GetObjectRetention and s3:GetObjectLegalHold for
// the response headers; the role allows only the first). Each variant runs
// its own MinIO (and plugin), started for it and stopped after it; the
// OPAs log at level error and, but for opa-sts-decision-logs, write no
// decision logs (OPA's defaults for a server).
func BenchmarkMinIOGet1KiB(b *testing.B) {
	e := startEnv(b)
	for _, v := range []struct {
		name string
		// plugin starts the policy plugin and returns MINIO_POLICY_PLUGIN_URL
		// ("" for none).
		plugin func(b *testing.B) string
		// denies: the policy refuses a GET outside the role.
		denies bool
	}{
		{"minio-iam", func(*testing.B) string { return "" }, false},
		{"bare-http-allow", func(b *testing.B) string { return startBarePlugin(b) }, false},
		{"trivial-allow", func(b *testing.B) string {
			dir := filepath.Join(e.dir, "trivial")
			must(b, os.MkdirAll(dir, 0o700))
			must(b, os.WriteFile(filepath.Join(dir, "trivial.rego"), []byte("package httpapi.authz\n\nallow := true\n"), 0o600))
			return startStockOPA(b, dir).URL + "/v1/data/httpapi/authz/allow"
		}, false},
		{"stock-opa", func(b *testing.B) string {
			dir := filepath.Join(e.dir, "stock")
			must(b, os.MkdirAll(dir, 0o700))
			writeJSON(b, filepath.Join(dir, "data.json"), e.policyData())
			return startStockOPA(b, "../minio-stock/authz.rego", "testdata/stock-clients.rego", dir).URL + "/v1/data/httpapi/authz/allow"
		}, true},
		{"opa-sts", func(b *testing.B) string {
			dir := e.policyDir(b, "opa-sts-plugin")
			return opasts.Start(b, e.dir, "--log-level", "error", dir).URL + "/v1/data/httpapi/authz/allow"
		}, true},
		{"opa-sts-decision-logs", func(b *testing.B) string {
			dir := e.policyDir(b, "opa-sts-plugin-logs")
			cfg := filepath.Join(e.dir, "opa-sts-plugin-logs.json")
			writeJSON(b, cfg, map[string]any{"decision_logs": map[string]any{"console": true}})
			return opasts.Start(b, e.dir, "--log-level", "error", "-c", cfg, dir).URL + "/v1/data/httpapi/authz/allow"
		}, true},
	} {
		b.Run(v.name, func(b *testing.B) {
			// The plugin first: MinIO started while its plugin is down
			// serves under its own IAM.
			pluginURL := v.plugin(b)
			env := e.minioOpenIDEnv()
			if pluginURL != "" {
				env = append(env, "MINIO_POLICY_PLUGIN_URL="+pluginURL)
			}
			srv := minioserver.Start(b, e.dir, env...)
			data := seedBuckets(b, srv.Addr)

			c := getCreds(b, srv.URL, e.token, minioRoleARN())
			user, err := minio.New(srv.Addr, &minio.Options{
				Creds:     miniocreds.NewStaticV4(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
				Region:    "us-east-1",
				Transport: newTransport(),
			})
			must(b, err)
			before := pluginCalls(b, pluginURL)
			must(b, get(user, bucket, objectKey, data))
			if pluginURL != "" {
				// The plugin decides: it was asked (MinIO asks it for
				// every request once set, and serves nothing when it
				// cannot reach it).
				n := pluginCalls(b, pluginURL) - before
				if n < 1 {
					b.Fatalf("MinIO did not ask its policy plugin for a GET")
				}
				b.Logf("%s: MinIO asked the plugin %d time(s) for one GET", v.name, n)
			}
			err = get(user, other, objectKey, data)
			switch {
			case v.denies && minio.ToErrorResponse(err).StatusCode != http.StatusForbidden:
				b.Fatalf("a GET outside the role was not refused with 403: %v", err)
			case !v.denies && err != nil:
				b.Fatalf("a GET in another bucket failed: %v", err)
			}
			for _, clients := range clientCounts {
				b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
					measure(b, clients, "req/s", func() error { return get(user, bucket, objectKey, data) })
				})
			}
		})
	}
}

// seedBuckets creates the two buckets with root credentials and puts the
// same random 1 KiB object in each; it returns the object.
func seedBuckets(b *testing.B, addr string) []byte {
	b.Helper()
	root, err := minio.New(addr, &minio.Options{
		Creds:  miniocreds.NewStaticV4(minioserver.RootUser, minioserver.RootPassword, ""),
		Region: "us-east-1",
	})
	must(b, err)
	data := make([]byte, 1024)
	_, _ = rand.Read(data)
	for _, bk := range []string{bucket, other} {
		must(b, root.MakeBucket(ctx, bk, minio.MakeBucketOptions{}))
		_, err := root.PutObject(ctx, bk, objectKey, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		must(b, err)
	}
	return data
}

// get reads the object and checks that it is the one written.
func get(c *minio.Client, bk, key string, want []byte) error {
	o, err := c.GetObject(ctx, bk, key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	got, err := io.ReadAll(o)
	o.Close()
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("GET %s/%s: %d bytes, not the %d written", bk, key, len(got), len(want))
	}
	return nil
}

// startBarePlugin serves MinIO's policy-plugin contract with no policy at
// all, {"result":true} for every request, from the benchmark process, and
// returns its URL.
func startBarePlugin(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(b, err)
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/data/httpapi/authz/allow", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"result":true}`))
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		// pluginCalls reads this as it reads OPA's metrics.
		fmt.Fprintf(w, "http_request_duration_seconds_count{code=\"200\",handler=\"v1/data\",method=\"post\"} %d\n", calls.Load())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String() + "/v1/data/httpapi/authz/allow"
}

// pluginCalls is the number of data API requests the OPA behind a
// policy-plugin URL has answered (its /metrics), 0 without a plugin.
func pluginCalls(b *testing.B, pluginURL string) int {
	b.Helper()
	if pluginURL == "" {
		return 0
	}
	base, _, _ := strings.Cut(pluginURL, "/v1/")
	resp, err := http.Get(base + "/metrics")
	must(b, err)
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "http_request_duration_seconds_count{") && strings.Contains(line, `handler="v1/data"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			must(b, err)
			n += int(v)
		}
	}
	must(b, sc.Err())
	return n
}
