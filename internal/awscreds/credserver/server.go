// Package credserver serves temporary credentials the way the AWS SDKs
// read them from a container credentials endpoint
// (AWS_CONTAINER_CREDENTIALS_FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN
// or AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE): GET on the URI with the
// token verbatim in the Authorization header, answered with
// {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}.
//
// The token is compared in constant time; a request without it gets 401,
// with another one 403, both with a JSON error body and a log line
// (never the token). Credentials are renewed before they expire, in the
// background and on demand (Keeper); when no valid ones can be had the
// answer is 503, never stale credentials. The endpoint listens on
// loopback addresses only: the SDKs accept a plain-http FULL_URI only for
// loopback hosts (and the ECS and EKS link-local agents), and the
// credentials and the token would cross the network in clear otherwise.
package credserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opa-sts/opa-sts/internal/awscreds"
	"github.com/opa-sts/opa-sts/internal/listener"
	"github.com/opa-sts/opa-sts/internal/secretfile"
)

// MinTokenBytes is the shortest authorization token accepted.
const MinTokenBytes = 16

// requestTimeout bounds the wait for credentials within one request.
const requestTimeout = 40 * time.Second

// Handler is the credentials endpoint.
type Handler struct {
	tokenFile string
	keeper    *Keeper
	log       *slog.Logger

	refusedMissing, refusedWrong atomic.Int64
}

// NewHandler serves the keeper's credentials to requests bearing the
// token in tokenFile. The file is read at every request, so it can be
// rotated in place; it must hold at least MinTokenBytes without white
// space or control characters (the SDKs send it as a header value).
func NewHandler(tokenFile string, k *Keeper, log *slog.Logger) (*Handler, error) {
	if tokenFile == "" {
		return nil, errors.New("--auth-token-file is required: the endpoint answers only requests that bear its token")
	}
	if _, err := readToken(tokenFile); err != nil {
		return nil, fmt.Errorf("--auth-token-file: %w", err)
	}
	if raw, err := os.ReadFile(tokenFile); err == nil && len(bytes.TrimRight(raw, "\r\n")) != len(raw) {
		// This endpoint ignores the line break; the SDKs do not.
		log.Warn("the authorization token file ends with a line break: the AWS SDKs send AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE's content verbatim "+
			"and refuse a token with a line break, so give them a file without one (printf '%s' \"$TOKEN\" > file)", "file", tokenFile)
	}
	return &Handler{tokenFile: tokenFile, keeper: k, log: log}, nil
}

func readToken(path string) (string, error) {
	tok, err := secretfile.Read(path)
	if err != nil {
		return "", err
	}
	if len(tok) < MinTokenBytes {
		return "", fmt.Errorf("%s: the authorization token must have at least %d bytes", path, MinTokenBytes)
	}
	if strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", fmt.Errorf("%s: the authorization token may not contain white space or control characters", path)
	}
	return tok, nil
}

// Refusals counts the requests refused for a missing and for a wrong token.
func (h *Handler) Refusals() (missing, wrong int64) {
	return h.refusedMissing.Load(), h.refusedWrong.Load()
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, code, msg string, counter *atomic.Int64) {
	n := counter.Add(1)
	missing, wrong := h.Refusals()
	h.log.Warn("refused a credentials request", "remote", r.RemoteAddr, "reason", msg,
		"refusals_missing_token", missing, "refusals_wrong_token", wrong, "this_kind", n)
	writeJSON(w, status, errorBody{Code: code, Message: msg})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	want, err := readToken(h.tokenFile)
	if err != nil {
		// Fail closed: without the token nobody is let in.
		h.log.Error("cannot read the authorization token file: refusing every request", "error", err.Error())
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Code: "ServiceUnavailable", Message: "the endpoint cannot read its authorization token"})
		return
	}
	got := r.Header.Values("Authorization")
	switch {
	case len(got) == 0 || got[0] == "":
		h.refuse(w, r, http.StatusUnauthorized, "Unauthorized", "the Authorization header with the authorization token is required", &h.refusedMissing)
		return
	case len(got) > 1 || !equalTokens(got[0], want):
		h.refuse(w, r, http.StatusForbidden, "Forbidden", "the authorization token is not accepted", &h.refusedWrong)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Code: "MethodNotAllowed", Message: "only GET is served"})
		return
	}
	if r.URL.Path != "/" {
		writeJSON(w, http.StatusNotFound, errorBody{Code: "NotFound", Message: "the credentials are served at /"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	c, err := h.keeper.Get(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Code: "ServiceUnavailable", Message: "no valid credentials: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string `json:"SecretAccessKey"`
		Token           string `json:"Token"`
		Expiration      string `json:"Expiration"`
	}{c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expiration.UTC().Format(time.RFC3339)})
}

// equalTokens compares in constant time, whatever the lengths.
func equalTokens(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// Listen opens a loopback listener on addr and refuses any other address.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--addr %q: %w", addr, err)
	}
	if !awscreds.IsLoopbackHost(host) {
		return nil, fmt.Errorf("--addr %s: the credentials endpoint listens on loopback addresses only (127.0.0.1, ::1 or localhost): "+
			"the SDKs accept a plain-http AWS_CONTAINER_CREDENTIALS_FULL_URI only for loopback hosts, and credentials must not cross the network in clear. "+
			"Containers of one pod share its loopback; elsewhere run one endpoint next to each workload", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		_ = ln.Close()
		return nil, fmt.Errorf("--addr %s: %s is not a loopback address", addr, ln.Addr())
	}
	return ln, nil
}

// URL is the AWS_CONTAINER_CREDENTIALS_FULL_URI of a listener.
func URL(ln net.Listener) string { return "http://" + ln.Addr().String() + "/" }

// Serve serves h on ln until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	failed := make(chan error, 1)
	srv := listener.Serve(ln, h, listener.Timeouts{ReadHeader: 5 * time.Second, Read: 10 * time.Second,
		Write: requestTimeout + 10*time.Second, Idle: 60 * time.Second}, func(err error) { failed <- err })
	select {
	case <-ctx.Done():
		srv.Shutdown(context.Background())
		return nil
	case err := <-failed:
		srv.Shutdown(context.Background())
		return err
	}
}
