// End-to-end tests of the ways programs that do not speak STS get opa-sts
// credentials: `opa-sts credentials` as an AWS credential_process, the
// SDKs' own web-identity profile settings, and `opa-sts credentials serve`
// as a container credentials endpoint. Each is exercised with real clients
// (the AWS CLI v1 on PATH, the image's boto3, aws-sdk-go-v2 and the AWS
// SDK for JavaScript) against a real opa-sts STS, whose development token
// issuer gives the identity tokens, and S3 on a real versitygw enforced by
// opa-sts's s3_iam plugin.
package credentials_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscredentials "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
	"github.com/opa-sts/opa-sts/test/e2e/versitygw"
)

const (
	bucket         = "creds"
	rootAK, rootSK = "ROOTACCESSKEY0000001", "root-secret-key-0123456789abcdef"
	gwAK, gwSK     = "GATEWAYIAMCLIENT0001", "gateway-iam-secret-0123456789abcdef"
	stsIssuer      = "https://sts.credentials.opa-sts.test"

	// The development issuer's clients: workload has its home prefix,
	// short the same with credentials of 60 s, stranger no role at all.
	workload = "workload"
	short    = "short"
	stranger = "stranger"
)

// clientSecret is a client's secret at the development issuer.
func clientSecret(client string) string { return client + "-secret-0123456789abcdef" }

// home is the prefix a client's credentials may write to (its token's sub
// is service-account-<client>).
func home(client string) string { return "home/service-account-" + client + "/" }

func TestMain(m *testing.M) {
	// The test binary doubles as the aws-sdk-go-v2 client: run with
	// OPA_STS_E2E_GO_CLIENT=1 it loads the SDK's default configuration
	// from the environment it was given, as any Go program would.
	if os.Getenv("OPA_STS_E2E_GO_CLIENT") == "1" {
		os.Exit(goClient())
	}
	os.Exit(m.Run())
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	must(t, os.WriteFile(path, b, 0o600))
}

func writeFile(t testing.TB, path, content string) string {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o700))
	must(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// env is one opa-sts (STS with its development issuer, and s3_iam) in
// front of one versitygw.
type env struct {
	t        *testing.T
	dir      string
	sts      string // the STS endpoint, http://127.0.0.1:P
	tokenURL string // the development issuer's token endpoint
	s3       string // the S3 endpoint
	srv      *opasts.Server
	// secretFiles holds each client's secret, as the helper reads it.
	secretFiles map[string]string

	mu      sync.Mutex
	secrets []string          // every secret the tests saw
	outputs map[string]string // everything our components printed, by name
}

func startEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	stsAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	e := &env{t: t, dir: dir, sts: "http://" + stsAddr, secretFiles: map[string]string{}, outputs: map[string]string{}}
	e.tokenURL = e.sts + "/dev/token"
	devIssuer := e.sts + "/dev"
	var clients []any
	for _, c := range []string{workload, short, stranger} {
		e.secretFiles[c] = writeFile(t, filepath.Join(dir, "secrets", c), clientSecret(c)+"\n")
		e.secret(clientSecret(c))
		clients = append(clients, map[string]any{"id": c, "secret_file": e.secretFiles[c]})
	}
	e.secret(gwSK)
	policyDir := filepath.Join(dir, "policy")
	must(t, policies.WriteDefault(policyDir))
	own := "arn:aws:s3:::" + bucket + "/home/${jwt:sub}/*"
	writeJSON(t, filepath.Join(policyDir, "data.json"), map[string]any{"opa_sts": map[string]any{
		"providers": []any{map[string]any{"issuer": devIssuer, "discovery_url": devIssuer + "/.well-known/openid-configuration", "audiences": []string{"sts"}}},
		"bindings": []any{
			map[string]any{"role": "home", "issuer": devIssuer, "clients": []string{workload, short}},
			map[string]any{"role": "short-lived", "issuer": devIssuer, "clients": []string{short}},
		},
		"durations": map[string]any{"min": 60},
		"roles": map[string]any{
			"home": map[string]any{"statements": []any{
				map[string]any{"Effect": "Allow", "Action": []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, "Resource": own},
			}},
			"short-lived": map[string]any{"max_duration_seconds": 60, "statements": []any{}},
		},
	}})
	writeJSON(t, filepath.Join(policyDir, ".manifest"), map[string]any{"revision": "credentials-e2e"})
	socket := filepath.Join(dir, "iam.sock")
	gwSecretFile := writeFile(t, filepath.Join(dir, "secrets", "gateway"), gwSK+"\n")
	cfg := filepath.Join(dir, "config.json")
	writeJSON(t, cfg, map[string]any{
		"persistence_directory": dir,
		"decision_logs":         map[string]any{"console": true},
		"plugins": map[string]any{
			"sts_sessions": map[string]any{"issuer": stsIssuer, "keys": map[string]any{"dir": filepath.Join(dir, "keys"), "generate": true},
				"store": map[string]any{"type": "memory"}},
			"sts": map[string]any{"addr": stsAddr, "dev_issuer": map[string]any{"enabled": true,
				"key_file": filepath.Join(dir, "keys", "dev-issuer.pem"), "clients": clients}},
			"s3_iam": map[string]any{"socket": socket, "access_key": gwAK, "secret_key_file": gwSecretFile},
		},
	})
	// Registered first, so it runs last: after every process has stopped.
	t.Cleanup(e.expectNoSecretShown)
	e.srv = opasts.Start(t, dir, "-c", cfg, "--bundle", policyDir)
	waitFor(t, func() bool { _, err := os.Stat(socket); return err == nil })
	waitFor(t, func() bool {
		resp, err := http.Get(devIssuer + "/.well-known/openid-configuration")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	gw := versitygw.Start(t, dir, versitygw.Options{RootAccess: rootAK, RootSecret: rootSK, IAMAccess: gwAK, IAMSecret: gwSK,
		IAMEndpoint: socket, IAMLogs: e.srv.Logs})
	e.s3 = "http://" + gw.Addr
	root := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.s3), UsePathStyle: true,
		Credentials: awscredentials.NewStaticCredentialsProvider(rootAK, rootSK, "")})
	_, err := root.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	must(t, err)
	return e
}

