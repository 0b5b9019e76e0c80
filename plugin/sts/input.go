package sts

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/opa-sts/opa-sts/internal/audit"
	"github.com/opa-sts/opa-sts/internal/stswire"
)

// buildInput is the policy input of one STS request:
//
//	action             "AssumeRoleWithClientGrants" | "AssumeRoleWithWebIdentity"
//	token              the identity token (verify it with sts.verify_token)
//	access_token       MinIO's optional WebIdentityAccessToken
//	duration_seconds   requested lifetime; 0 = not given
//	policy             session policy JSON text ("" if none)
//	policy_document    the session policy, parsed (absent if none)
//	role_arn, role_session_name, provider_id, policy_arns, token_revoke_type
//	source_ip          the client's address
//	tls                {"version", "cipher_suite", "server_name", "client_certificate": {subject, issuer}} or absent
//	request_id         the STS request id
func buildInput(req *stswire.Request, policyDoc ast.Value, r *http.Request, requestID, clientIP string) ast.Object {
	items := [][2]*ast.Term{
		item("action", ast.StringTerm(string(req.Action))),
		item("token", ast.StringTerm(req.Token)),
		item("duration_seconds", ast.IntNumberTerm(req.DurationSeconds)),
		item("policy", ast.StringTerm(req.Policy)),
		item("role_arn", ast.StringTerm(req.RoleArn)),
		item("role_session_name", ast.StringTerm(req.RoleSessionName)),
		item("provider_id", ast.StringTerm(req.ProviderID)),
		item("token_revoke_type", ast.StringTerm(req.TokenRevokeType)),
		item("source_ip", ast.StringTerm(clientIP)),
		item("request_id", ast.StringTerm(requestID)),
	}
	if req.AccessToken != "" {
		items = append(items, item("access_token", ast.StringTerm(req.AccessToken)))
	}
	arns := make([]*ast.Term, len(req.PolicyArns))
	for i, a := range req.PolicyArns {
		arns[i] = ast.StringTerm(a)
	}
	items = append(items, item("policy_arns", ast.ArrayTerm(arns...)))
	if policyDoc != nil {
		items = append(items, item("policy_document", ast.NewTerm(policyDoc)))
	}
	if r.TLS != nil {
		items = append(items, item("tls", tlsInfo(r.TLS)))
	}
	return ast.NewObject(items...)
}

func item(k string, v *ast.Term) [2]*ast.Term { return [2]*ast.Term{ast.StringTerm(k), v} }

// sourceIP is the client's address: the connection's peer, or, when the
// peer is a trusted proxy, the right-most address of X-Forwarded-For that
// is not a trusted proxy (the addresses before it were written by the
// client and prove nothing).
func sourceIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(peer, trusted) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: trust nothing before it
		}
		client = addr.Unmap()
		if !isTrusted(client, trusted) {
			break
		}
	}
	return client.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func tlsInfo(cs *tls.ConnectionState) *ast.Term {
	items := [][2]*ast.Term{
		item("version", ast.StringTerm(tls.VersionName(cs.Version))),
		item("cipher_suite", ast.StringTerm(tls.CipherSuiteName(cs.CipherSuite))),
		item("server_name", ast.StringTerm(cs.ServerName)),
	}
	if len(cs.PeerCertificates) > 0 {
		c := cs.PeerCertificates[0]
		items = append(items, item("client_certificate", ast.ObjectTerm(
			item("subject", ast.StringTerm(c.Subject.String())),
			item("issuer", ast.StringTerm(c.Issuer.String())),
		)))
	}
	return ast.ObjectTerm(items...)
}

// maskedInput is the input as decision logs record it: tokens replaced by
// fingerprints.
func maskedInput(in ast.Object, secrets ...string) any {
	native, err := ast.JSON(in)
	if err != nil {
		return map[string]any{"error": "input not representable"}
	}
	return audit.Scrub(native, secrets...)
}
