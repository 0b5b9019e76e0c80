// Package idp starts real OpenID Connect identity providers for integration
// tests: ory/hydra v2.3.0 (a Go binary built by scripts/build-tools.sh) and
// panva/oidc-provider 9.13.3 (Node.js, test/idp/oidc-provider). Both issue JWT
// access tokens with the client_credentials grant and listen on 127.0.0.1 only.
//
// Build the prerequisites once (cached under $OPA_STS_TOOLS, default
// ~/.cache/opa-sts/tools):
//
//	bash scripts/build-tools.sh
//
// Every process started here is killed by t.Cleanup; its output is logged
// only when the test failed. All waits and HTTP calls are bounded.
//
// The package uses the standard library only.
package idp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/test/e2e/freeport"
)

const (
	// httpTimeout bounds every HTTP request made by the harness.
	httpTimeout = 5 * time.Second
	// startTimeout bounds the wait for an IdP to become ready.
	startTimeout = 20 * time.Second
	// stopTimeout bounds the wait for a killed process to be reaped.
	stopTimeout = 5 * time.Second
	// maxOutput is how much of a process' output is kept (the tail).
	maxOutput = 512 << 10
)

// DecodeHeader returns the JOSE header of a compact JWS without verifying
// anything (for test assertions). It returns nil if token is malformed.
// JSON numbers are float64.
func DecodeHeader(token string) map[string]any {
	return decodeSegment(token, 0)
}

// DecodeClaims returns the payload of a compact JWS without verifying
// anything (for test assertions). It returns nil if token is malformed.
// JSON numbers are float64.
func DecodeClaims(token string) map[string]any {
	return decodeSegment(token, 1)
}

func decodeSegment(token string, i int) map[string]any {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[i], "="))
	if err != nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil
	}
	return m
}

// toolsDir is ${OPA_STS_TOOLS:-$HOME/.cache/opa-sts/tools}.
func toolsDir() string {
	if d := os.Getenv("OPA_STS_TOOLS"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "opa-sts", "tools")
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago,
// never one returned before in this test process.
func freePort(t testing.TB) int {
	t.Helper()
	return freeport.Port(t)
}

// newHTTPClient returns a client that never reuses connections (the servers
// are restarted under the same address) and times out.
func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout: httpTimeout,
		Transport: &http.Transport{
			Proxy:             nil, // loopback only, ignore HTTP(S)_PROXY
			DisableKeepAlives: true,
			DialContext:       (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		},
	}
}

// doJSON sends a request and decodes a JSON answer into out (if not nil). It
// fails unless the status is wantStatus.
func doJSON(c *http.Client, req *http.Request, wantStatus int, out any) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read body: %w", req.Method, req.URL, err)
	}
	if resp.StatusCode != wantStatus {
		return fmt.Errorf("%s %s: status %d (want %d): %s", req.Method, req.URL, resp.StatusCode, wantStatus, bytes.TrimSpace(body))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("%s %s: decode JSON: %w: %.300s", req.Method, req.URL, err, body)
		}
	}
	return nil
}

func getJSON(c *http.Client, u string, out any) error {
	return getJSONCtx(context.Background(), c, u, out)
}

func getJSONCtx(ctx context.Context, c *http.Client, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	return doJSON(c, req, http.StatusOK, out)
}

// tokenResponse is an OAuth 2.0 token endpoint answer.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// clientCredentials runs the client_credentials grant with
// client_secret_basic and returns the access token.
func clientCredentials(c *http.Client, tokenURL, clientID, secret string, form url.Values) (string, error) {
	form.Set("grant_type", "client_credentials")
	req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 section 2.3.1: form-urlencode before base64.
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	var tr tokenResponse
	if err := doJSON(c, req, http.StatusOK, &tr); err != nil {
		return "", err
	}
	if tr.AccessToken == "" {
		return "", errors.New("token response without access_token")
	}
	return tr.AccessToken, nil
}

// fetchJWKS fetches a JSON Web Key Set document.
func fetchJWKS(ctx context.Context, c *http.Client, u string) ([]map[string]any, error) {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := getJSONCtx(ctx, c, u, &set); err != nil {
		return nil, err
	}
	return set.Keys, nil
}

// kids lists the "kid" of each key.
func kids(keys []map[string]any) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		s, _ := k["kid"].(string)
		out = append(out, s)
	}
	return out
}

// tailBuffer is a goroutine-safe writer keeping the last maxOutput bytes.
type tailBuffer struct {
	mu      sync.Mutex
	buf     []byte
	dropped bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - maxOutput; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.dropped = true
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped {
		return "[... earlier output dropped ...]\n" + string(b.buf)
	}
	return string(b.buf)
}

// mark writes a separator line (process restarts etc.).
func (b *tailBuffer) mark(format string, args ...any) {
	fmt.Fprintf(b, "===== idp harness: "+format+" =====\n", args...)
}

// lineFilter forwards whole lines to w, except those containing one of drop.
type lineFilter struct {
	w    io.Writer
	drop []string
	mu   sync.Mutex
	part []byte
}

func (f *lineFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.part = append(f.part, p...)
	for {
		i := bytes.IndexByte(f.part, '\n')
		if i < 0 {
			break
		}
		line := f.part[:i+1]
		keep := true
		for _, d := range f.drop {
			if bytes.Contains(line, []byte(d)) {
				keep = false
				break
			}
		}
		if keep {
			_, _ = f.w.Write(line)
		}
		f.part = f.part[i+1:]
	}
	if len(f.part) > 64<<10 { // no newline for long: flush as is
		_, _ = f.w.Write(f.part)
		f.part = nil
	}
	return len(p), nil
}

// process is a started child process whose output goes to a tailBuffer.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once Wait returned
	err    error         // Wait's result, valid after exited is closed
}

func startProcess(cmd *exec.Cmd, out io.Writer) (*process, error) {
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = 2 * time.Second // do not hang on inherited pipes
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// kill stops the process and waits (bounded) until it is reaped, so that its
// ports are free when kill returns.
func (p *process) kill() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("process %d did not exit within %s", p.cmd.Process.Pid, stopTimeout)
	}
}

// waitReady polls check until it succeeds, the process exits or the deadline
// passes.
func waitReady(p *process, timeout time.Duration, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("process exited before being ready: %v (last check: %v)", p.err, last)
		default:
		}
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("process exited before being ready: %v (last check: %v)", p.err, last)
		case <-ctx.Done():
			return fmt.Errorf("not ready within %s: %v", timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// httpOK checks that GET u answers 200.
func httpOK(ctx context.Context, c *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	return nil
}

// logOnFailure registers a cleanup that logs the output if t failed.
func logOnFailure(t testing.TB, name string, out *tailBuffer) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
}