func waitFor(t testing.TB, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("not ready after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// secret records a value that no log or error may show.
func (e *env) secret(s string) {
	if s == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, s)
}

// output records what one of our components printed outside the
// credentials themselves (stderr, logs, SDK error messages).
func (e *env) output(name, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.outputs[name] += text
}

// jwtLike is an identity or session token, or a piece of one.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}`)

// expectNoSecretShown scans every recorded output (and the STS's log)
// for every recorded secret, and for anything that looks like a token.
func (e *env) expectNoSecretShown() {
	e.mu.Lock()
	defer e.mu.Unlock()
	outputs := map[string]string{}
	for k, v := range e.outputs {
		outputs[k] = v
	}
	if e.srv != nil {
		outputs["the opa-sts server's log"] = e.srv.Logs()
	}
	for name, text := range outputs {
		for _, s := range e.secrets {
			if strings.Contains(text, s) {
				e.t.Errorf("%s shows a secret (%.6s...)", name, s)
			}
		}
		if m := jwtLike.FindString(text); m != "" {
			e.t.Errorf("%s shows something like a token (%.12s...)", name, m)
		}
	}
}

// token gets an identity token from the development issuer.
func (e *env) token(t testing.TB, client string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.tokenURL, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, clientSecret(client))
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token for %s: %d %v", client, resp.StatusCode, err)
	}
	e.secret(tok.AccessToken)
	return tok.AccessToken
}

// tokenFile writes a fresh identity token of client into a file.
func (e *env) tokenFile(t testing.TB, client string) string {
	t.Helper()
	f, err := os.CreateTemp(e.dir, "token-"+client+"-*")
	must(t, err)
	_, err = f.WriteString(e.token(t, client) + "\n")
	must(t, err)
	must(t, f.Close())
	return f.Name()
}

// viaIdP are the helper's flags for client's token from the issuer.
func (e *env) viaIdP(client string) []string {
	return []string{"--sts", e.sts, "--token-url", e.tokenURL, "--client-id", client, "--client-secret-file", e.secretFiles[client]}
}

// viaFile are the helper's flags for a token file.
func (e *env) viaFile(file string) []string {
	return []string{"--sts", e.sts, "--token-file", file}
}

// helperResult is one run of `opa-sts credentials`.
type helperResult struct {
	stdout, stderr string
	exit           int
	creds          processCredentials
}

type processCredentials struct {
	Version         int
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

func (c processCredentials) expiration(t testing.TB) time.Time {
	t.Helper()
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	must(t, err)
	return exp
}

// helper runs `opa-sts credentials args...` with extra environment.
func (e *env) helper(t testing.TB, extraEnv []string, args ...string) helperResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, opasts.Binary(t), append([]string{"credentials"}, args...)...)
	cmd.Env = append(cleanEnv(e.dir), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := helperResult{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("opa-sts credentials: %v", err)
	}
	e.output("opa-sts credentials' stderr", r.stderr)
	if r.exit == 0 {
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r.creds); err != nil {
			t.Fatalf("stdout is not credential_process JSON: %v", err)
		}
		e.secret(r.creds.SecretAccessKey)
		e.secret(r.creds.SessionToken)
	} else if r.stdout != "" {
		t.Fatalf("a failed run printed on stdout: %q", r.stdout)
	}
	return r
}

