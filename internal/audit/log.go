package audit

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/plugins/logs"
	"github.com/open-policy-agent/opa/v1/server"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Entry is one decision-log entry of an opa-sts plugin. Whatever it holds
// is logged as it is (after OPA's mask policy): secrets must already have
// been replaced by their fingerprints (Scrub, ScrubError).
type Entry struct {
	DecisionID string
	// Path is the decision evaluated, e.g. "data.sts.decision" (empty when
	// the request was refused before any evaluation).
	Path      string
	Timestamp time.Time
	Input     any
	Result    any
	// Bundles are the revisions of the active bundles, by bundle name.
	Bundles map[string]string
	// Error is the evaluation error, logged by its message.
	Error error
	// Metrics are the evaluation's metrics (timers, counters), if any.
	Metrics metrics.Metrics
	// Custom is OPA's "custom" member: each plugin puts its own object
	// under its name.
	Custom map[string]any
}

// Enabled reports whether m has a decision-log plugin to write to.
func Enabled(m *plugins.Manager) bool { return logs.Lookup(m) != nil }

// Log writes e through the decision_logs plugin of m; without one it does
// nothing.
func Log(ctx context.Context, m *plugins.Manager, e Entry) error {
	lp := logs.Lookup(m)
	if lp == nil {
		return nil
	}
	input, result := e.Input, e.Result
	info := &server.Info{
		DecisionID: e.DecisionID,
		Path:       e.Path,
		Timestamp:  e.Timestamp.UTC(),
		Input:      &input,
		Results:    &result,
		Metrics:    e.Metrics,
		Custom:     e.Custom,
	}
	if len(e.Bundles) > 0 {
		info.Bundles = make(map[string]server.BundleInfo, len(e.Bundles))
		for name, rev := range e.Bundles {
			info.Bundles[name] = server.BundleInfo{Revision: rev}
		}
	}
	if e.Error != nil {
		info.Error = loggedError(e.Error)
	}
	return lp.Log(context.WithoutCancel(ctx), info)
}

// loggedError makes an error encode as its code and message: OPA's logs
// plugin encodes the error value as JSON, and a plain Go error encodes as
// {}. Rego evaluation errors keep their own encoding (code, message,
// location).
func loggedError(err error) error {
	var te *topdown.Error
	if errors.As(err, &te) {
		return te
	}
	return &messageError{Code: "internal_error", Message: err.Error()}
}

type messageError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *messageError) Error() string { return e.Message }

// MarshalJSON encodes the code and message.
func (e *messageError) MarshalJSON() ([]byte, error) {
	type plain messageError
	return json.Marshal((*plain)(e))
}

// Scrub returns v (JSON-like: maps, slices, strings) with every
// occurrence of each secret inside a string replaced by the secret's
// fingerprint, so that a policy or a client that echoes a token cannot
// move it into a log. Values without a secret are returned as they are.
func Scrub(v any, secrets ...string) any {
	if !anySecret(secrets) {
		return v
	}
	return scrub(v, secrets)
}

func scrub(v any, secrets []string) any {
	switch x := v.(type) {
	case string:
		return scrubString(x, secrets)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[scrubString(k, secrets)] = scrub(e, secrets)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = scrub(e, secrets)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = scrubString(e, secrets)
		}
		return out
	case map[string][]string:
		out := make(map[string][]string, len(x))
		for k, e := range x {
			out[scrubString(k, secrets)] = scrub(e, secrets).([]string)
		}
		return out
	}
	return v
}

func scrubString(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" && strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, Fingerprint(secret))
		}
	}
	return s
}

func anySecret(secrets []string) bool {
	for _, s := range secrets {
		if s != "" {
			return true
		}
	}
	return false
}

// ScrubError returns err, or an error with the same message but each
// secret replaced by its fingerprint when the message quotes one (an
// error raised by a user's built-in call might quote its argument).
func ScrubError(err error, secrets ...string) error {
	if err == nil || !anySecret(secrets) {
		return err
	}
	msg := err.Error()
	clean := scrubString(msg, secrets)
	if clean == msg {
		return err
	}
	return errors.New(clean)
}
