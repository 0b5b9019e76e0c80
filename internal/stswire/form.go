package stswire

import (
	"strconv"
	"strings"

	"github.com/opa-sts/opa-sts/internal/sigv4"
)

// The parameters this package knows. For AssumeRoleWithClientGrants and
// AssumeRoleWithWebIdentity anything else is ignored (clients send extras),
// but still counted and checked for repetition; for the signed actions
// (AssumeRole, GetCallerIdentity) anything else is an error.
type paramID uint8

const (
	pAction paramID = iota
	pVersion
	pToken
	pWebIdentityToken
	pWebIdentityAccessToken
	pWebIdentityRefreshToken // minio-go sends it; never used, tracked as a secret
	pDurationSeconds
	pPolicy
	pRoleArn
	pRoleSessionName
	pProviderID
	pTokenRevokeType
	pPolicyArns // the bare name: AWS query encoding of an empty list ("PolicyArns=")
	// AssumeRole.
	pExternalID
	pSourceIdentity
	pSerialNumber
	pTokenCode
	pMinimumSessionTokenSize
	pTags              // bare name: an empty list
	pTransitiveTagKeys // bare name: an empty list
	pProvidedContexts  // bare name: an empty list
	// SigV4's query form (presigned requests); internal/sigv4 reads them.
	pAmzAlgorithm
	pAmzCredential
	pAmzDate
	pAmzExpires
	pAmzSignedHeaders
	pAmzSignature
	pAmzSecurityToken
	numParams
)

var paramNames = [numParams]string{
	pAction:                  "Action",
	pVersion:                 "Version",
	pToken:                   "Token",
	pWebIdentityToken:        "WebIdentityToken",
	pWebIdentityAccessToken:  "WebIdentityAccessToken",
	pWebIdentityRefreshToken: "WebIdentityRefreshToken",
	pDurationSeconds:         "DurationSeconds",
	pPolicy:                  "Policy",
	pRoleArn:                 "RoleArn",
	pRoleSessionName:         "RoleSessionName",
	pProviderID:              "ProviderId",
	pTokenRevokeType:         "TokenRevokeType",
	pPolicyArns:              "PolicyArns",
	pExternalID:              "ExternalId",
	pSourceIdentity:          "SourceIdentity",
	pSerialNumber:            "SerialNumber",
	pTokenCode:               "TokenCode",
	pMinimumSessionTokenSize: "MinimumSessionTokenSize",
	pTags:                    "Tags",
	pTransitiveTagKeys:       "TransitiveTagKeys",
	pProvidedContexts:        "ProvidedContexts",
	pAmzAlgorithm:            sigv4.QueryAlgorithm,
	pAmzCredential:           sigv4.QueryCredential,
	pAmzDate:                 sigv4.QueryDate,
	pAmzExpires:              sigv4.QueryExpires,
	pAmzSignedHeaders:        sigv4.QuerySignedHeaders,
	pAmzSignature:            sigv4.QuerySignature,
	pAmzSecurityToken:        sigv4.QuerySecurityToken,
}

// paramIDs maps a name to its id. Names are case-sensitive, as in AWS.
var paramIDs = func() map[string]paramID {
	m := make(map[string]paramID, numParams)
	for id, name := range paramNames {
		m[name] = paramID(id)
	}
	return m
}()

func lookupParam(name string) (paramID, bool) {
	id, ok := paramIDs[name]
	return id, ok
}

// isAuthParam: one of SigV4's query-form parameters.
func isAuthParam(id paramID) bool { return id >= pAmzAlgorithm && id <= pAmzSecurityToken }

const (
	// MaxParameters bounds the parameters of one source (query string or
	// body). The largest legitimate request (AssumeRole with 50 tags, 50
	// transitive keys and 10 policy ARNs) has about 180.
	MaxParameters = 200
	// MaxPolicyArns is AWS's bound on PolicyArns.member.N.arn.
	MaxPolicyArns = 10
	// MaxTags is AWS's bound on Tags.member.N and TransitiveTagKeys.member.N.
	MaxTags = 50
)

