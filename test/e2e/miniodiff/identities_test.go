package miniodiff_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// identity is one caller, with its credentials on each server (sessions
// are minted by each server for itself, over its transport).
type identity struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	About string `json:"about,omitempty"`
	// Groups are the groups claim of an OpenID identity's token, in order
	// (MinIO substitutes only the first for ${jwt:groups}).
	Groups []string `json:"groups,omitempty"`
	// GroupsVariable: the identity holds the policy that uses ${jwt:groups}
	// as a variable.
	GroupsVariable bool `json:"groups_variable,omitempty"`

	// docs are the policies that may apply to it (its own, its groups',
	// its parent's, its session policy), for sampling only.
	docs []string
	// homes are the bucket/prefix namespaces named after it (where its
	// policy variables lead): every request there is in the CI sample.
	homes []string

	// minted: each server issued its own credentials (an STS session, a
	// service account a session created): they may refuse.
	minted bool
	// creds are its credentials on each of env.servers() (A, B, A', B').
	creds [4]miniocreds.Value
	// refused is the error of the STS call on each server ("" when it
	// issued credentials).
	refused [4]string
}

func (id *identity) String() string {
	s := id.Kind + " " + id.Name
	if id.About != "" {
		s += " (" + id.About + ")"
	}
	return s
}

func static(ak, sk string) [4]miniocreds.Value {
	v := miniocreds.Value{AccessKeyID: ak, SecretAccessKey: sk}
	return [4]miniocreds.Value{v, v, v, v}
}

// identities builds every caller: MinIO's users and service accounts as
// they are, and STS sessions (AssumeRole of a MinIO user, web identity and
// client grants of the OpenID provider's tokens, the role provider's
// tokens) minted on each server.
func (e *env) identities(t *testing.T) []*identity {
	t.Helper()
	var ids []*identity
	for _, u := range minioUsers {
		about := ""
		switch {
		case u.disabled:
			about = "disabled user"
		case len(groupsOf(u.name)) > 0:
			about = "groups " + strings.Join(groupsOf(u.name), ",")
		}
		ids = append(ids, &identity{Name: u.name, Kind: "user", About: about, creds: static(u.name, u.secret), docs: userDocs(u.name),
			homes: []string{"data/home/" + u.name + "/"}})
	}
	for _, sa := range serviceAccounts {
		about := "of " + sa.parent
		if sa.policy != "" {
			about += ", embedded policy"
		}
		docs := append(userDocs(sa.parent), sa.policy)
		ids = append(ids, &identity{Name: sa.accessKey, Kind: "service-account", About: about, creds: static(sa.accessKey, sa.secret), docs: docs,
			homes: []string{"data/home/" + sa.parent + "/", "data/home/" + sa.accessKey + "/"}})
	}
	servers := e.servers()

	// AssumeRole of MinIO's own users, with and without a session policy
	// (frank's sessions hold vault-secure, with its aws:SecureTransport
	// conditions).
	for _, ar := range []struct {
		user, policy string
	}{{"alice", ""}, {"bob", bobSessionPolicy}, {"frank", ""}} {
		id := &identity{Name: ar.user, Kind: "assume-role", minted: true, docs: append(userDocs(ar.user), ar.policy),
			homes: []string{"data/home/" + ar.user + "/"}}
		if ar.policy != "" {
			id.Name += "+session-policy"
			id.About = "session policy"
		}
		secret := userSecret(ar.user)
		for i, s := range servers {
			c, err := miniocreds.NewSTSAssumeRole(s.URL, miniocreds.STSAssumeRoleOptions{AccessKey: ar.user, SecretKey: secret, Policy: ar.policy})
			if err != nil {
				t.Fatal(err)
			}
			id.creds[i], id.refused[i] = e.retrieve(c)
		}
		ids = append(ids, id)
	}

	// The OpenID provider's tokens: one per client, the same token sent to
	// both servers.
	for _, c := range oidcClients {
		token := e.oidc.Token(t, c.id, oidcSecret, "", nil)
		groups, _ := c.claims["groups"].([]string)
		pols := claimPolicies(c.claims[policyClaim])
		if c.role {
			pols = claimPolicies(rolePolicy)
		}
		sub, _ := c.claims["sub"].(string)
		base := identity{minted: true, Groups: groups, About: c.expected, GroupsVariable: slices.Contains(pols, groupsVariablePolicy), docs: docsOf(pols...),
			homes: []string{"data/oidc/" + sub + "/", "data/home/" + sub + "/", "data/home/" + openIDParent(sub, e.oidc.Issuer()) + "/", "shared/uploads/" + sub + "/"}}
		for _, g := range groups {
			base.homes = append(base.homes, "teams/"+g+"/")
		}
		web := func(name string, opts ...func(*miniocreds.STSWebIdentity)) *identity {
			id := base
			id.Name, id.Kind = name, "web-identity"
			for i, s := range servers {
				cr, err := miniocreds.NewSTSWebIdentity(s.URL, func() (*miniocreds.WebIdentityToken, error) {
					return &miniocreds.WebIdentityToken{Token: token, Expiry: 3600}, nil
				}, opts...)
				if err != nil {
					t.Fatal(err)
				}
				id.creds[i], id.refused[i] = e.retrieve(cr)
			}
			return &id
		}
		if c.role {
			id := web(c.id, func(w *miniocreds.STSWebIdentity) { w.RoleARN = roleARN(roleClientID) })
			id.Kind = "web-identity-role"
			ids = append(ids, id)
			continue
		}
		sess := web(c.id)
		ids = append(ids, sess)
		if c.session != "" {
			id := web(c.id+"+session-policy", miniocreds.WithPolicy(c.session))
			id.About = "session policy"
			id.docs = append(slices.Clone(id.docs), c.session)
			ids = append(ids, id)
		}
		if c.grants {
			id := base
			id.Name, id.Kind = c.id, "client-grants"
			for i, s := range servers {
				cr, err := miniocreds.NewSTSClientGrants(s.URL, func() (*miniocreds.ClientGrantsToken, error) {
					return &miniocreds.ClientGrantsToken{Token: token, Expiry: 3600}, nil
				})
				if err != nil {
					t.Fatal(err)
				}
				id.creds[i], id.refused[i] = e.retrieve(cr)
			}
			ids = append(ids, &id)
		}
		if c.svcOf {
			ids = append(ids, e.sessionServiceAccount(t, sess))
		}
	}
	return ids
}