// mustHelper is helper that must succeed with complete credentials.
func (e *env) mustHelper(t testing.TB, extraEnv []string, args ...string) processCredentials {
	t.Helper()
	r := e.helper(t, extraEnv, args...)
	if r.exit != 0 {
		t.Fatalf("opa-sts credentials %v: exit %d\n%s", args, r.exit, r.stderr)
	}
	c := r.creds
	if c.Version != 1 || !strings.HasPrefix(c.AccessKeyID, "ASIA") || c.SecretAccessKey == "" || c.SessionToken == "" || !c.expiration(t).After(time.Now()) {
		t.Fatalf("credentials: %v %s %s", c.Version, c.AccessKeyID, c.Expiration)
	}
	return c
}

// cleanEnv is this process's environment without any AWS setting, with
// HOME (and so the SDKs' ~/.aws) in a directory of the test.
func cleanEnv(dir string) []string {
	home := filepath.Join(dir, "home")
	_ = os.MkdirAll(home, 0o700)
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AWS_") || name == "HOME" || name == "XDG_CACHE_HOME" || name == "OPA_STS_E2E_GO_CLIENT" {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "HOME="+home, "AWS_EC2_METADATA_DISABLED=true", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=", "NODE_NO_WARNINGS=1")
}

// awsConfig writes an AWS config file with the given profiles (name →
// lines) and returns its path.
func (e *env) awsConfig(t testing.TB, profiles map[string][]string, extra ...string) string {
	t.Helper()
	var b strings.Builder
	for name, lines := range profiles {
		fmt.Fprintf(&b, "[profile %s]\n%s\n\n", name, strings.Join(lines, "\n"))
	}
	b.WriteString(strings.Join(extra, "\n"))
	f, err := os.CreateTemp(e.dir, "aws-config-*")
	must(t, err)
	_, err = f.WriteString(b.String())
	must(t, err)
	must(t, f.Close())
	return f.Name()
}

// credentialProcess is a credential_process line running the helper.
func credentialProcess(t testing.TB, args ...string) string {
	return "credential_process = " + opasts.Binary(t) + " credentials " + strings.Join(args, " ")
}

// serve is a running `opa-sts credentials serve`.
type serve struct {
	url  string
	logs *opasts.SyncBuffer
	cmd  *exec.Cmd
	done chan struct{}
}

// startServe starts `opa-sts credentials serve` on a free loopback port
// and waits for the URL it prints.
func (e *env) startServe(t testing.TB, authToken string, args ...string) *serve {
	t.Helper()
	tokenFile := writeFile(t, filepath.Join(e.dir, "serve", strconv.Itoa(opasts.FreePort(t))), authToken+"\n")
	e.secret(authToken)
	full := append([]string{"credentials", "serve", "--addr", "127.0.0.1:0", "--auth-token-file", tokenFile}, args...)
	cmd := exec.Command(opasts.Binary(t), full...)
	cmd.Env = cleanEnv(e.dir)
	s := &serve{logs: &opasts.SyncBuffer{}, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	must(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-s.done
		}
		e.output("opa-sts credentials serve's log", s.logs.String())
		if t.Failed() {
			t.Logf("credentials serve log:\n%s", s.logs.String())
		}
	})
	re := regexp.MustCompile(`AWS_CONTAINER_CREDENTIALS_FULL_URI=(\S+)`)
	waitFor(t, func() bool {
		select {
		case <-s.done:
			t.Fatalf("credentials serve exited:\n%s", s.logs.String())
		default:
		}
		if m := re.FindStringSubmatch(s.logs.String()); m != nil {
			s.url = m[1]
			return true
		}
		return false
	})
	return s
}

// endpointAnswer is one GET on a credentials endpoint.
type endpointAnswer struct {
	status int
	body   map[string]string
}

func (e *env) get(t testing.TB, u string, header ...string) endpointAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	must(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := endpointAnswer{status: resp.StatusCode}
	if err := json.Unmarshal(b, &a.body); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d, not JSON: %q", u, resp.StatusCode, b)
	}
	if a.status == 200 {
		e.secret(a.body["SecretAccessKey"])
		e.secret(a.body["Token"])
	} else {
		e.output("the credentials endpoint's error answers", string(b))
	}
	return a
}

// concurrently runs each function as a subtest, all at the same time, and
// returns when all are done. They mostly wait for client processes, so
// they are not bounded by -parallel (GOMAXPROCS), as t.Parallel would.
func concurrently(t *testing.T, subtests map[string]func(*testing.T)) {
	t.Helper()
	var wg sync.WaitGroup
	for name, f := range subtests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(name, f)
		}()
	}
	wg.Wait()
}
