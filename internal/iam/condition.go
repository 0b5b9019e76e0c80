package iam

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

type opKind int

const (
	opStringEquals opKind = iota
	opStringEqualsIgnoreCase
	opStringLike
	opNumericEquals
	opNumericLessThan
	opNumericLessThanEquals
	opNumericGreaterThan
	opNumericGreaterThanEquals
	opDateEquals
	opDateLessThan
	opDateLessThanEquals
	opDateGreaterThan
	opDateGreaterThanEquals
	opBool
	opIPAddress
	opNull
)

// operators maps an IAM condition operator to its kind and whether it is
// the negated form (StringNotEquals is "not StringEquals").
var operators = map[string]struct {
	kind    opKind
	negated bool
}{
	"StringEquals": {opStringEquals, false}, "StringNotEquals": {opStringEquals, true},
	"StringEqualsIgnoreCase": {opStringEqualsIgnoreCase, false}, "StringNotEqualsIgnoreCase": {opStringEqualsIgnoreCase, true},
	"StringLike": {opStringLike, false}, "StringNotLike": {opStringLike, true},
	"ArnEquals": {opStringEquals, false}, "ArnNotEquals": {opStringEquals, true},
	"ArnLike": {opStringLike, false}, "ArnNotLike": {opStringLike, true},
	"NumericEquals": {opNumericEquals, false}, "NumericNotEquals": {opNumericEquals, true},
	"NumericLessThan": {opNumericLessThan, false}, "NumericLessThanEquals": {opNumericLessThanEquals, false},
	"NumericGreaterThan": {opNumericGreaterThan, false}, "NumericGreaterThanEquals": {opNumericGreaterThanEquals, false},
	"DateEquals": {opDateEquals, false}, "DateNotEquals": {opDateEquals, true},
	"DateLessThan": {opDateLessThan, false}, "DateLessThanEquals": {opDateLessThanEquals, false},
	"DateGreaterThan": {opDateGreaterThan, false}, "DateGreaterThanEquals": {opDateGreaterThanEquals, false},
	"Bool":      {opBool, false},
	"IpAddress": {opIPAddress, false}, "NotIpAddress": {opIPAddress, true},
	"Null": {opNull, false},
}

type setMode int

const (
	setDefault   setMode = iota // single-valued semantics: any request value
	setAnyValue                 // ForAnyValue:
	setAllValues                // ForAllValues:
)

// condition is one (operator, key) pair with its policy values.
type condition struct {
	kind     opKind
	negated  bool
	ifExists bool
	set      setMode
	key      string // lower-case
	values   []template
	nums     []float64
	times    []time.Time
	prefixes []netip.Prefix
	null     bool
}

