// Package decision evaluates a policy decision for an OPA plugin: a
// prepared query over the manager's compiler and store, prepared again
// (lazily, under a lock) whenever the compiler changes, with the bundle
// revisions that were active when it was prepared.
package decision

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown/cache"
)

// Evaluator evaluates one decision. It is safe for concurrent use.
type Evaluator struct {
	manager    *plugins.Manager
	query      string
	cache      cache.InterQueryCache
	valueCache cache.InterQueryValueCache

	mu       sync.Mutex
	prepared *Prepared
}

// Prepared is the prepared query and the revisions it was prepared with.
type Prepared struct {
	pq rego.PreparedEvalQuery
	// Revision describes the active bundles (the revision itself for one
	// bundle, "name@revision,..." for several), read when the query was
	// prepared: bundle activation changes the compiler.
	Revision string
	Bundles  map[string]string
}

// New returns an evaluator of query (e.g. "data.sts.decision").
func New(ctx context.Context, m *plugins.Manager, query string) *Evaluator {
	// Inter-query caches of our own (http.send and friends in user
	// policies), sized by OPA's caching configuration.
	cfg := m.InterQueryBuiltinCacheConfig()
	e := &Evaluator{
		manager:    m,
		query:      query,
		cache:      cache.NewInterQueryCacheWithContext(ctx, cfg),
		valueCache: cache.NewInterQueryValueCache(ctx, cfg),
	}
	m.RegisterCompilerTrigger(func(storage.Transaction) { e.invalidate() })
	return e
}

func (e *Evaluator) invalidate() {
	e.mu.Lock()
	e.prepared = nil
	e.mu.Unlock()
}

func (e *Evaluator) get(ctx context.Context) (*Prepared, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.prepared != nil {
		return e.prepared, nil
	}
	pq, err := rego.New(
		rego.Query(e.query),
		rego.Compiler(e.manager.GetCompiler()),
		rego.Store(e.manager.Store),
		rego.Runtime(e.manager.Info),
		rego.EnablePrintStatements(e.manager.EnablePrintStatements()),
		rego.PrintHook(e.manager.PrintHook()),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare %s: %w", e.query, err)
	}
	p := &Prepared{pq: pq}
	p.Revision, p.Bundles = readRevisions(ctx, e.manager.Store)
	e.prepared = p
	return p, nil
}

// Current returns the prepared query of the active policy, preparing it
// if a policy or bundle change invalidated it: for callers that need the
// active bundle revisions without evaluating.
func (e *Evaluator) Current(ctx context.Context) (*Prepared, error) { return e.get(ctx) }

func readRevisions(ctx context.Context, store storage.Store) (string, map[string]string) {
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return "", nil
	}
	defer store.Abort(ctx, txn)
	names, err := bundle.ReadBundleNamesFromStore(ctx, store, txn)
	if err != nil || len(names) == 0 {
		return "", nil
	}
	sort.Strings(names)
	revs := make(map[string]string, len(names))
	parts := make([]string, 0, len(names))
	for _, n := range names {
		rev, err := bundle.ReadBundleRevisionFromStore(ctx, store, txn, n)
		if err != nil {
			continue
		}
		revs[n] = rev
		parts = append(parts, n+"@"+rev)
	}
	if len(parts) == 1 {
		return revs[names[0]], revs
	}
	return strings.Join(parts, ","), revs
}

// ErrUndefined means the decision document does not exist.
var ErrUndefined = errors.New("decision is undefined")

// Query is the query the evaluator answers.
func (e *Evaluator) Query() string { return e.query }

// Eval evaluates the decision for input. It returns the decision object
// and the prepared query (with the bundle revisions) that decided it. m,
// when not nil, collects the evaluation's metrics (for the decision log).
// ctx reaches the built-ins (rego.BuiltinContext.Context): a plugin puts
// what its own evaluations are entitled to there (internal/sessions).
func (e *Evaluator) Eval(ctx context.Context, input ast.Value, m metrics.Metrics) (map[string]any, *Prepared, error) {
	p, err := e.get(ctx)
	if err != nil {
		return nil, nil, err
	}
	store := e.manager.Store
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, p, fmt.Errorf("open transaction: %w", err)
	}
	defer store.Abort(ctx, txn)
	opts := []rego.EvalOption{
		rego.EvalTransaction(txn),
		rego.EvalParsedInput(input),
		rego.EvalInterQueryBuiltinCache(e.cache),
		rego.EvalInterQueryBuiltinValueCache(e.valueCache),
	}
	if m != nil {
		opts = append(opts, rego.EvalMetrics(m))
	}
	rs, err := p.pq.Eval(ctx, opts...)
	if err != nil {
		return nil, p, fmt.Errorf("evaluate %s: %w", e.query, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, p, ErrUndefined
	}
	d, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return nil, p, fmt.Errorf("%s is not an object", e.query)
	}
	return d, p, nil
}
