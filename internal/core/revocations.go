package core

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/open-policy-agent/opa/v1/plugins"

	"github.com/opa-sts/opa-sts/internal/sessions"
	"github.com/opa-sts/opa-sts/internal/sessionstore"
)

// RevocationsPath is the OPA API route that revokes sessions. It is served
// by OPA's server, so OPA's authentication and authorization
// (--authentication, --authorization, data.system.authz) protect it.
const RevocationsPath = "/v1/sts/revocations"

// registerRoutes adds the revocation route to the manager once; the route
// outlives plugin instances and asks the current one.
func registerRoutes(m *plugins.Manager) {
	if _, done := m.ExtraRoutes()[RevocationsPath]; done {
		return
	}
	m.ExtraRoute(RevocationsPath, "v1/sts/revocations", func(w http.ResponseWriter, r *http.Request) {
		Lookup(m).serveRevocations(w, r)
	})
}

// serveRevocations: POST {"kind": "session"|"subject"|"issuer"|"client"|"all",
// "value": "...", "reason": "...", "issued_before": "<RFC 3339 time>"}
// revokes every matching session issued until issued_before (default: now;
// never in the future); GET lists the revocations.
func (p *Plugin) serveRevocations(w http.ResponseWriter, r *http.Request) {
	a := p.Authority()
	if a == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "no session authority is running (plugins." + Name + ")"})
		return
	}
	switch r.Method {
	case http.MethodGet:
		rs, err := a.Revocations(r.Context())
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the session store is unavailable"})
			return
		}
		if rs == nil {
			rs = []sessionstore.Revocation{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"result": rs})
	case http.MethodPost:
		var req struct {
			Kind         string `json:"kind"`
			Value        string `json:"value"`
			Reason       string `json:"reason"`
			IssuedBefore string `json:"issued_before"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || dec.More() {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be one object {kind, value, reason, issued_before}"})
			return
		}
		now := time.Now()
		at := now
		if req.IssuedBefore != "" {
			t, err := time.Parse(time.RFC3339Nano, req.IssuedBefore)
			if err != nil || t.After(now) {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "issued_before must be an RFC 3339 time, not in the future"})
				return
			}
			at = t
		}
		rev, err := a.Revoke(r.Context(), sessionstore.Revocation{
			Kind: sessionstore.RevocationKind(req.Kind), Value: req.Value, Reason: req.Reason, At: at,
		}, now)
		switch {
		case errors.Is(err, sessionstore.ErrInvalid):
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		case errors.Is(err, sessions.ErrNotReady):
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the revocation list has not been loaded yet: the session store is unreachable"})
			return
		case err != nil:
			p.logger().Error("revocation not recorded: %v", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the session store is unavailable: the revocation was not recorded"})
			return
		}
		p.logger().Info("revoked %s %q (revocation %s)", rev.Kind, rev.Value, rev.ID)
		writeJSON(w, http.StatusOK, map[string]any{"result": rev})
	default:
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "GET or POST"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
