// Package opasts starts the opa-sts binary for end-to-end tests: the binary
// is built once per test run (make build) and named by OPA_STS_BIN.
package opasts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/test/e2e/freeport"
)

// Binary returns the path of the opa-sts binary under test.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("OPA_STS_BIN")
	if bin == "" {
		t.Fatal("OPA_STS_BIN is not set: run the tests with `make test` (it builds bin/opa-sts once and exports it)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("OPA_STS_BIN=%s: %v (run `make build`)", bin, err)
	}
	return bin
}

// Result is the outcome of one CLI invocation.
type Result struct {
	Stdout, Stderr string
	Exit           int
}

// Run runs `opa-sts args...` to completion (bounded to two minutes).
func Run(t testing.TB, dir string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.Exit = exitErr.ExitCode()
	default:
		t.Fatalf("run opa-sts %v: %v", args, err)
	}
	return res
}

// Server is a running `opa-sts run --server`.
type Server struct {
	// URL is the OPA REST API base URL.
	URL  string
	cmd  *exec.Cmd
	logs *SyncBuffer
	done chan struct{}
}

// Start runs `opa-sts run --server --addr <free loopback port> args...` in
// dir and waits until /health answers. The process is stopped at cleanup,
// and its log is printed if the test failed.
func Start(t testing.TB, dir string, args ...string) *Server {
	t.Helper()
	port := FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	full := append([]string{"run", "--server", "--addr", addr, "--log-level", "info"}, args...)
	cmd := exec.Command(Binary(t), full...)
	cmd.Dir = dir
	logs := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start opa-sts: %v", err)
	}
	s := &Server{URL: "http://" + addr, cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("opa-sts log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.done:
			t.Fatalf("opa-sts exited during start-up:\n%s", logs.String())
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
			t.Fatalf("opa-sts not healthy after 30s:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Logs returns everything the server printed so far.
func (s *Server) Logs() string { return s.logs.String() }

// Stop ends the server (SIGTERM, then SIGKILL after 10 s). Idempotent.
func (s *Server) Stop() {
	if s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// FreePort returns a TCP port free on 127.0.0.1 a moment ago, never one
// returned before in this test process.
func FreePort(t testing.TB) int {
	t.Helper()
	return freeport.Port(t)
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers, for process output.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// String describes the server for test messages.
func (s *Server) String() string { return fmt.Sprintf("opa-sts at %s", s.URL) }

// VerifySession asks an opa-sts server's OPA API (at apiURL) to verify a
// session token with sts.verify_session and returns the result object.
func VerifySession(t testing.TB, apiURL, accessKeyID, sessionToken string) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"query": "r := sts.verify_session(input.akid, input.token)",
		"input": map[string]any{"akid": accessKeyID, "token": sessionToken},
	})
	resp, err := http.Post(apiURL+"/v1/query", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("verify session on %s: %v", apiURL, err)
	}
	defer resp.Body.Close()
	var out struct {
		Result []struct {
			R map[string]any `json:"r"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Result) != 1 {
		t.Fatalf("verify session on %s: %+v %v", apiURL, out, err)
	}
	return out.Result[0].R
}

// ExpectConfigWithout fetches GET /v1/config from an opa-sts server's OPA
// API and fails the test if any of the secrets appears in it: OPA serves
// its whole configuration there and redacts only its own members.
func ExpectConfigWithout(t testing.TB, apiURL string, secrets ...string) {
	t.Helper()
	ExpectConfigWithoutAs(t, apiURL, "", secrets...)
}

// ExpectConfigWithoutAs is ExpectConfigWithout with a bearer token for
// OPA's API (none when empty).
func ExpectConfigWithoutAs(t testing.TB, apiURL, token string, secrets ...string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, apiURL+"/v1/config", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /v1/config: %v", err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/config: %d %v", resp.StatusCode, err)
	}
	for _, s := range secrets {
		if s != "" && bytes.Contains(buf.Bytes(), []byte(s)) {
			t.Fatalf("GET /v1/config shows a secret:\n%s", buf.String())
		}
	}
}

// BuildExample builds examples/<name> of this repository into a test
// directory and returns the binary.
func BuildExample(t testing.TB, name string) string {
	t.Helper()
	_, file, _, _ := goruntime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "./examples/"+name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build examples/%s: %v\n%s", name, err, out)
	}
	return bin
}

// ToolBinary returns name from the tools cache scripts/build-tools.sh
// fills ($OPA_STS_TOOLS, default ~/.cache/opa-sts/tools), or fails the
// test with the command that builds it.
func ToolBinary(t testing.TB, name, tool string) string {
	t.Helper()
	dir := os.Getenv("OPA_STS_TOOLS")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "opa-sts", "tools")
	}
	bin := filepath.Join(dir, "bin", name)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s not built (%v): run bash scripts/build-tools.sh %s", name, err, tool)
	}
	return bin
}
