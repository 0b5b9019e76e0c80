package s3iam

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/decision"
	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/plugin/sts"
)

// maxBodyBytes bounds a request (an evaluate-policy of DeleteObjects
// carries up to 1,000 resources).
const maxBodyBytes = 4 << 20

const protocolHeader = "X-Vgw-Private-Protocol"

// sessions verifies session tokens and re-derives their secrets.
type sessions struct {
	v *credentials.SessionVerifier
}

func newSessions(issuer string, kr *keyring.Keyring) (*sessions, error) {
	v, err := credentials.NewSessionVerifier(issuer, kr, 16384)
	if err != nil {
		return nil, err
	}
	return &sessions{v: v}, nil
}

// apiError is the protocol's error body; versitygw acts on Code.
type apiError struct {
	status int
	Error  string `json:"error"`
	Code   string `json:"code"`
}

var (
	errNoSuchIdentity = &apiError{status: http.StatusForbidden, Error: "no such identity", Code: "NoSuchIdentity"}
	errProtocol       = &apiError{status: http.StatusBadRequest, Error: "unsupported private protocol version (this service speaks " + ProtocolVersion + ")", Code: "ProtocolMismatch"}
	errSignature      = &apiError{status: http.StatusForbidden, Error: "the request is not signed by the configured gateway credential", Code: "AccessDenied"}
	errBadRequest     = &apiError{status: http.StatusBadRequest, Error: "malformed request", Code: "InvalidRequest"}
	errInternal       = &apiError{status: http.StatusInternalServerError, Error: "internal error", Code: "InternalError"}
)

func invalidToken(msg string) *apiError {
	return &apiError{status: http.StatusForbidden, Error: msg, Code: "InvalidToken"}
}

func (p *Plugin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cfg, eval, gateway, m := p.snapshot()
	resp, rec, aerr := p.handle(r, cfg, eval, gateway, m)
	w.Header().Set(protocolHeader, ProtocolVersion)
	if aerr != nil {
		writeErr(w, aerr)
	} else {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}
	endpoint := endpointLabel(r.URL.Path)
	m.observe(endpoint, aerr, start)
	p.logDecision(r.Context(), cfg, eval, endpoint, rec, aerr, start)
}

// handle authenticates the gateway's request and answers it. The record
// is for the decision log: set for the requests about an end user's
// credentials (derive-signing-key, evaluate-policy) once the gateway is
// authenticated.
func (p *Plugin) handle(r *http.Request, cfg *Config, eval evaluatorIface, gateway *gatewayAuth, m *metrics) (any, *record, *apiError) {
	if r.Method != http.MethodPost {
		return nil, nil, &apiError{status: http.StatusMethodNotAllowed, Error: "POST only", Code: "MethodNotAllowed"}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		return nil, nil, errBadRequest
	}
	if err := gateway.verify(r, body, time.Now()); err != nil {
		p.manager.Logger().Warn("%s: refused a request on %s: %v", Name, r.URL.Path, err)
		return nil, nil, errSignature
	}
	if r.URL.Path != "/private/version" && r.Header.Get(protocolHeader) != ProtocolVersion {
		return nil, nil, errProtocol
	}
	ctx, cancel := context.WithTimeout(r.Context(), 9*time.Second)
	defer cancel()
	verifier, err := p.sessions()
	if err != nil {
		p.manager.Logger().Error("%s: %v", Name, err)
		return nil, nil, errInternal
	}
	h := &handler{cfg: cfg, sessions: verifier, eval: eval, plugin: p, metrics: m}
	switch r.URL.Path {
	case "/private/version":
		return map[string]any{"protocol": 1, "minClient": 1, "serverVersion": "opa-sts", "accountId": cfg.AccountID}, nil, nil
	case "/private/derive-signing-key":
		rec := &record{}
		resp, aerr := h.deriveSigningKey(ctx, body, rec)
		return resp, rec, aerr
	case "/private/evaluate-policy":
		rec := &record{}
		resp, aerr := h.evaluatePolicy(ctx, body, rec)
		return resp, rec, aerr
	case "/private/resolve-identity":
		resp, aerr := h.resolveIdentity(body)
		return resp, nil, aerr
	case "/private/resolve-principals":
		resp, aerr := h.resolvePrincipals(body)
		return resp, nil, aerr
	}
	return nil, nil, &apiError{status: http.StatusNotFound, Error: "no such endpoint", Code: "NotFound"}
}

func writeErr(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(e)
}

type handler struct {
	cfg      *Config
	sessions *sessions
	eval     evaluatorIface
	plugin   *Plugin
	metrics  *metrics
}

type evaluatorIface interface {
	Eval(ctx context.Context, input ast.Value) (map[string]any, *decision.Prepared, error)
	// Current is the prepared query of the active policy (for the bundle
	// revisions of entries that evaluated nothing).
	Current(ctx context.Context) (*decision.Prepared, error)
}

// session resolves (access key id, session token) to a verified session.
// Without a token there is no identity: opa-sts issues no long-term keys.
func (h *handler) session(ctx context.Context, akid, token string) (*credentials.Session, *apiError) {
	if token == "" {
		return nil, errNoSuchIdentity
	}
	s, verr := h.sessions.v.Verify(ctx, akid, token, time.Now())
	if verr != nil {
		// The message is the verifier's: it never contains the token.
		return nil, invalidToken("the session token is not valid: " + verr.Message)
	}
	if h.plugin == nil || h.plugin.manager == nil {
		return s, nil
	}
	if r, ok := h.plugin.manager.Plugin(sts.Name).(interface {
		Revoked(*credentials.Session) bool
	}); ok && r.Revoked(s) {
		return nil, invalidToken("the session has been revoked")
	}
	return s, nil
}