func compileConditions(v any) ([]condition, error) {
	block, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("Condition must be an object")
	}
	var out []condition
	for _, opName := range sortedKeys(block) {
		name := opName
		set := setDefault
		switch {
		case strings.HasPrefix(name, "ForAnyValue:"):
			set, name = setAnyValue, strings.TrimPrefix(name, "ForAnyValue:")
		case strings.HasPrefix(name, "ForAllValues:"):
			set, name = setAllValues, strings.TrimPrefix(name, "ForAllValues:")
		}
		ifExists := strings.HasSuffix(name, "IfExists") && name != "IfExists"
		name = strings.TrimSuffix(name, "IfExists")
		op, known := operators[name]
		if !known {
			return nil, fmt.Errorf("unknown condition operator %q", clip(opName))
		}
		keys, ok := block[opName].(map[string]any)
		if !ok || len(keys) == 0 {
			return nil, fmt.Errorf("condition %s must map keys to values", opName)
		}
		for _, key := range sortedKeys(keys) {
			c := condition{kind: op.kind, negated: op.negated, ifExists: ifExists, set: set, key: strings.ToLower(key)}
			vals, err := scalarList(keys[key])
			if err != nil {
				return nil, fmt.Errorf("condition %s %s: %w", opName, clip(key), err)
			}
			if err := c.compileValues(vals); err != nil {
				return nil, fmt.Errorf("condition %s %s: %w", opName, clip(key), err)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// scalarList accepts a string, number or boolean, or a list of them.
func scalarList(v any) ([]string, error) {
	one := func(e any) (string, error) {
		switch e := e.(type) {
		case string:
			return e, nil
		case bool:
			return strconv.FormatBool(e), nil
		case json.Number:
			return e.String(), nil
		case float64:
			return strconv.FormatFloat(e, 'f', -1, 64), nil
		}
		return "", errors.New("values must be strings, numbers or booleans")
	}
	if list, ok := v.([]any); ok {
		if len(list) == 0 {
			return nil, errors.New("no values")
		}
		out := make([]string, len(list))
		for i, e := range list {
			s, err := one(e)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	}
	s, err := one(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func (c *condition) compileValues(vals []string) error {
	switch c.kind {
	case opStringEquals, opStringEqualsIgnoreCase, opStringLike:
		for _, v := range vals {
			t, err := compileTemplate(v, c.kind == opStringEqualsIgnoreCase)
			if err != nil {
				return err
			}
			if c.kind != opStringLike {
				// Equality: wildcards in the policy text are literal.
				t = literalTemplate(t, v)
			}
			c.values = append(c.values, t)
		}
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		for _, v := range vals {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", clip(v))
			}
			c.nums = append(c.nums, f)
		}
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		for _, v := range vals {
			t, ok := parseDate(v)
			if !ok {
				return fmt.Errorf("%q is not a date", clip(v))
			}
			c.times = append(c.times, t)
		}
	case opBool:
		for _, v := range vals {
			b, err := strconv.ParseBool(strings.ToLower(v))
			if err != nil {
				return fmt.Errorf("%q is not a boolean", clip(v))
			}
			c.values = append(c.values, template{static: pattern(nil).appendLiteral(strconv.FormatBool(b), true), fold: true})
		}
	case opIPAddress:
		for _, v := range vals {
			pfx, err := netip.ParsePrefix(v)
			if err != nil {
				addr, aerr := netip.ParseAddr(v)
				if aerr != nil {
					return fmt.Errorf("%q is not an IP address or CIDR", clip(v))
				}
				pfx = netip.PrefixFrom(addr, addr.BitLen())
			}
			c.prefixes = append(c.prefixes, pfx.Masked())
		}
	case opNull:
		if len(vals) != 1 {
			return errors.New("Null takes one boolean")
		}
		b, err := strconv.ParseBool(strings.ToLower(vals[0]))
		if err != nil {
			return errors.New("Null takes a boolean")
		}
		c.null = b
	}
	return nil
}

// literalTemplate makes the policy text of t literal (no wildcards), keeping
// its variables.
func literalTemplate(t template, text string) template {
	if t.parts == nil {
		return template{static: pattern(nil).appendLiteral(text, t.fold), fold: t.fold}
	}
	out := template{fold: t.fold}
	for _, p := range t.parts {
		if p.varID == "" {
			// Escape: each policy character becomes a ${x} literal part.
			for i := 0; i < len(p.text); i++ {
				out.parts = append(out.parts, tpart{varID: "\x00" + p.text[i:i+1]})
			}
			continue
		}
		out.parts = append(out.parts, p)
	}
	return out
}

func parseDate(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

// holds evaluates the condition against the request. ambiguous reports
// that the request's value for the key cannot be trusted: the key was
// given twice with different values (Request.Ambiguous), or both with and
// without its service prefix with different values.
func (c *condition) holds(r *Request, grant bool) (holds, ambiguous bool) {
	vals, present := r.Context[c.key]
	ambiguous = r.Ambiguous[c.key]
	// MinIO names condition keys without their service prefix ("sourceip"
	// for "aws:SourceIp", "prefix" for "s3:prefix").
	if i := strings.IndexByte(c.key, ':'); i >= 0 {
		bare := c.key[i+1:]
		bareVals, barePresent := r.Context[bare]
		ambiguous = ambiguous || r.Ambiguous[bare]
		switch {
		case !present:
			vals, present = bareVals, barePresent
		case barePresent && !slices.Equal(vals, bareVals):
			ambiguous = true
		}
	}
	if ambiguous {
		return false, true
	}
	return c.holdsFor(vals, present, r, grant && !c.negated), false
}

func (c *condition) holdsFor(vals []string, present bool, r *Request, grant bool) bool {
	if c.kind == opNull {
		return c.null == !present
	}
	if !present || len(vals) == 0 {
		switch {
		case c.ifExists:
			return true
		case c.set == setAllValues:
			return true // AWS: ForAllValues holds for an empty set
		}
		return c.negated
	}
	switch c.set {
	case setAllValues:
		for _, v := range vals {
			if c.matchOne(v, r, grant) == c.negated {
				return false
			}
		}
		return true
	default:
		any := false
		for _, v := range vals {
			if c.matchOne(v, r, grant) {
				any = true
				break
			}
		}
		return any != c.negated
	}
}

// matchOne reports whether one request value matches any policy value.
func (c *condition) matchOne(v string, r *Request, grant bool) bool {
	switch c.kind {
	case opStringEquals, opStringEqualsIgnoreCase, opStringLike, opBool:
		return matchesAny(c.values, v, r, grant)
	case opIPAddress:
		addr, err := netip.ParseAddr(v)
		if err != nil {
			return false
		}
		for _, p := range c.prefixes {
			if p.Contains(addr.Unmap()) {
				return true
			}
		}
		return false
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		t, ok := parseDate(v)
		if !ok {
			return false
		}
		for _, pt := range c.times {
			if compare(c.kind, float64(t.UnixNano()), float64(pt.UnixNano())) {
				return true
			}
		}
		return false
	default:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		for _, n := range c.nums {
			if compare(c.kind, f, n) {
				return true
			}
		}
		return false
	}
}

func compare(k opKind, a, b float64) bool {
	switch k {
	case opNumericEquals, opDateEquals:
		return a == b
	case opNumericLessThan, opDateLessThan:
		return a < b
	case opNumericLessThanEquals, opDateLessThanEquals:
		return a <= b
	case opNumericGreaterThan, opDateGreaterThan:
		return a > b
	case opNumericGreaterThanEquals, opDateGreaterThanEquals:
		return a >= b
	}
	return false
}
