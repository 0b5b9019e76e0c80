package stswire

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Namespace is the XML namespace of every STS document. minio-go does not
// decode a document whose root lacks it.
const Namespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// APIVersion is the only accepted value of the Version parameter.
const APIVersion = "2011-06-15"

// Action is an STS action this service answers.
type Action string

// The actions.
const (
	AssumeRoleWithClientGrants Action = "AssumeRoleWithClientGrants" // MinIO extension
	AssumeRoleWithWebIdentity  Action = "AssumeRoleWithWebIdentity"  // AWS and MinIO
	AssumeRole                 Action = "AssumeRole"                 // AWS; SigV4-signed
	GetCallerIdentity          Action = "GetCallerIdentity"          // AWS; SigV4-signed
)

// Signed reports whether the action is authenticated by a SigV4 signature
// (internal/sigv4) rather than by a token parameter: AssumeRole and
// GetCallerIdentity. ParseRequest does not check signatures; the caller
// must, for these actions, over the raw body (ReadBody, ParseRequestBody).
func (a Action) Signed() bool { return a == AssumeRole || a == GetCallerIdentity }

// Default limits.
const (
	DefaultMaxBodyBytes       int64 = 256 << 10
	DefaultMaxTokenBytes            = 20000 // AWS bound for WebIdentityToken
	DefaultMaxPolicyBytes           = 2048  // AWS bound for Policy
	DefaultMaxDurationSeconds       = 365 * 24 * 3600
	// MinTokenBytes is AWS's lower bound for WebIdentityToken, applied to
	// Token and WebIdentityAccessToken too.
	MinTokenBytes = 4
)

// Bounds from AWS's API reference, applied when the parameter is present.
const (
	minArnChars, maxArnChars               = 20, 2048 // RoleArn, PolicyArns.member.N.arn
	minProviderIDChars, maxProviderIDChars = 4, 2048
	minSessionNameLen, maxSessionNameLen   = 2, 64
	// maxTokenRevokeTypeChars bounds MinIO's TokenRevokeType, for which MinIO
	// documents no bound.
	maxTokenRevokeTypeChars = 256
)

