package s3iam

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/logging"
	evalmetrics "github.com/open-policy-agent/opa/v1/metrics"

	"github.com/opa-sts/opa-sts/internal/audit"
	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/decision"
	"github.com/opa-sts/opa-sts/internal/sessions"
	"github.com/opa-sts/opa-sts/internal/sigv4"
)

const protocolHeader = "X-Vgw-Private-Protocol"

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
	errNoAuthority    = &apiError{status: http.StatusServiceUnavailable, Error: "sessions cannot be verified: the session authority is not running", Code: "ServiceUnavailable"}
)

func invalidToken(msg string) *apiError {
	return &apiError{status: http.StatusForbidden, Error: msg, Code: "InvalidToken"}
}

func (p *Plugin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := p.state.Load()
	resp, rec, aerr := p.handle(r, st)
	w.Header().Set(protocolHeader, ProtocolVersion)
	if aerr != nil {
		writeErr(w, aerr)
	} else {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}
	endpoint := endpointLabel(r.URL.Path)
	st.metrics.observe(endpoint, aerr, start)
	p.logDecision(r.Context(), st, endpoint, rec, aerr, start)
	if endpoint != "derive-signing-key" || aerr != nil {
		p.logConsole(st, rec, aerr)
	}
}

// handle authenticates the gateway's request and answers it. The record
// is for the decision log: set for the requests about an end user's
// credentials (derive-signing-key, evaluate-policy) once the gateway is
// authenticated.
func (p *Plugin) handle(r *http.Request, st *state) (any, *record, *apiError) {
	if r.Method != http.MethodPost {
		return nil, nil, &apiError{status: http.StatusMethodNotAllowed, Error: "POST only", Code: "MethodNotAllowed"}
	}
	limits := st.cfg.Limits
	body, err := io.ReadAll(io.LimitReader(r.Body, limits.MaxBodyBytes+1))
	if err != nil || int64(len(body)) > limits.MaxBodyBytes {
		return nil, nil, errBadRequest
	}
	if err := st.gateway.verify(r, body, time.Now()); err != nil {
		p.manager.Logger().Warn("%s: refused a request on %s: %v", Name, r.URL.Path, err)
		return nil, nil, errSignature
	}
	if r.URL.Path != "/private/version" && r.Header.Get(protocolHeader) != ProtocolVersion {
		return nil, nil, errProtocol
	}
	ctx, cancel := context.WithTimeout(r.Context(), seconds(limits.RequestTimeoutSeconds))
	defer cancel()
	h := &handler{cfg: st.cfg, authority: st.core.Authority(), eval: st.eval, logger: p.manager.Logger(), metrics: st.metrics,
		evalMetrics: !st.cfg.DecisionLogs.Disabled && audit.Enabled(p.manager)}
	switch r.URL.Path {
	case "/private/version":
		return map[string]any{"protocol": 1, "minClient": 1, "serverVersion": "opa-sts", "accountId": st.cfg.AccountID}, nil, nil
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
	cfg       *Config
	authority *sessions.Authority // nil: none running
	eval      evaluatorIface
	logger    logging.Logger
	metrics   *metrics
	// evalMetrics: collect evaluation metrics, for the decision log.
	evalMetrics bool
}

type evaluatorIface interface {
	Eval(ctx context.Context, input ast.Value, m evalmetrics.Metrics) (map[string]any, *decision.Prepared, error)
	// Current is the prepared query of the active policy (for the bundle
	// revisions of entries that evaluated nothing).
	Current(ctx context.Context) (*decision.Prepared, error)
}

// session resolves (access key id, session token) to a verified session,
// revocation included: the one verification of the request. Without a
// token there is no identity: opa-sts issues no long-term keys.
func (h *handler) session(ctx context.Context, akid, token string) (*credentials.Session, *apiError) {
	if token == "" {
		return nil, errNoSuchIdentity
	}
	if h.authority == nil {
		return nil, errNoAuthority
	}
	s, verr := h.authority.Verify(ctx, akid, token, time.Now())
	switch {
	case verr == nil:
		return s, nil
	case verr.Code == sessions.CodeNotReady:
		return nil, &apiError{status: http.StatusServiceUnavailable, Error: verr.Message, Code: "ServiceUnavailable"}
	default:
		// The message is the verifier's: it never contains the token.
		return nil, invalidToken("the session token is not valid: " + verr.Message)
	}
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
	if json.Unmarshal(body, &req) != nil || !validScopeDate(req.Date) || !sigv4.IsAWSName(req.Region) || !sigv4.IsAWSName(req.Service) {
		return nil, errBadRequest
	}
	rec.accessKeyID, rec.sessionToken = req.AccessKeyID, req.SessionToken
	s, aerr := h.session(ctx, req.AccessKeyID, req.SessionToken)
	if aerr != nil {
		return nil, aerr
	}
	rec.session = s
	key := signingKey(h.authority.Secret(s), req.Date, req.Region, req.Service)
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
	if json.Unmarshal(body, &req) != nil || len(req.Actions) == 0 || len(req.Resources) == 0 || len(req.Resources)*len(req.Actions) > h.cfg.Limits.MaxDecisions {
		return nil, errBadRequest
	}
	rec.accessKeyID, rec.sessionToken = req.AccessKeyID, req.SessionToken
	rec.actions, rec.resources, rec.condition = req.Actions, req.Resources, req.Condition
	s, aerr := h.session(ctx, req.AccessKeyID, req.SessionToken)
	if aerr != nil {
		return nil, aerr
	}
	rec.session = s
	// data.s3.decision's sts.verify_session finds the session verified
	// above and does not verify it again.
	ctx = sessions.WithVerified(ctx, req.AccessKeyID, req.SessionToken, s)
	if h.evalMetrics {
		rec.metrics = evalmetrics.New()
	}
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
			d, prepared, err := h.eval.Eval(ctx, input, rec.metrics)
			if err != nil {
				rec.evalErr = audit.ScrubError(err, req.SessionToken)
				h.logger.Error("%s: decision failed: %v", Name, rec.evalErr)
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

// validScopeDate: a SigV4 credential scope's date, yyyymmdd.
func validScopeDate(d string) bool {
	_, err := time.Parse("20060102", d)
	return err == nil && len(d) == 8
}