func (h *handler) principalArn(s *credentials.Session) string {
	return "arn:aws:sts::" + h.cfg.AccountID + ":assumed-role/opa-sts/" + s.Subject
}

func (h *handler) deriveSigningKey(ctx context.Context, body []byte, rec *record) (any, *apiError) {
	var req struct {
		AccessKeyID  string `json:"accessKeyId"`
		SessionToken string `json:"sessionToken"`
		Date         string `json:"date"`
		Region       string `json:"region"`
		Service      string `json:"service"`
	}
	if json.Unmarshal(body, &req) != nil || len(req.Date) != 8 || req.Region == "" || req.Service == "" {
		return nil, errBadRequest
	}
	rec.accessKeyID, rec.sessionToken = req.AccessKeyID, req.SessionToken
	s, aerr := h.session(ctx, req.AccessKeyID, req.SessionToken)
	if aerr != nil {
		return nil, aerr
	}
	rec.session = s
	key := signingKey(h.sessions.v.Secret(s), req.Date, req.Region, req.Service)
	return map[string]any{
		"derivedKey":   base64.StdEncoding.EncodeToString(key),
		"principalArn": h.principalArn(s),
		"roleArn":      "arn:aws:iam::" + h.cfg.AccountID + ":role/opa-sts",
	}, nil
}

func (h *handler) evaluatePolicy(ctx context.Context, body []byte, rec *record) (any, *apiError) {
	var req struct {
		AccessKeyID  string              `json:"accessKeyId"`
		SessionToken string              `json:"sessionToken"`
		Actions      []string            `json:"actions"`
		Resources    []string            `json:"resources"`
		Condition    map[string][]string `json:"condition"`
	}
	if json.Unmarshal(body, &req) != nil || len(req.Actions) == 0 || len(req.Resources) == 0 || len(req.Resources)*len(req.Actions) > 4096 {
		return nil, errBadRequest
	}
	rec.accessKeyID, rec.sessionToken = req.AccessKeyID, req.SessionToken
	rec.actions, rec.resources, rec.condition = req.Actions, req.Resources, req.Condition
	s, aerr := h.session(ctx, req.AccessKeyID, req.SessionToken)
	if aerr != nil {
		return nil, aerr
	}
	rec.session = s
	cond := ast.NewObject()
	for k, vs := range req.Condition {
		terms := make([]*ast.Term, len(vs))
		for i, v := range vs {
			terms[i] = ast.StringTerm(v)
		}
		cond.Insert(ast.StringTerm(k), ast.ArrayTerm(terms...))
	}
	// The members that do not change across the matrix are built once.
	akid, token, conds := ast.StringTerm(req.AccessKeyID), ast.StringTerm(req.SessionToken), ast.NewTerm(cond)
	decisions := make([][]string, len(req.Resources))
	for i, res := range req.Resources {
		decisions[i] = make([]string, len(req.Actions))
		resource := ast.StringTerm(res)
		for j, act := range req.Actions {
			input := ast.NewObject(
				[2]*ast.Term{keyAccessKeyID, akid},
				[2]*ast.Term{keySessionToken, token},
				[2]*ast.Term{keyAction, ast.StringTerm(act)},
				[2]*ast.Term{keyResource, resource},
				[2]*ast.Term{keyConditions, conds},
			)
			d, prepared, err := h.eval.Eval(ctx, input)
			if err != nil {
				if h.plugin != nil && h.plugin.manager != nil {
					h.plugin.manager.Logger().Error("%s: decision failed: %v", Name, scrub(err, req.SessionToken))
				}
				return nil, errInternal
			}
			decisions[i][j] = normalize(d["decision"])
			rec.prepared = prepared
		}
	}
	h.metrics.decided(decisions)
	rec.decisions = decisions
	// The decision already intersects the session policy (data.s3), so
	// there is no separate session matrix.
	return map[string]any{"decisions": decisions, "principalArn": h.principalArn(s)}, nil
}

var (
	keyAccessKeyID  = ast.StringTerm("access_key_id")
	keySessionToken = ast.StringTerm("session_token")
	keyAction       = ast.StringTerm("action")
	keyResource     = ast.StringTerm("resource")
	keyConditions   = ast.StringTerm("conditions")
)

// normalize maps a decision to the protocol's vocabulary; anything
// unexpected is a deny (fail closed).
func normalize(v any) string {
	switch v {
	case "allow", "no_match":
		return v.(string)
	}
	return "deny"
}

func (h *handler) resolveIdentity(body []byte) (any, *apiError) {
	var req struct {
		AccessKeyIDs []string `json:"accessKeyIds"`
	}
	if json.Unmarshal(body, &req) != nil {
		return nil, errBadRequest
	}
	// opa-sts has no long-term identities; sessions are not principals
	// that ACLs or bucket policies can name.
	ids := make([]map[string]any, len(req.AccessKeyIDs))
	for i := range ids {
		ids[i] = map[string]any{"found": false}
	}
	return map[string]any{"identities": ids}, nil
}

func (h *handler) resolvePrincipals(body []byte) (any, *apiError) {
	var req struct {
		Principals []string `json:"principals"`
	}
	if json.Unmarshal(body, &req) != nil {
		return nil, errBadRequest
	}
	invalid := []string{}
	for _, p := range req.Principals {
		if p != h.cfg.AccountID && p != "arn:aws:iam::"+h.cfg.AccountID+":root" {
			invalid = append(invalid, p)
		}
	}
	return map[string]any{"invalid": invalid}, nil
}

func scrub(err error, token string) error {
	if token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), token, "<session token>"))
}