// Limits bound a request. A zero or negative field takes its default.
type Limits struct {
	MaxBodyBytes       int64 // default 256 KiB; also bounds the query string
	MaxTokenBytes      int   // default 20000 (AWS bound for WebIdentityToken)
	MaxPolicyBytes     int   // default 2048 (AWS bound for Policy; bytes, where AWS counts characters)
	MaxDurationSeconds int   // default 365*24*3600; larger values are InvalidParameterValue
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits { return Limits{}.withDefaults() }

func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxTokenBytes <= 0 {
		l.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if l.MaxPolicyBytes <= 0 {
		l.MaxPolicyBytes = DefaultMaxPolicyBytes
	}
	if l.MaxDurationSeconds <= 0 {
		l.MaxDurationSeconds = DefaultMaxDurationSeconds
	}
	return l
}

// Request is a parsed, validated STS request.
//
// Token, AccessToken and ExternalID are secrets. Request formats itself
// (fmt verbs, slog) with them masked, and encoding/json skips them. One hole
// fmt leaves open: a verb fmt rejects for the type (%p of a Request value,
// not a pointer) prints the raw fields, as does printing a struct that holds
// a Request in an unexported field. Log the Request or *Request itself.
type Request struct {
	Action          Action
	Version         string
	Token           string `json:"-"` // Token (client grants) or WebIdentityToken (web identity)
	AccessToken     string `json:"-"` // MinIO's optional WebIdentityAccessToken (web identity only)
	DurationSeconds int    // 0 = not given (minio-go sends 0 meaning "not given")
	Policy          string // session policy JSON, "" if absent
	RoleArn         string
	RoleSessionName string
	ProviderID      string
	PolicyArns      []string // PolicyArns.member.N.arn in N order
	TokenRevokeType string

	// AssumeRole only.
	Tags                    []Tag    // Tags.member.N in N order; keys unique case-insensitively
	TransitiveTagKeys       []string // TransitiveTagKeys.member.N in N order; each one of the Tags keys
	ExternalID              string   `json:"-"` // treated as a secret: a shared value between trusting parties
	SourceIdentity          string
	MinimumSessionTokenSize int // 0..4096; 0 = not given
}

// Tag is a session tag (AssumeRole's Tags.member.N).
type Tag struct {
	Key   string
	Value string
}

// ParseRequest reads an STS request from r: the form body (Content-Type
// application/x-www-form-urlencoded, parameters such as charset allowed)
// and/or the query string. It merges them (the body wins on conflict), rejects
// a parameter repeated within one source, dispatches on Action (never on a
// signature) and validates every parameter. It never reads more than
// limits.MaxBodyBytes bytes of the body, and nothing of a body whose declared
// length exceeds that. Unknown parameters are ignored. The method is POST;
// others answer 405.
//
// ParseRequest answers the signed actions (AssumeRole, GetCallerIdentity)
// as unsupported, as it always has: their signature covers the body, which
// it reads and does not hand out, so a caller of ParseRequest cannot verify
// them. A caller that does uses ReadBody and ParseRequestBody.
//
// The order of the checks decides which error a request with several faults
// gets: method, size, encoding, Action present, Version, Action known,
// parameters the action does not take, the token, then the other parameters.
func ParseRequest(r *http.Request, limits Limits) (*Request, *Error) {
	if r == nil {
		return nil, InternalError()
	}
	lim := limits.withDefaults()
	if e := checkMethodAndQuery(r, lim); e != nil {
		return nil, e
	}
	body, e := readBody(r, lim.MaxBodyBytes)
	if e != nil {
		return nil, e
	}
	return parseRequest(r, body, lim, false)
}

// ReadBody reads r's body as ParseRequest does: at most limits.MaxBodyBytes
// bytes (nothing of a body declared longer), only as an unencoded form. The
// bytes are exactly those received, for SigV4's payload hash; pass them to
// ParseRequestBody. A body may hold a token: the caller should not keep it.
func ReadBody(r *http.Request, limits Limits) ([]byte, *Error) {
	if r == nil {
		return nil, InternalError()
	}
	lim := limits.withDefaults()
	if e := checkMethodAndQuery(r, lim); e != nil {
		return nil, e
	}
	body, e := readBody(r, lim.MaxBodyBytes)
	if e != nil || body == "" {
		return nil, e
	}
	return []byte(body), nil
}

// ParseRequestBody is ParseRequest for a body already read (by ReadBody):
// the same checks, on body instead of r.Body, which it does not touch; and
// it parses the signed actions too. For those, ParseRequestBody checks the
// parameters only: the caller must verify the SigV4 signature over r and
// exactly these body bytes (internal/sigv4) before acting on the request.
//
// The signed actions are parsed strictly: a parameter the action does not
// take, known or not, is an error, and SigV4's X-Amz-* parameters are
// accepted in the query string only. GET (a query string, no body) is
// accepted for them, since presigned URLs are GETs; GET for the other
// actions answers 405.
func ParseRequestBody(r *http.Request, body []byte, limits Limits) (*Request, *Error) {
	if r == nil {
		return nil, InternalError()
	}
	lim := limits.withDefaults()
	if e := checkMethodAndQuery(r, lim); e != nil {
		return nil, e
	}
	if int64(len(body)) > lim.MaxBodyBytes {
		return nil, RequestEntityTooLarge(lim.MaxBodyBytes)
	}
	if len(body) > 0 {
		if e := checkBodyHeaders(r.Header); e != nil {
			return nil, e
		}
	}
	return parseRequest(r, string(body), lim, true)
}

func checkMethodAndQuery(r *http.Request, lim Limits) *Error {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return MethodNotAllowed()
	}
	if r.URL != nil && int64(len(r.URL.RawQuery)) > lim.MaxBodyBytes {
		if r.Method == http.MethodGet {
			return MethodNotAllowed()
		}
		return InvalidParameterValue("The query string exceeds " + strconv.FormatInt(lim.MaxBodyBytes, 10) + " bytes")
	}
	return nil
}

// sources is a request's two parameter sources.
type sources struct {
	q, b paramSet
	p    [numParams]string // merged: the body's value where it has one
}

// has: the parameter is present in either source (possibly empty).
func (s *sources) has(id paramID) bool { return s.q.has(id) || s.b.has(id) }

