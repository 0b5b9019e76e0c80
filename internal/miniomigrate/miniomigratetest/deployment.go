// Package miniomigratetest generates a MinIO deployment of realistic size
// for the tests and benchmarks of the migration (internal/miniomigrate)
// and of the MinIO contract on migrated data (policies): 100 canned
// policies of five kinds and 1,000 mappings (700 users with 1 to 3
// policies, 50 MinIO groups of 10 members with 1 or 2 policies, 200 LDAP
// users and 50 LDAP groups with 1 or 2 policies), 100 service accounts,
// and one claim-based OpenID provider.
package miniomigratetest

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/opa-sts/opa-sts/internal/miniomigrate"
)

// The sizes of the deployment, and its OpenID provider.
const (
	Policies   = 100
	Users      = 700
	Groups     = 50
	LDAPUsers  = 200
	LDAPGroups = 50
	Issuer     = "https://idp.example.com/realms/storage"
	ConfigURL  = Issuer + "/.well-known/openid-configuration"
	ClientID   = "minio"
)

// Provider is the deployment's claim-based identity_openid (policy claim
// "policy").
func Provider() miniomigrate.Provider {
	return miniomigrate.Provider{ConfigURL: ConfigURL, ClientID: ClientID, ClaimName: "policy", Enabled: true}
}

type obj = map[string]any

func strs(s ...string) []string { return s }

// Policy is canned policy i: five kinds in turn (a home prefix per
// MinIO user, a home prefix per token subject from an allowed network, a
// team bucket with bucket actions on "bucket/*", read-only datasets with
// a network Deny, operators' admin actions), each with 0 to 3 project
// buckets more.
func Policy(i int) json.RawMessage {
	arn := func(format string) string { return "arn:aws:s3:::" + fmt.Sprintf(format, i) }
	ip := obj{"IpAddress": obj{"aws:SourceIp": strs("10.0.0.0/8", "192.168.0.0/16")}}
	var st []any
	switch i % 5 {
	case 0, 1:
		v := "${aws:username}"
		if i%5 == 1 {
			v = "${jwt:sub}"
		}
		home := obj{"Sid": "Home", "Effect": "Allow", "Action": strs("s3:GetObject", "s3:PutObject", "s3:DeleteObject"),
			"Resource": strs(arn("home-%03d/") + v + "/*")}
		if i%5 == 1 {
			home["Condition"] = ip
		}
		st = append(st, home,
			obj{"Effect": "Allow", "Action": strs("s3:ListBucket"), "Resource": strs(arn("home-%03d")),
				"Condition": obj{"StringLike": obj{"s3:prefix": strs(v+"/*", v)}}},
			obj{"Effect": "Allow", "Action": strs("s3:GetBucketLocation", "s3:ListAllMyBuckets"), "Resource": strs("arn:aws:s3:::*")},
			obj{"Effect": "Deny", "Action": strs("s3:DeleteObject", "s3:PutObject"), "Resource": strs(arn("home-%03d/*/locked/*"))})
	case 2:
		st = append(st,
			obj{"Effect": "Allow", "Action": strs("s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"), "Resource": strs(arn("team-%03d/*"))},
			obj{"Effect": "Allow", "Action": strs("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"), "Resource": strs(arn("team-%03d/*")), "Condition": ip},
			obj{"Effect": "Deny", "Action": strs("s3:DeleteBucket", "s3:PutBucketPolicy"), "Resource": strs("arn:aws:s3:::*")})
	case 3:
		st = append(st,
			obj{"Effect": "Allow", "Action": strs("s3:GetObjectVersion", "s3:GetObjectTagging"), "Resource": strs(arn("data-%03d/*"), arn("shared/%03d/*"))},
			obj{"Effect": "Allow", "Action": strs("s3:ListBucket"), "Resource": strs(arn("data-%03d")),
				"Condition": obj{"StringLike": obj{"s3:prefix": strs("public/*", "reports/*")}}},
			obj{"Effect": "Deny", "Action": strs("s3:*"), "Resource": strs(arn("data-%03d/*")),
				"Condition": obj{"NotIpAddress": obj{"aws:SourceIp": strs("10.0.0.0/8")}}})
	case 4:
		st = append(st,
			obj{"Effect": "Allow", "Action": strs("admin:ServerInfo", "admin:ConsoleLog", "admin:Prometheus", "admin:ServerTrace"), "Resource": strs("arn:aws:s3:::*")},
			obj{"Effect": "Allow", "Action": strs("s3:GetObject", "s3:ListBucket"), "Resource": strs(arn("logs-%03d"), arn("logs-%03d/*"))},
			obj{"Effect": "Deny", "Action": strs("admin:ServerUpdate", "admin:ConfigUpdate"), "Resource": strs(arn("logs-%03d"))})
		if i%10 == 9 {
			st = append(st, obj{"Effect": "Allow", "Action": strs("admin:ListUsers", "admin:ListGroups"), "Resource": strs(arn("logs-%03d"))})
		}
	}
	for j := range i % 4 {
		st = append(st, obj{"Effect": "Allow", "Action": strs("s3:GetObject", "s3:ListBucket"),
			"Resource": strs(arn("proj-%03d-") + fmt.Sprintf("%d/*", j))})
	}
	b, err := json.Marshal(obj{"Version": "2012-10-17", "Statement": st})
	if err != nil {
		panic(err)
	}
	return b
}

// PolicyName names canned policy i (modulo Policies).
func PolicyName(i int) string { return fmt.Sprintf("pol-%03d", i%Policies) }

// PolicyList is n policies from a, 31 apart, sorted as MinIO lists them.
func PolicyList(a, n int) []string {
	var out []string
	for k := range n {
		out = append(out, PolicyName(a+31*k))
	}
	sort.Strings(out)
	return out
}

// IAM is the generated deployment as ReadIAMExport reads it.
func IAM() *miniomigrate.IAM {
	iam := &miniomigrate.IAM{Policies: map[string]json.RawMessage{}, Users: map[string]bool{}, Groups: map[string]miniomigrate.Group{},
		UserPolicies: map[string][]string{}, GroupPolicies: map[string][]string{}, STSUserPolicies: map[string][]string{},
		ServiceAccounts: map[string]miniomigrate.ServiceAccount{}}
	for i := range Policies {
		iam.Policies[PolicyName(i)] = Policy(i)
	}
	for u := range Users {
		name := fmt.Sprintf("user-%03d", u)
		iam.Users[name] = true
		iam.UserPolicies[name] = PolicyList(7*u, 1+u%3)
	}
	for g := range Groups {
		name := fmt.Sprintf("group-%02d", g)
		var members []string
		for k := range 10 {
			members = append(members, fmt.Sprintf("user-%03d", 14*g+k))
		}
		iam.Groups[name] = miniomigrate.Group{Members: members, Enabled: true}
		iam.GroupPolicies[name] = PolicyList(3*g+5, 1+g%2)
	}
	for u := range LDAPUsers {
		iam.STSUserPolicies[fmt.Sprintf("uid=ldap-%03d,ou=people,dc=example,dc=com", u)] = PolicyList(11*u+2, 1+u%2)
	}
	for g := range LDAPGroups {
		iam.GroupPolicies[fmt.Sprintf("cn=ldap-group-%02d,ou=groups,dc=example,dc=com", g)] = PolicyList(13*g+4, 1+g%2)
	}
	for s := range 100 {
		iam.ServiceAccounts[fmt.Sprintf("svc-%03d", s)] = miniomigrate.ServiceAccount{Parent: fmt.Sprintf("user-%03d", 7*s)}
	}
	return iam
}
