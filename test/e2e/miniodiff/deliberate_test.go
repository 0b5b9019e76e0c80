package miniodiff_test

import (
	"slices"
	"strings"
)

// The one deliberate difference between MinIO's IAM and opa-sts.
//
// MinIO substitutes a policy variable with the first value of the claim
// only (github.com/minio/pkg/v3 policy/resource.go Resource.Match and
// policy/condition/stringfunc.go substitute: `rvalues[0]`; minio#19611):
// with groups ["ops","eng"], "arn:aws:s3:::teams/${jwt:groups}/*" is
// teams/ops/* and nothing else. opa-sts expands a multi-valued claim to
// each of its values, so the member of ops and eng gets both directories.
//
// The predicate names the requests where this, and nothing else, decides:
// the identity holds team-dirs (the only policy with ${jwt:groups} as a
// variable) and its token has two or more groups, and the request is one
// team-dirs allows for a group that is not the first:
//
//   - GetObject or PutObject under teams/<g>/,
//   - ListObjects of teams with a prefix under <g>/ (the StringLike
//     s3:prefix "${jwt:groups}/*"),
//
// with g one of the token's groups after the first and not equal to it.
// Nothing else in the fixture allows or denies these requests (no other
// policy names the teams bucket, and these identities carry no session
// policy), so the predicate states both answers: MinIO-native denies
// (AccessDenied), MinIO with opa-sts allows (a GetObject of an object
// that does not exist is then NoSuchKey: MinIO asks about s3:ListBucket
// only for anonymous requests, cmd/object-handlers.go getObjectHandler).
// Any other pair of answers in these cases fails the test like any
// disagreement.
type knownDifference struct {
	applies bool
	group   string // the non-first group that opa-sts honours
	wantA   string // outcome code expected from MinIO's own IAM
	wantB   string // outcome code expected from MinIO with opa-sts
}

const deliberateKind = "multi-valued ${jwt:groups}: MinIO substitutes the first value only (minio#19611), opa-sts each value"

// existingTeamObjects are the seeded objects under teams/.
var existingTeamObjects = map[string]bool{"eng/plan.txt": true, "ops/runbook.txt": true, "sales/deal.txt": true}

func deliberate(id *identity, r request) knownDifference {
	if !id.GroupsVariable || len(id.Groups) < 2 || r.Bucket != "teams" {
		return knownDifference{}
	}
	first := id.Groups[0]
	var under string
	wantB := allowed
	switch r.Op {
	case opGetObject:
		if !existingTeamObjects[r.Key] {
			wantB = "NoSuchKey"
		}
		under = r.Key
	case opPutObject:
		under = r.Key
	case opListObjects:
		under = r.Prefix
	default:
		return knownDifference{}
	}
	g, _, ok := strings.Cut(under, "/")
	if !ok || g == first || !slices.Contains(id.Groups[1:], g) {
		return knownDifference{}
	}
	return knownDifference{applies: true, group: g, wantA: "AccessDenied", wantB: wantB}
}