func parseRequest(r *http.Request, body string, lim Limits, signed bool) (*Request, *Error) {
	var rawQuery string
	if r.URL != nil {
		rawQuery = r.URL.RawQuery
	}
	get := r.Method == http.MethodGet
	var s sources
	if e := parseForm(rawQuery, &s.q); e != nil {
		if get {
			return nil, MethodNotAllowed()
		}
		return nil, e
	}
	if get {
		if !signed || !Action(s.q.vals[pAction]).Signed() {
			return nil, MethodNotAllowed()
		}
		if body != "" {
			return nil, InvalidParameterValue("A GET request must not have a body: send the parameters in the query string, or POST them")
		}
	}
	if e := parseForm(body, &s.b); e != nil {
		return nil, e
	}
	for id := range numParams {
		if s.b.has(id) {
			s.p[id] = s.b.vals[id]
		} else {
			s.p[id] = s.q.vals[id]
		}
	}
	secrets := s.secrets()

	// Action, Version.
	action := s.p[pAction]
	if action == "" {
		return nil, MissingParameter("The request must contain the parameter Action")
	}
	if v := s.p[pVersion]; v != APIVersion {
		shown := v
		if !isVersionLike(v) || revealsSecret(v, secrets) {
			shown = "(not shown)"
		}
		return nil, MissingParameter("Invalid STS API version " + shown + ", expecting " + APIVersion)
	}
	req := &Request{Action: Action(action), Version: APIVersion}
	switch req.Action {
	case AssumeRoleWithClientGrants, AssumeRoleWithWebIdentity:
		return parseTokenAction(req, &s, lim)
	case AssumeRole, GetCallerIdentity:
		if signed {
			return parseSignedAction(req, &s, secrets, lim)
		}
	}
	if isActionLike(action) && !revealsSecret(action, secrets) {
		return nil, InvalidParameterValue("Unsupported action " + action)
	}
	return nil, InvalidParameterValue("Unsupported action")
}

// secrets are the values no message may repeat: tokens, the policy, the
// external id, MFA codes, and SigV4's session token and signature.
func (s *sources) secrets() []string {
	ids := [...]paramID{pToken, pWebIdentityToken, pWebIdentityAccessToken, pWebIdentityRefreshToken, pPolicy,
		pExternalID, pTokenCode, pAmzSecurityToken, pAmzSignature}
	out := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		if v := s.b.vals[id]; v != "" {
			out = append(out, v)
		}
		if v := s.q.vals[id]; v != "" {
			out = append(out, v)
		}
	}
	return out
}

// parseTokenAction validates AssumeRoleWithClientGrants and
// AssumeRoleWithWebIdentity.
func parseTokenAction(req *Request, s *sources, lim Limits) (*Request, *Error) {
	p := &s.p
	tokenID := pToken
	if req.Action == AssumeRoleWithWebIdentity {
		tokenID = pWebIdentityToken
	}
	// Session tags are AssumeRole's. For web identity, AWS takes them from
	// the token's https://aws.amazon.com/tags claim, never from the
	// request (AssumeRoleWithWebIdentity has no Tags parameter), and so
	// does the policy here; a request that sends some is refused rather
	// than silently stripped of them.
	if s.hasTags() {
		return nil, InvalidParameterValue(string(req.Action) + " does not take Tags or TransitiveTagKeys: session tags come from the token's https://aws.amazon.com/tags claim")
	}

	// The token. Never echoed; only its bounds are named.
	req.Token = trimSpace(p[tokenID])
	if req.Token == "" {
		return nil, MissingParameter("The request must contain the parameter " + paramNames[tokenID])
	}
	if e := checkTokenLen(tokenID, req.Token, lim); e != nil {
		return nil, e
	}
	if req.Action == AssumeRoleWithWebIdentity {
		// MinIO reads WebIdentityAccessToken for web identity only.
		if req.AccessToken = trimSpace(p[pWebIdentityAccessToken]); req.AccessToken != "" {
			if e := checkTokenLen(pWebIdentityAccessToken, req.AccessToken, lim); e != nil {
				return nil, e
			}
		}
	}

	// DurationSeconds: absent or "0" is 0; below-minimum values are the
	// policy's to clamp or reject.
	if ds := p[pDurationSeconds]; ds != "" {
		n, ok := parseDuration(ds, lim.MaxDurationSeconds)
		if !ok {
			return nil, InvalidParameterValue("DurationSeconds must be a whole number of seconds between 0 and " + strconv.Itoa(lim.MaxDurationSeconds))
		}
		req.DurationSeconds = n
	}
	if e := parsePolicy(req, s, lim); e != nil {
		return nil, e
	}
	if v := p[pRoleArn]; v != "" {
		if !isTextParam(v, minArnChars, maxArnChars) {
			return nil, InvalidParameterValue("RoleArn must be between 20 and 2048 printable characters")
		}
		req.RoleArn = v
	}
	if v := p[pRoleSessionName]; v != "" {
		if !isSessionName(v) {
			return nil, InvalidParameterValue(`RoleSessionName must be 2 to 64 characters of [\w+=,.@-]`)
		}
		req.RoleSessionName = v
	}
	if v := p[pProviderID]; v != "" {
		if !isTextParam(v, minProviderIDChars, maxProviderIDChars) {
			return nil, InvalidParameterValue("ProviderId must be between 4 and 2048 printable characters")
		}
		req.ProviderID = v
	}
	if e := parseTokenRevokeType(req, s); e != nil {
		return nil, e
	}
	return req, nil
}

