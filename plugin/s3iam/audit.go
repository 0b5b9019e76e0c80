package s3iam

import (
	"context"
	"strings"
	"time"

	evalmetrics "github.com/open-policy-agent/opa/v1/metrics"

	"github.com/opa-sts/opa-sts/internal/audit"
	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/decision"
)

// record is what one derive-signing-key or evaluate-policy request leaves
// for the decision log. It never holds the secret: the session token is
// kept only to be fingerprinted.
type record struct {
	accessKeyID  string
	sessionToken string
	session      *credentials.Session
	actions      []string
	resources    []string
	condition    map[string][]string
	decisions    [][]string
	prepared     *decision.Prepared
	metrics      evalmetrics.Metrics
	evalErr      error
}

// refusal reports whether the request was refused: an error, or an
// evaluate-policy answer other than allow.
func (r *record) refusal(aerr *apiError) bool {
	if aerr != nil {
		return true
	}
	for _, row := range r.decisions {
		for _, d := range row {
			if d != "allow" {
				return true
			}
		}
	}
	return false
}

// logs reports whether a request gets a decision-log entry: refusals,
// and allowed requests too with decision_logs.allowed; none when disabled
// or when the request was not about an end user's credentials (r nil).
func (c *Config) logs(r *record, aerr *apiError) bool {
	return r != nil && !c.DecisionLogs.Disabled && (c.DecisionLogs.Allowed || r.refusal(aerr))
}

// outcomes explains the answers of evaluate-policy in a console line.
var outcomes = map[string]string{
	"allow":    "ALLOWED",
	"deny":     "DENIED by an explicit Deny",
	"no_match": "DENIED: no statement allows it",
}

// logConsole writes the readable lines of log_decisions: one per action
// and resource decided, or one for a refused request.
func (p *Plugin) logConsole(st *state, r *record, aerr *apiError) {
	if !st.cfg.LogDecisions || r == nil {
		return
	}
	log := p.manager.Logger()
	who := r.accessKeyID
	if r.session != nil {
		who = r.session.Subject + " (" + r.accessKeyID + ")"
	}
	if aerr != nil {
		log.Info("S3 request by %s REFUSED: %s: %s", who, aerr.Code, aerr.Error)
		return
	}
	for i, row := range r.decisions {
		for j, d := range row {
			if i < len(r.resources) && j < len(r.actions) {
				log.Info("S3 %s %s by %s: %s", r.actions[j], r.resources[i], who, outcomes[d])
			}
		}
	}
}

// logDecision writes one decision-log entry through OPA's decision_logs
// plugin, when it is configured: refusals by default, every request with
// decision_logs.allowed. The session token appears only as a fingerprint
// (and the default mask policy erases /input/session_token besides).
func (p *Plugin) logDecision(ctx context.Context, st *state, endpoint string, r *record, aerr *apiError, start time.Time) {
	if !st.cfg.logs(r, aerr) || !audit.Enabled(p.manager) {
		return
	}
	in := map[string]any{"access_key_id": r.accessKeyID, "session_token": audit.Fingerprint(r.sessionToken)}
	if r.actions != nil {
		in["actions"], in["resources"], in["condition"] = r.actions, r.resources, loggedCondition(r.condition)
	}
	result := map[string]any{}
	if r.decisions != nil {
		result["decisions"] = r.decisions
	}
	if r.session != nil {
		result["subject"] = r.session.Subject
		result["session_id"] = r.session.SessionID
	}
	if aerr != nil {
		result["error"] = map[string]any{"code": aerr.Code, "message": aerr.Error}
	}
	e := audit.Entry{
		DecisionID: audit.NewID(),
		Timestamp:  start,
		Input:      audit.Scrub(in, r.sessionToken),
		Result:     result,
		Error:      r.evalErr,
		Metrics:    r.metrics,
		Custom: map[string]any{"s3_iam": map[string]any{
			"endpoint":            endpoint,
			"session_fingerprint": audit.Fingerprint(r.sessionToken),
		}},
	}
	prepared := r.prepared
	if prepared != nil {
		e.Path = st.cfg.query
	} else {
		// A session refused before any decision: still stamp the active
		// bundle revisions, as every entry carries them.
		prepared, _ = st.eval.Current(ctx)
	}
	if prepared != nil {
		e.Bundles = prepared.Bundles
	}
	if err := audit.Log(ctx, p.manager, e); err != nil {
		p.manager.Logger().Error("%s: decision log %s: %v", Name, e.DecisionID, err)
	}
}

// loggedCondition is the request's condition context as logged: a
// Referer keeps its scheme, host and path only, since the page it names
// may be a presigned URL that carries a session token.
func loggedCondition(c map[string][]string) map[string][]string {
	refs, ok := c["aws:Referer"]
	if !ok {
		return c
	}
	out := make(map[string][]string, len(c))
	for k, v := range c {
		out[k] = v
	}
	clean := make([]string, len(refs))
	for i, ref := range refs {
		clean[i], _, _ = strings.Cut(ref, "?")
		clean[i], _, _ = strings.Cut(clean[i], "#")
	}
	out["aws:Referer"] = clean
	return out
}