// listParams holds AssumeRole's member lists of one source; allocated only
// when one appears.
type listParams struct {
	tagKeys, tagValues       [MaxTags]string
	tagKeyHave, tagValueHave uint64 // bit N-1: Tags.member.N.Key / .Value given
	transitive               [MaxTags]string
	transitiveHave           uint64
	contexts                 bool // any ProvidedContexts.* member
}

// paramSet holds the parameters of one source.
type paramSet struct {
	vals    [numParams]string
	have    uint64
	arns    [MaxPolicyArns]string
	arnHave uint16 // bit N-1 set when PolicyArns.member.N.arn was given
	lists   *listParams
	count   int
	unknown []string // names of ignored parameters, for the repetition check
}

func (ps *paramSet) has(id paramID) bool { return ps.have&(1<<id) != 0 }

// parseForm parses application/x-www-form-urlencoded text (a query string or
// a body) into ps. It rejects what net/url rejects (bad percent-encoding, raw
// ';'), a parameter given twice, and more than MaxParameters parameters.
// Messages name a parameter only when it is one of ours: an unknown name may
// be anything, a token included.
func parseForm(src string, ps *paramSet) *Error {
	for src != "" {
		var seg string
		seg, src, _ = strings.Cut(src, "&")
		if seg == "" {
			continue
		}
		if strings.IndexByte(seg, ';') >= 0 {
			// Go's net/url refuses ';' since 1.17: some parsers split on it,
			// which opens the door to parameter smuggling.
			return InvalidParameterValue("The request is not valid form encoding: unescaped ';'")
		}
		k, v, _ := strings.Cut(seg, "=")
		key, ok := unescape(k)
		if !ok {
			return InvalidParameterValue("The request is not valid form encoding: bad percent-encoding in a parameter name")
		}
		val, ok := unescape(v)
		if !ok {
			if id, known := lookupParam(key); known {
				return InvalidParameterValue("The request is not valid form encoding: bad percent-encoding in " + paramNames[id])
			}
			return InvalidParameterValue("The request is not valid form encoding: bad percent-encoding in a parameter value")
		}
		ps.count++
		if ps.count > MaxParameters {
			return InvalidParameterValue("The request has more than " + strconv.Itoa(MaxParameters) + " parameters")
		}
		if key == "" {
			continue
		}
		if err := ps.add(key, val); err != nil {
			return err
		}
	}
	return nil
}

func (ps *paramSet) add(key, val string) *Error {
	if id, ok := lookupParam(key); ok {
		if ps.has(id) {
			return InvalidParameterValue("Parameter " + paramNames[id] + " is given more than once")
		}
		ps.have |= 1 << id
		ps.vals[id] = val
		return nil
	}
	switch {
	case strings.HasPrefix(key, "Tags."):
		return ps.addTag(key, val)
	case strings.HasPrefix(key, "TransitiveTagKeys."):
		return ps.addTransitive(key, val)
	case strings.HasPrefix(key, "ProvidedContexts."):
		// Refused for AssumeRole, ignored elsewhere: never read.
		ps.list().contexts = true
		return nil
	}
	if strings.HasPrefix(key, "PolicyArns.") {
		n, err := policyArnIndex(key)
		if err != nil {
			return err
		}
		bit := uint16(1) << (n - 1)
		if ps.arnHave&bit != 0 {
			return InvalidParameterValue("Parameter PolicyArns.member." + strconv.Itoa(n) + ".arn is given more than once")
		}
		ps.arnHave |= bit
		ps.arns[n-1] = val
		return nil
	}
	for _, u := range ps.unknown {
		if u == key {
			return InvalidParameterValue("A parameter is given more than once")
		}
	}
	ps.unknown = append(ps.unknown, key)
	return nil
}

func (ps *paramSet) list() *listParams {
	if ps.lists == nil {
		ps.lists = new(listParams)
	}
	return ps.lists
}