func parseTokenRevokeType(req *Request, s *sources) *Error {
	if v := s.p[pTokenRevokeType]; v != "" {
		if !isTextParam(v, 1, maxTokenRevokeTypeChars) {
			return InvalidParameterValue("TokenRevokeType must be at most 256 printable characters")
		}
		req.TokenRevokeType = v
	}
	return nil
}

// parsePolicy validates Policy and PolicyArns (both actions' rules).
func parsePolicy(req *Request, s *sources, lim Limits) *Error {
	// Policy: never echoed.
	if pol := s.p[pPolicy]; pol != "" {
		if len(pol) > lim.MaxPolicyBytes {
			return PackedPolicyTooLarge("Policy exceeds " + strconv.Itoa(lim.MaxPolicyBytes) + " bytes")
		}
		if !isJSONObject(pol) {
			return MalformedPolicyDocument("Policy is not a JSON object")
		}
		req.Policy = pol
	}
	if s.p[pPolicyArns] != "" {
		// "PolicyArns=" is how the AWS query protocol sends an empty list;
		// a value there is not a list.
		return InvalidParameterValue("Malformed PolicyArns parameter: expecting PolicyArns.member.N.arn")
	}
	arns, arnHave := &s.q.arns, s.q.arnHave
	if s.b.arnHave != 0 || s.b.has(pPolicyArns) {
		arns, arnHave = &s.b.arns, s.b.arnHave
	}
	if arnHave != 0 {
		if arnHave&(arnHave+1) != 0 {
			return InvalidParameterValue("PolicyArns members must be numbered consecutively from 1")
		}
		n := 0
		for arnHave>>n != 0 {
			n++
		}
		req.PolicyArns = make([]string, n)
		for i := range n {
			if !isTextParam(arns[i], minArnChars, maxArnChars) {
				return InvalidParameterValue("PolicyArns.member." + strconv.Itoa(i+1) + ".arn must be between 20 and 2048 printable characters")
			}
			req.PolicyArns[i] = arns[i]
		}
	}
	return nil
}

func checkTokenLen(id paramID, tok string, lim Limits) *Error {
	if len(tok) < MinTokenBytes || len(tok) > lim.MaxTokenBytes {
		return InvalidParameterValue(paramNames[id] + " must be between " + strconv.Itoa(MinTokenBytes) +
			" and " + strconv.Itoa(lim.MaxTokenBytes) + " characters long")
	}
	return nil
}

// readBody reads the body, at most limit bytes of it. A declared length over
// the limit is refused before reading, and a declared length is never read
// past. A body of unknown length (chunked) that fills the limit without
// ending is refused without reading further, so such a body of exactly limit
// bytes is refused too.
func readBody(r *http.Request, limit int64) (string, *Error) {
	if r.Body == nil || r.Body == http.NoBody {
		return "", nil
	}
	cl := r.ContentLength // a server sets -1 for unknown; a client-built request may say 0
	if cl > limit {
		return "", RequestEntityTooLarge(limit)
	}
	if cl > 0 {
		if e := checkBodyHeaders(r.Header); e != nil {
			return "", e
		}
	}
	target := int(limit)
	if cl > 0 {
		target = int(cl)
	}
	bp := readPool.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		// The buffer held the token: clear it before anyone else gets it.
		clear(buf)
		if cap(buf) <= maxPooledRead {
			*bp = buf[:0]
			readPool.Put(bp)
		}
	}()
	stalls := 0
	for {
		end := min(cap(buf), target)
		if len(buf) == end {
			if len(buf) >= target {
				if cl > 0 {
					break // the declared length is read; read no further
				}
				return "", RequestEntityTooLarge(limit)
			}
			nb := make([]byte, len(buf), min(max(2*cap(buf), 4096), target))
			copy(nb, buf)
			clear(buf)
			buf = nb
			continue
		}
		n, err := r.Body.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return "", RequestEntityTooLarge(limit)
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return "", RequestTimeout()
			}
			return "", InvalidParameterValue("The request body could not be read")
		}
		if n == 0 {
			if stalls++; stalls > 100 {
				return "", InvalidParameterValue("The request body could not be read")
			}
		}
	}
	if len(buf) == 0 {
		return "", nil
	}
	if cl <= 0 {
		if e := checkBodyHeaders(r.Header); e != nil {
			return "", e
		}
	}
	return string(buf), nil
}