// sessionServiceAccount is a service account an OpenID session creates for
// itself (same access key on both servers): MinIO copies the session's
// claims into it.
func (e *env) sessionServiceAccount(t *testing.T, sess *identity) *identity {
	t.Helper()
	ak, sk := "svc-oidc-"+sess.Name, "svc-oidc-"+sess.Name+"-secret-0123456789"
	e.secrets = append(e.secrets, sk)
	id := &identity{Name: ak, Kind: "service-account", minted: true, About: "of the web-identity session of " + sess.Name,
		Groups: sess.Groups, GroupsVariable: sess.GroupsVariable, creds: static(ak, sk), docs: sess.docs, homes: sess.homes}
	for i, s := range e.servers() {
		if sess.refused[i] != "" {
			id.refused[i] = "its session was refused"
			continue
		}
		v := sess.creds[i]
		scheme, _, _ := strings.Cut(s.URL, "://")
		alias := map[string]string{"S": scheme + "://" + v.AccessKeyID + ":" + v.SecretAccessKey + ":" + v.SessionToken + "@" + s.Addr}
		if out, err := mcRun(t, e.dir, alias, "admin", "user", "svcacct", "add", "S", v.AccessKeyID, "--access-key", ak, "--secret-key", sk); err != nil {
			id.refused[i] = fmt.Sprintf("mc admin user svcacct add: %v: %s", err, strings.TrimSpace(out))
		}
	}
	return id
}

// retrieve makes the STS call of c (with the client that trusts A' and
// B').
func (e *env) retrieve(c *miniocreds.Credentials) (miniocreds.Value, string) {
	v, err := c.GetWithContext(&miniocreds.CredContext{Client: e.client})
	if err != nil {
		return v, err.Error()
	}
	return v, ""
}

func userSecret(name string) string {
	for _, u := range minioUsers {
		if u.name == name {
			return u.secret
		}
	}
	panic("no user " + name)
}

func docsOf(names ...string) []string {
	var out []string
	for _, n := range names {
		if d, ok := cannedPolicies[n]; ok {
			out = append(out, d)
		}
	}
	return out
}

// userDocs are a MinIO user's own policies and its groups'.
func userDocs(user string) []string {
	var names []string
	for _, u := range minioUsers {
		if u.name == user {
			names = append(names, u.policies...)
		}
	}
	for _, g := range minioGroups {
		if slices.Contains(g.members, user) {
			names = append(names, g.policies...)
		}
	}
	return docsOf(names...)
}

// relevant: one of the policies that may apply to id names r's bucket
// (sampling weight only: every request is compared the same way).
func (id *identity) relevant(r request) bool {
	if r.Bucket == "" {
		return true
	}
	for _, d := range id.docs {
		if strings.Contains(d, "NotResource") || strings.Contains(d, `"arn:aws:s3:::*"`) ||
			strings.Contains(d, "arn:aws:s3:::"+r.Bucket+`"`) || strings.Contains(d, "arn:aws:s3:::"+r.Bucket+"/") {
			return true
		}
	}
	return false
}

// secureTransport: a policy that may apply to id has an
// aws:SecureTransport condition and names r's bucket.
func (id *identity) secureTransport(r request) bool {
	if r.Bucket == "" {
		return false
	}
	for _, d := range id.docs {
		if strings.Contains(d, "aws:SecureTransport") &&
			(strings.Contains(d, "arn:aws:s3:::"+r.Bucket+`"`) || strings.Contains(d, "arn:aws:s3:::"+r.Bucket+"/")) {
			return true
		}
	}
	return false
}

// atHome: r is in one of id's namespaces.
func (id *identity) atHome(r request) bool {
	if r.Bucket == "" {
		return false
	}
	p := r.Bucket + "/" + r.Key
	if r.Op == opListObjects {
		p = r.Bucket + "/" + r.Prefix
	}
	for _, h := range id.homes {
		if strings.HasPrefix(p, h) {
			return true
		}
	}
	return false
}

func groupsOf(user string) []string {
	var out []string
	for _, g := range minioGroups {
		if slices.Contains(g.members, user) {
			name := g.name
			if g.disabled {
				name += " (disabled)"
			}
			out = append(out, name)
		}
	}
	return out
}

// claimPolicies reads a policy claim as MinIO does: a comma-separated
// string or an array of them.
func claimPolicies(v any) []string {
	var parts []string
	switch x := v.(type) {
	case string:
		parts = strings.Split(x, ",")
	case []string:
		for _, s := range x {
			parts = append(parts, strings.Split(s, ",")...)
		}
	}
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
