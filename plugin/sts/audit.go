package sts

import (
	"context"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/opa-sts/opa-sts/internal/audit"
)

// finish records one STS request in the metrics and the decision log.
// Neither ever sees the identity token, the secret access key or the
// session token: the input's tokens are replaced by fingerprints, and only
// the access key id, session id and expiration of issued credentials are
// logged.
func (p *Plugin) finish(ctx context.Context, out *outcome, requestID string, start time.Time) {
	elapsed := time.Since(start)
	if out.err != nil {
		p.metrics.denied.WithLabelValues(out.action, out.err.Code).Inc()
		p.metrics.duration.WithLabelValues(out.action, "error").Observe(elapsed.Seconds())
	} else if out.issued != nil {
		p.metrics.issued.WithLabelValues(out.action).Inc()
		p.metrics.duration.WithLabelValues(out.action, "issued").Observe(elapsed.Seconds())
	}
	if p.config().LogDecisions {
		p.logConsole(out)
	}
	if out.input == nil || p.config().DecisionLogs.Disabled || !audit.Enabled(p.manager) {
		return // the request never reached the policy
	}
	secrets := out.secrets()
	token := inputString(out.input, "token")
	result := map[string]any{"decision": audit.Scrub(out.decision, secrets...)}
	if out.issued != nil {
		result["issued"] = map[string]any{
			"access_key_id": out.issued.AccessKeyID,
			"session_id":    out.issued.SessionID,
			"expiration":    out.issued.Expiration.Format(time.RFC3339),
		}
	}
	if out.err != nil {
		result["error"] = map[string]any{"code": out.err.Code, "status": out.err.Status}
	}
	err := audit.Log(ctx, p.manager, audit.Entry{
		DecisionID: requestID,
		Path:       p.config().decisionQuery,
		Timestamp:  start,
		Input:      maskedInput(out.input, secrets...),
		Result:     result,
		Bundles:    out.bundles,
		Error:      out.evalErr,
		Metrics:    out.metrics,
		Custom: map[string]any{"sts": map[string]any{
			"action": out.action, "request_id": requestID, "revision": out.revision,
			// Kept here too: the default mask policy erases /input/token.
			"token_fingerprint": audit.Fingerprint(token),
		}},
	})
	if err != nil {
		p.logger().Error("decision log for request %s: %v", requestID, err)
	}
}

// logConsole is log_decisions' line: the subject and what it got, or the
// error the client got. Messages are the client's own (no secret is in
// them: the outcome's errors are written for the client).
func (p *Plugin) logConsole(out *outcome) {
	log := p.logger()
	switch {
	case out.issued != nil:
		grant, _ := out.decision["grant"].(map[string]any)
		log.Info("STS %s: issued %s to %v, roles %v, until %s (%v)", out.action, out.issued.AccessKeyID, grant["subject"],
			grant["roles"], out.issued.Expiration.Format(time.RFC3339), out.decision["reason"])
	case out.err != nil:
		log.Info("STS %s: REFUSED %s: %s", out.action, out.err.Code, audit.ScrubError(out.err, out.secrets()...))
	}
}

func inputString(in ast.Object, key string) string {
	if t := in.Get(ast.StringTerm(key)); t != nil {
		if s, ok := t.Value.(ast.String); ok {
			return string(s)
		}
	}
	return ""
}