// addTag stores Tags.member.N.Key or Tags.member.N.Value.
func (ps *paramSet) addTag(key, val string) *Error {
	const malformed = "Malformed Tags parameter: expecting Tags.member.N.Key and Tags.member.N.Value"
	rest, _ := strings.CutPrefix(key, "Tags.member.")
	num, field, ok := strings.Cut(rest, ".")
	if !ok || len(rest) == len(key) || field != "Key" && field != "Value" {
		return InvalidParameterValue(malformed)
	}
	n, e := memberIndex(num, MaxTags, "Tags", malformed)
	if e != nil {
		return e
	}
	l := ps.list()
	have, vals := &l.tagKeyHave, &l.tagKeys
	if field == "Value" {
		have, vals = &l.tagValueHave, &l.tagValues
	}
	bit := uint64(1) << (n - 1)
	if *have&bit != 0 {
		return InvalidParameterValue("Parameter Tags.member." + strconv.Itoa(n) + "." + field + " is given more than once")
	}
	*have |= bit
	vals[n-1] = val
	return nil
}

// addTransitive stores TransitiveTagKeys.member.N.
func (ps *paramSet) addTransitive(key, val string) *Error {
	const malformed = "Malformed TransitiveTagKeys parameter: expecting TransitiveTagKeys.member.N"
	num, ok := strings.CutPrefix(key, "TransitiveTagKeys.member.")
	if !ok {
		return InvalidParameterValue(malformed)
	}
	n, e := memberIndex(num, MaxTags, "TransitiveTagKeys", malformed)
	if e != nil {
		return e
	}
	l := ps.list()
	bit := uint64(1) << (n - 1)
	if l.transitiveHave&bit != 0 {
		return InvalidParameterValue("Parameter TransitiveTagKeys.member." + strconv.Itoa(n) + " is given more than once")
	}
	l.transitiveHave |= bit
	l.transitive[n-1] = val
	return nil
}

// memberIndex parses the N of a list member: canonical decimal, 1..max.
func memberIndex(num string, max int, list, malformed string) (int, *Error) {
	if num == "" || len(num) > 3 || num[0] == '0' {
		return 0, InvalidParameterValue(malformed)
	}
	n := 0
	for i := 0; i < len(num); i++ {
		c := num[i]
		if c < '0' || c > '9' {
			return 0, InvalidParameterValue(malformed)
		}
		n = n*10 + int(c-'0')
	}
	if n > max {
		return 0, InvalidParameterValue(list + " has more than " + strconv.Itoa(max) + " members")
	}
	return n, nil
}

// policyArnIndex returns N of "PolicyArns.member.N.arn" (1..MaxPolicyArns,
// canonical decimal).
func policyArnIndex(key string) (int, *Error) {
	rest, ok := strings.CutPrefix(key, "PolicyArns.member.")
	if ok {
		rest, ok = strings.CutSuffix(rest, ".arn")
	}
	if !ok || rest == "" || len(rest) > 3 || rest[0] == '0' {
		return 0, InvalidParameterValue("Malformed PolicyArns parameter: expecting PolicyArns.member.N.arn")
	}
	n := 0
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if c < '0' || c > '9' {
			return 0, InvalidParameterValue("Malformed PolicyArns parameter: expecting PolicyArns.member.N.arn")
		}
		n = n*10 + int(c-'0')
	}
	if n > MaxPolicyArns {
		return 0, InvalidParameterValue("PolicyArns has more than " + strconv.Itoa(MaxPolicyArns) + " members")
	}
	return n, nil
}

// unescape decodes form encoding ('+' is a space, %XX a byte) like
// url.QueryUnescape, without allocating when there is nothing to decode.
func unescape(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, true // the common case: a token or name with nothing to decode
	}
	n := 0
	plus := false
	for i := 0; i < len(s); {
		switch s[i] {
		case '%':
			if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
				return "", false
			}
			n++
			i += 3
		case '+':
			plus = true
			i++
		default:
			i++
		}
	}
	if n == 0 && !plus {
		return s, true
	}
	var b strings.Builder // one allocation, no copy
	b.Grow(len(s) - 2*n)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		case '+':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
