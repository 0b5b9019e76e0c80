package minioidentity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	evalmetrics "github.com/open-policy-agent/opa/v1/metrics"

	"github.com/opa-sts/opa-sts/internal/audit"
	"github.com/opa-sts/opa-sts/internal/grant"
)

// MinIO's bounds on maxValiditySeconds (outside them it fails the call).
const (
	minValiditySeconds = 900
	maxValiditySeconds = 365 * 24 * 3600
)

// answer is one reply to MinIO.
type answer struct {
	status int
	result string
	body   any
}

// success is MinIO's AuthNSuccessResponse.
type success struct {
	User               string         `json:"user"`
	MaxValiditySeconds int64          `json:"maxValiditySeconds"`
	Claims             map[string]any `json:"claims"`
}

// failure is MinIO's AuthNErrorResponse; MinIO shows the reason to the client.
type failure struct {
	Reason string `json:"reason"`
}

func refusal(status int, result, reason string) answer {
	return answer{status: status, result: result, body: failure{Reason: reason}}
}

// ServeHTTP answers MinIO: POST /minio/identity?token=<token> with an
// empty body, or HEAD /minio/identity (its health check).
func (p *Plugin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cfg := p.config()
	a, logged := p.handle(r, cfg, start)
	p.metrics.answers.WithLabelValues(a.result).Inc()
	p.metrics.duration.WithLabelValues(a.result).Observe(time.Since(start).Seconds())
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if a.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="opa-sts MinIO identity plugin"`)
	}
	if a.status == http.StatusMethodNotAllowed {
		h.Set("Allow", "POST, HEAD")
	}
	if a.body == nil || r.Method == http.MethodHead {
		w.WriteHeader(a.status)
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_ = json.NewEncoder(w).Encode(a.body)
	if logged != nil {
		logged(a)
	}
}

// handle decides the answer; logged, when not nil, writes the decision
// log entry once the answer is known.
func (p *Plugin) handle(r *http.Request, cfg *Config, start time.Time) (answer, func(answer)) {
	if r.URL.Path != Path {
		return refusal(http.StatusNotFound, resultBadRequest, "not found: MinIO's identity plugin is served at "+Path), nil
	}
	if r.Method != http.MethodPost && r.Method != http.MethodHead {
		return refusal(http.StatusMethodNotAllowed, resultBadRequest, "POST (or HEAD) only"), nil
	}
	if !authorized(r.Header.Values("Authorization"), cfg.authorization) {
		return refusal(http.StatusUnauthorized, resultUnauthorized, "unauthorized: set MINIO_IDENTITY_PLUGIN_AUTH_TOKEN to \"Bearer <the token in plugins.minio_identity.auth_token_file>\""), nil
	}
	if r.Method == http.MethodHead {
		return answer{status: http.StatusOK, result: resultAllowed}, nil
	}
	if r.ContentLength > 0 || hasBody(r.Body) {
		return refusal(http.StatusBadRequest, resultBadRequest, "the request has a body: MinIO sends the token as the token query parameter and no body"), nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return refusal(http.StatusBadRequest, resultBadRequest, "the query string is malformed"), nil
	}
	tokens := q["token"]
	switch {
	case len(tokens) > 1:
		return refusal(http.StatusBadRequest, resultBadRequest, "the token parameter is given more than once"), nil
	case len(tokens) == 0 || tokens[0] == "":
		// What MinIO's configuration check (an empty POST) gets too.
		return refusal(http.StatusForbidden, resultDenied, "no token was given"), nil
	case len(tokens[0]) > cfg.Limits.MaxTokenBytes:
		return refusal(http.StatusForbidden, resultDenied, fmt.Sprintf("the token is larger than %d bytes", cfg.Limits.MaxTokenBytes)), nil
	case !utf8.ValidString(tokens[0]):
		return refusal(http.StatusForbidden, resultDenied, "the token is not valid UTF-8"), nil
	}
	token := tokens[0]

	sem := *p.sem.Load()
	select {
	case sem <- struct{}{}:
		defer func() { <-sem }()
	default:
		return refusal(http.StatusServiceUnavailable, resultBusy, "too many concurrent requests, retry"), nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(cfg.Limits.RequestTimeoutSeconds)*time.Second)
	defer cancel()
	em := evalmetrics.New()
	eval := p.eval.Load()
	d, prep, evalErr := eval.Eval(ctx, ast.NewObject(ast.Item(ast.StringTerm("token"), ast.StringTerm(token))), em)
	a := decide(d, evalErr)
	if evalErr != nil {
		p.logger().Error("MinIO identity decision %s failed: %v", cfg.decisionQuery, audit.ScrubError(evalErr, token))
	} else if a.result == resultError {
		p.logger().Error("MinIO identity decision %s is malformed: %s", cfg.decisionQuery, a.body.(failure).Reason)
		a.body = failure{Reason: "the identity decision is malformed"}
	}
	if cfg.DecisionLogs.Disabled || !audit.Enabled(p.manager) {
		return a, nil
	}
	return a, func(a answer) {
		entry := audit.Entry{
			DecisionID: audit.NewID(),
			Path:       cfg.decisionQuery,
			Timestamp:  start,
			// Never the token: its fingerprint identifies it across logs.
			Input: map[string]any{"token_fingerprint": audit.Fingerprint(token)},
			Result: map[string]any{
				"decision": audit.Scrub(d, token),
				"status":   a.status,
			},
			Error:   audit.ScrubError(evalErr, token),
			Metrics: em,
			Custom:  map[string]any{"minio_identity": map[string]any{"result": a.result, "token_fingerprint": audit.Fingerprint(token)}},
		}
		if prep != nil {
			entry.Bundles = prep.Bundles
		}
		if err := audit.Log(context.WithoutCancel(ctx), p.manager, entry); err != nil {
			p.logger().Error("decision log of a MinIO identity call: %v", err)
		}
	}
}

// decide turns the decision document into MinIO's answer. Anything but a
// well-formed allow is a refusal: a decision that allows without a user,
// a validity MinIO accepts or an object of claims is an error (500), and
// MinIO mints nothing.
func decide(d map[string]any, evalErr error) answer {
	if evalErr != nil {
		return refusal(http.StatusInternalServerError, resultError, "the identity decision failed")
	}
	if allow, _ := d["allow"].(bool); !allow {
		reason, _ := d["reason"].(string)
		if reason == "" {
			reason = "access denied"
		}
		return refusal(http.StatusForbidden, resultDenied, reason)
	}
	user, _ := d["user"].(string)
	if user == "" || !utf8.ValidString(user) || len(user) > 1024 {
		return refusal(http.StatusInternalServerError, resultError, "allow without a user (a non-empty string)")
	}
	validity, ok := grant.WholeNumber(d["max_validity_seconds"])
	if !ok || validity < minValiditySeconds || validity > maxValiditySeconds {
		return refusal(http.StatusInternalServerError, resultError, fmt.Sprintf("max_validity_seconds must be an integer in %d..%d", minValiditySeconds, maxValiditySeconds))
	}
	claims, ok := d["claims"].(map[string]any)
	if !ok {
		if d["claims"] != nil {
			return refusal(http.StatusInternalServerError, resultError, "claims must be an object")
		}
		claims = map[string]any{}
	}
	return answer{status: http.StatusOK, result: resultAllowed, body: success{User: user, MaxValiditySeconds: validity, Claims: claims}}
}

// authorized compares the one Authorization header with the expected
// value in constant time (both hashed first, so not even the length is
// compared early).
func authorized(values []string, want string) bool {
	if len(values) != 1 {
		return false
	}
	got, exp := sha256.Sum256([]byte(values[0])), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(got[:], exp[:]) == 1
}

// hasBody reads at most one byte of the body.
func hasBody(body io.Reader) bool {
	if body == nil || body == http.NoBody {
		return false
	}
	var b [1]byte
	n, err := io.ReadFull(body, b[:])
	return n > 0 || (err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF))
}
