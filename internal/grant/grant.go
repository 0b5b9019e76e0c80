// Package grant is the one contract between a decision and the credential
// it grants: the rules by which a grant object (what data.sts.decision
// returns under "grant", or what a policy passes to sts.issue_credentials)
// becomes a credentials.Grant, and the table by which a denial becomes the
// STS error the client gets.
//
// A grant object:
//
//	subject           non-empty string: the session's subject (required)
//	duration_seconds  whole number of seconds, 60 .. 31622400 (required)
//	source            {iss, sub, client_id, aud}: the identity the token proved (optional; strings)
//	action, revision  strings (optional; the STS plugin sets both itself)
//	...               anything else (permissions, variables, session_policy, tags)
//
// The whole object travels in the session token.
package grant

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/opa-sts/opa-sts/internal/credentials"
)

// ErrDuration marks a duration_seconds outside the credential bounds: the
// client asked for it (or the policy passed it on), so it is the client's
// error.
var ErrDuration = errors.New("grant: duration_seconds out of range")

// Parse reads a grant object, with numbers as json.Number (as OPA's
// results and ast.JSON give them) or float64.
func Parse(g map[string]any) (credentials.Grant, error) {
	var out credentials.Grant
	var err error
	if out.Subject, err = optString(g, "subject"); err != nil {
		return out, fmt.Errorf("grant: %w", err)
	}
	if out.Subject == "" {
		return out, errors.New("grant: subject (a non-empty string) is required")
	}
	raw, ok := g["duration_seconds"]
	if !ok {
		return out, errors.New("grant: duration_seconds is required")
	}
	secs, ok := WholeNumber(raw)
	if !ok {
		return out, errors.New("grant: duration_seconds must be a whole number")
	}
	if secs < int64(credentials.MinDuration/time.Second) || secs > int64(credentials.MaxDuration/time.Second) {
		return out, fmt.Errorf("%w: %d seconds, the bounds are %d to %d", ErrDuration, secs,
			int64(credentials.MinDuration/time.Second), int64(credentials.MaxDuration/time.Second))
	}
	out.Duration = time.Duration(secs) * time.Second
	if out.Action, err = optString(g, "action"); err != nil {
		return out, fmt.Errorf("grant: %w", err)
	}
	if out.Revision, err = optString(g, "revision"); err != nil {
		return out, fmt.Errorf("grant: %w", err)
	}
	if src, ok := g["source"]; ok {
		so, ok := src.(map[string]any)
		if !ok {
			return out, errors.New("grant: source must be an object")
		}
		if out.Source.Issuer, err = optString(so, "iss"); err != nil {
			return out, fmt.Errorf("grant: source.%w", err)
		}
		if out.Source.Subject, err = optString(so, "sub"); err != nil {
			return out, fmt.Errorf("grant: source.%w", err)
		}
		if out.Source.ClientID, err = optString(so, "client_id"); err != nil {
			return out, fmt.Errorf("grant: source.%w", err)
		}
	}
	if out.Details, err = json.Marshal(g); err != nil {
		return out, fmt.Errorf("grant: cannot be encoded: %w", err)
	}
	return out, nil
}

// FromObject reads a grant object given as a Rego value.
func FromObject(obj ast.Object) (credentials.Grant, error) {
	native, err := ast.JSON(obj)
	if err != nil {
		return credentials.Grant{}, fmt.Errorf("grant: %w", err)
	}
	m, ok := native.(map[string]any)
	if !ok {
		return credentials.Grant{}, errors.New("grant: must be an object")
	}
	return Parse(m)
}

func optString(o map[string]any, name string) (string, error) {
	v, ok := o[name]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", errors.New(name + " must be a string")
	}
	return s, nil
}

// WholeNumber is v as an integer when it is one exactly (a JSON number
// from a decision, or a Go integer); fractions and floats beyond 2^53 are
// not.
func WholeNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, false
		}
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	}
	return 0, false
}
