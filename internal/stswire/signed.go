package stswire

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of AssumeRole's parameters, from AWS's API reference.
const (
	minAssumeRoleDuration, maxAssumeRoleDuration = 900, 43200 // the 1-hour cap of chained sessions is the policy's
	minExternalIDChars, maxExternalIDChars       = 2, 1224
	maxTagKeyChars, maxTagValueChars             = 128, 256
	// MaxMinimumSessionTokenSize is AWS's bound on MinimumSessionTokenSize.
	MaxMinimumSessionTokenSize = 4096
)

// The parameters each signed action takes (besides SigV4's X-Amz-* in the
// query string).
var (
	assumeRoleParams = paramMask(pAction, pVersion, pRoleArn, pRoleSessionName, pDurationSeconds, pPolicy, pPolicyArns,
		pTags, pTransitiveTagKeys, pExternalID, pSourceIdentity, pSerialNumber, pTokenCode, pProvidedContexts,
		pMinimumSessionTokenSize, pTokenRevokeType)
	getCallerIdentityParams = paramMask(pAction, pVersion)
)

func paramMask(ids ...paramID) (m uint64) {
	for _, id := range ids {
		m |= 1 << id
	}
	for id := pAmzAlgorithm; id <= pAmzSecurityToken; id++ {
		m |= 1 << id
	}
	return m
}

// parseSignedAction validates AssumeRole and GetCallerIdentity: strictly,
// since the signature covers the whole request and nothing in it may be
// dropped. The signature itself is the caller's to verify (internal/sigv4).
func parseSignedAction(req *Request, s *sources, secrets []string, lim Limits) (*Request, *Error) {
	for id := pAmzAlgorithm; id <= pAmzSecurityToken; id++ {
		if s.b.has(id) {
			return nil, InvalidParameterValue("The SigV4 parameters X-Amz-* are accepted in the query string only")
		}
	}
	for _, unknown := range [][]string{s.q.unknown, s.b.unknown} {
		for _, name := range unknown {
			if isParamNameLike(name) && !revealsSecret(name, secrets) {
				return nil, InvalidParameterValue("Unknown parameter " + name + " for " + string(req.Action))
			}
			return nil, InvalidParameterValue("The request has an unknown parameter for " + string(req.Action))
		}
	}
	allowed := assumeRoleParams
	if req.Action == GetCallerIdentity {
		allowed = getCallerIdentityParams
	}
	for id := range numParams {
		if s.has(id) && allowed&(1<<id) == 0 {
			return nil, InvalidParameterValue("Parameter " + paramNames[id] + " is not valid for " + string(req.Action))
		}
	}
	if req.Action == GetCallerIdentity {
		if s.q.arnHave|s.b.arnHave != 0 || s.q.lists != nil || s.b.lists != nil {
			return nil, InvalidParameterValue("GetCallerIdentity takes no parameters besides Action and Version")
		}
		return req, nil
	}

	p := &s.p
	// Not supported, and refused rather than ignored: an MFA condition or
	// a context assertion the client relies on must not be dropped.
	if p[pSerialNumber] != "" || p[pTokenCode] != "" {
		return nil, InvalidParameterValue("MFA is not supported: AssumeRole does not take SerialNumber or TokenCode here")
	}
	if p[pProvidedContexts] != "" || s.q.lists != nil && s.q.lists.contexts || s.b.lists != nil && s.b.lists.contexts {
		return nil, InvalidParameterValue("ProvidedContexts is not supported")
	}

	if req.RoleArn = p[pRoleArn]; req.RoleArn == "" {
		return nil, MissingParameter("The request must contain the parameter RoleArn")
	}
	if !isTextParam(req.RoleArn, minArnChars, maxArnChars) {
		return nil, InvalidParameterValue("RoleArn must be between 20 and 2048 printable characters")
	}
	if req.RoleSessionName = p[pRoleSessionName]; req.RoleSessionName == "" {
		return nil, MissingParameter("The request must contain the parameter RoleSessionName")
	}
	if !isSessionName(req.RoleSessionName) {
		return nil, InvalidParameterValue(`RoleSessionName must be 2 to 64 characters of [\w+=,.@-]`)
	}
	if ds := p[pDurationSeconds]; ds != "" {
		n, ok := parseDuration(ds, maxAssumeRoleDuration)
		if !ok || n < minAssumeRoleDuration {
			return nil, InvalidParameterValue("DurationSeconds must be a whole number of seconds between 900 and 43200")
		}
		req.DurationSeconds = n
	}
	if e := parsePolicy(req, s, lim); e != nil {
		return nil, e
	}
	if e := parseTags(req, s); e != nil {
		return nil, e
	}
	if v := p[pExternalID]; v != "" {
		if !isExternalID(v) {
			return nil, InvalidParameterValue(`ExternalId must be 2 to 1224 characters of [\w+=,.@:/-]`)
		}
		req.ExternalID = v
	}
	if v := p[pSourceIdentity]; v != "" {
		if len(v) >= 4 && strings.EqualFold(v[:4], "aws:") {
			return nil, InvalidParameterValue("SourceIdentity cannot begin with aws:, a prefix AWS reserves")
		}
		if !isSessionName(v) {
			return nil, InvalidParameterValue(`SourceIdentity must be 2 to 64 characters of [\w+=,.@-]`)
		}
		req.SourceIdentity = v
	}
	if v := p[pMinimumSessionTokenSize]; v != "" {
		n, ok := parseDuration(v, MaxMinimumSessionTokenSize)
		if !ok {
			return nil, InvalidParameterValue("MinimumSessionTokenSize must be a whole number of bytes between 0 and 4096")
		}
		req.MinimumSessionTokenSize = n
	}
	if e := parseTokenRevokeType(req, s); e != nil {
		return nil, e
	}
	return req, nil
}