// Read buffers; they hold tokens, so they are cleared before reuse.
const maxPooledRead = 32 << 10

var readPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// checkBodyHeaders accepts a non-empty body only as an unencoded form.
func checkBodyHeaders(h http.Header) *Error {
	if ce := h.Values("Content-Encoding"); len(ce) > 1 || len(ce) == 1 && ce[0] != "" && !strings.EqualFold(ce[0], "identity") {
		return InvalidParameterValue("Content-Encoding is not supported: send the form body unencoded")
	}
	if ct := h.Values("Content-Type"); len(ct) != 1 || !isFormContentType(ct[0]) {
		return InvalidParameterValue("A request body must have Content-Type application/x-www-form-urlencoded")
	}
	return nil
}

// isFormContentType accepts application/x-www-form-urlencoded in any case,
// with or without parameters (charset=utf-8 from botocore and the JS SDK).
func isFormContentType(ct string) bool {
	const form = "application/x-www-form-urlencoded"
	ct = strings.TrimLeft(ct, " \t")
	if len(ct) < len(form) || !strings.EqualFold(ct[:len(form)], form) {
		return false
	}
	rest := strings.TrimLeft(ct[len(form):], " \t")
	return rest == "" || rest[0] == ';'
}

// parseDuration accepts unsigned base-10 integers up to max.
func parseDuration(s string, max int) (int, bool) {
	if len(s) > 12 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= max
}

// isJSONObject reports whether s is valid UTF-8 JSON whose top level is an
// object. Whether it is a valid policy is the policy engine's question.
func isJSONObject(s string) bool {
	t := strings.TrimLeft(s, " \t\r\n")
	return t != "" && t[0] == '{' && utf8.ValidString(s) && json.Valid([]byte(s))
}

// isTextParam: valid UTF-8, min..max characters, no control characters.
// AWS's pattern for ARNs also admits tab, LF and CR; no real ARN has them.
func isTextParam(s string, minChars, maxChars int) bool {
	if len(s) < minChars || !utf8.ValidString(s) {
		return false
	}
	n := 0
	for _, r := range s {
		if r < 0x20 || r >= 0x7f && r < 0xa0 || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		n++
	}
	return n >= minChars && n <= maxChars
}

// isSessionName: AWS's [\w+=,.@-]{2,64}, \w being ASCII.
func isSessionName(s string) bool {
	if len(s) < minSessionNameLen || len(s) > maxSessionNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_', c == '+', c == '=', c == ',', c == '.', c == '@', c == '-':
		default:
			return false
		}
	}
	return true
}

// isActionLike: what an action name looks like (letters only), so only
// such a value is repeated in a message.
func isActionLike(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// isVersionLike: what a version looks like, so only such a value (or the
// empty string) is repeated in a message.
func isVersionLike(s string) bool {
	if len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// revealsSecret reports whether showing v could show a secret parameter:
// v contains one (of a token's minimum length), or v shares a piece long
// enough to matter with one (a few characters, such as "1", occur in any
// token). Sharing, not only containing: "SECRET0" shows most of "0SECRET".
func revealsSecret(v string, secrets []string) bool {
	for _, s := range secrets {
		if len(s) >= MinTokenBytes && strings.Contains(v, s) {
			return true
		}
		for i := 0; i+minSecretPiece <= len(v); i++ {
			if strings.Contains(s, v[i:i+minSecretPiece]) {
				return true
			}
		}
	}
	return false
}

const minSecretPiece = 8

// trimSpace trims ASCII white space (a JWT has none; token files often end
// in a newline that clients send unchanged).
func trimSpace(s string) string { return strings.Trim(s, " \t\r\n") }
