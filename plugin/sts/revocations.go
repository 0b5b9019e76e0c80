package sts

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/plugins"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/sessionstore"
)

// RevocationsPath is the OPA API route that revokes sessions. It is served
// by OPA's server, so OPA's authentication and authorization
// (--authentication, --authorization, data.system.authz) protect it.
const RevocationsPath = "/v1/sts/revocations"

// registerRoutes adds the revocation route to the manager once.
func registerRoutes(m *plugins.Manager, p *Plugin) {
	if _, done := m.ExtraRoutes()[RevocationsPath]; done {
		return
	}
	m.ExtraRoute(RevocationsPath, "v1/sts/revocations", func(w http.ResponseWriter, r *http.Request) {
		// The route outlives plugin instances: ask the current one.
		cur, ok := m.Plugin(Name).(*Plugin)
		if !ok {
			cur = p
		}
		cur.serveRevocations(w, r)
	})
}

// serveRevocations: POST {"kind": "session"|"subject"|"issuer"|"client"|"all",
// "value": "...", "reason": "...", "issued_before": "<RFC 3339 time>"}
// revokes every matching session issued until issued_before (default: now;
// never in the future); GET lists the revocations.
func (p *Plugin) serveRevocations(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	store := p.store
	p.mu.Unlock()
	view := p.revoked.Load()
	if store == nil || view == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the STS is not running"})
		return
	}
	switch r.Method {
	case http.MethodGet:
		rs, err := store.Revocations(r.Context())
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the session store is unavailable"})
			return
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
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {kind, value, reason, issued_before}"})
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
		rev, err := sessionstore.RevokeAndApply(r.Context(), store, view, sessionstore.Revocation{
			Kind: sessionstore.RevocationKind(req.Kind), Value: req.Value, Reason: req.Reason, At: at,
		}, now)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		p.logger().Info("revoked %s %q (revocation %s)", rev.Kind, rev.Value, rev.ID)
		writeJSON(w, http.StatusOK, map[string]any{"result": rev})
	default:
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "GET or POST"})
	}
}

// Revoked reports whether a verified session has been revoked, from the
// local revocation view (no network on this path).
func (p *Plugin) Revoked(s *credentials.Session) bool {
	view := p.revoked.Load()
	if view == nil {
		return false
	}
	return view.IsRevoked(SessionOf(s))
}

var (
	claimSrc    = ast.StringTerm("src")
	claimSrcIss = ast.StringTerm("iss")
	claimSrcCID = ast.StringTerm("client_id")
	claimSrcSub = ast.StringTerm("sub")
)

// SessionOf is the registry view of a verified session token, as
// revocations match it.
func SessionOf(s *credentials.Session) sessionstore.Session {
	out := sessionstore.Session{ID: s.SessionID, AccessKeyID: s.AccessKeyID, Subject: s.Subject, IssuedAt: s.IssuedAt, ExpiresAt: s.Expiration}
	if src := s.Claims.Get(claimSrc); src != nil {
		if o, ok := src.Value.(ast.Object); ok {
			str := func(k *ast.Term) string {
				if t := o.Get(k); t != nil {
					if v, ok := t.Value.(ast.String); ok {
						return string(v)
					}
				}
				return ""
			}
			out.Issuer, out.ClientID, out.IdPSubject = str(claimSrcIss), str(claimSrcCID), str(claimSrcSub)
		}
	}
	return out
}