// hasTags: any session tag or transitive key in either source (the empty
// list encodings "Tags=" and "TransitiveTagKeys=" aside).
func (s *sources) hasTags() bool {
	for _, ps := range []*paramSet{&s.q, &s.b} {
		if ps.vals[pTags] != "" || ps.vals[pTransitiveTagKeys] != "" {
			return true
		}
		if l := ps.lists; l != nil && l.tagKeyHave|l.tagValueHave|l.transitiveHave != 0 {
			return true
		}
	}
	return false
}

// parseTags validates Tags.member.N and TransitiveTagKeys.member.N. As for
// PolicyArns, a list in the body replaces the query's.
func parseTags(req *Request, s *sources) *Error {
	if s.p[pTags] != "" {
		return InvalidParameterValue("Malformed Tags parameter: expecting Tags.member.N.Key and Tags.member.N.Value")
	}
	if s.p[pTransitiveTagKeys] != "" {
		return InvalidParameterValue("Malformed TransitiveTagKeys parameter: expecting TransitiveTagKeys.member.N")
	}
	var empty listParams
	tags, transitive := &empty, &empty
	if l := s.q.lists; l != nil {
		tags, transitive = l, l
	}
	if l := s.b.lists; l != nil && l.tagKeyHave|l.tagValueHave != 0 || s.b.has(pTags) {
		tags = orEmpty(l)
	}
	if l := s.b.lists; l != nil && l.transitiveHave != 0 || s.b.has(pTransitiveTagKeys) {
		transitive = orEmpty(l)
	}

	if have := tags.tagKeyHave | tags.tagValueHave; have != 0 {
		n, ok := contiguous(have)
		if !ok {
			return InvalidParameterValue("Tags members must be numbered consecutively from 1")
		}
		req.Tags = make([]Tag, n)
		for i := range n {
			name := "Tags.member." + strconv.Itoa(i+1)
			bit := uint64(1) << i
			if tags.tagKeyHave&bit == 0 {
				return MissingParameter("The request must contain the parameter " + name + ".Key")
			}
			if tags.tagValueHave&bit == 0 {
				return MissingParameter("The request must contain the parameter " + name + ".Value")
			}
			k, v := tags.tagKeys[i], tags.tagValues[i]
			if !isTagText(k, 1, maxTagKeyChars) {
				return InvalidParameterValue(name + ".Key must be 1 to 128 letters, numbers, spaces or characters of _.:/=+-@")
			}
			if len(k) >= 4 && strings.EqualFold(k[:4], "aws:") {
				return InvalidParameterValue(name + ".Key cannot begin with aws:, a prefix AWS reserves")
			}
			if !isTagText(v, 0, maxTagValueChars) {
				return InvalidParameterValue(name + ".Value must be at most 256 letters, numbers, spaces or characters of _.:/=+-@")
			}
			for _, prev := range req.Tags[:i] {
				if strings.EqualFold(prev.Key, k) {
					return InvalidParameterValue("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
				}
			}
			req.Tags[i] = Tag{Key: k, Value: v}
		}
	}

	if have := transitive.transitiveHave; have != 0 {
		n, ok := contiguous(have)
		if !ok {
			return InvalidParameterValue("TransitiveTagKeys members must be numbered consecutively from 1")
		}
		req.TransitiveTagKeys = make([]string, n)
		for i := range n {
			name := "TransitiveTagKeys.member." + strconv.Itoa(i+1)
			k := transitive.transitive[i]
			if !isTagText(k, 1, maxTagKeyChars) {
				return InvalidParameterValue(name + " must be 1 to 128 letters, numbers, spaces or characters of _.:/=+-@")
			}
			found := false
			for _, t := range req.Tags {
				found = found || strings.EqualFold(t.Key, k)
			}
			if !found {
				return InvalidParameterValue(name + " must be the key of one of the Tags of the request")
			}
			for _, prev := range req.TransitiveTagKeys[:i] {
				if strings.EqualFold(prev, k) {
					return InvalidParameterValue(name + " repeats a transitive tag key")
				}
			}
			req.TransitiveTagKeys[i] = k
		}
	}
	return nil
}

func orEmpty(l *listParams) *listParams {
	if l == nil {
		return new(listParams)
	}
	return l
}

// contiguous returns N when bits 0..N-1 and only they are set.
func contiguous(have uint64) (int, bool) {
	if have&(have+1) != 0 {
		return 0, false
	}
	n := 0
	for have>>n != 0 {
		n++
	}
	return n, true
}

// isTagText: AWS's [\p{L}\p{Z}\p{N}_.:/=+\-@]*, min..max characters.
func isTagText(s string, minChars, maxChars int) bool {
	if !utf8.ValidString(s) {
		return false
	}
	n := 0
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.Is(unicode.Z, r) && !unicode.IsNumber(r) && !strings.ContainsRune("_.:/=+-@", r) {
			return false
		}
		n++
	}
	return n >= minChars && n <= maxChars
}

// isExternalID: AWS's [\w+=,.@:/-]{2,1224}, \w being ASCII.
func isExternalID(s string) bool {
	if len(s) < minExternalIDChars || len(s) > maxExternalIDChars {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("_+=,.@:/-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isParamNameLike: what a parameter name looks like, so only such a name
// is repeated in a message.
func isParamNameLike(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
