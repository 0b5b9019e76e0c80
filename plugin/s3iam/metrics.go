package s3iam

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opa-sts/opa-sts/internal/promutil"
)

// metrics are the plugin's Prometheus metrics. Labels are bounded sets (the
// protocol's endpoints, its error codes, the three decisions): never an
// access key, a session or a resource.
type metrics struct {
	requests  *prometheus.CounterVec   // endpoint, outcome
	decisions *prometheus.CounterVec   // decision
	duration  *prometheus.HistogramVec // endpoint
	// connectionsRefused counts connections closed at once over
	// limits.max_connections.
	connectionsRefused prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opa_sts_s3iam_requests_total",
			Help: "versitygw IAM protocol requests, by endpoint and outcome (ok, or the protocol error code).",
		}, []string{"endpoint", "outcome"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opa_sts_s3iam_decisions_total",
			Help: "evaluate-policy answers, one per action and resource: allow, deny or no_match.",
		}, []string{"decision"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "opa_sts_s3iam_request_duration_seconds",
			Help:    "versitygw IAM protocol request latency inside opa-sts, by endpoint.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"endpoint"}),
		connectionsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "opa_sts_s3iam_connections_refused_total",
			Help: "Connections to the versitygw IAM listener closed at once because limits.max_connections were open.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.requests = promutil.Register(reg, m.requests, &err)
	m.decisions = promutil.Register(reg, m.decisions, &err)
	m.duration = promutil.Register(reg, m.duration, &err)
	m.connectionsRefused = promutil.Register(reg, m.connectionsRefused, &err)
	return m, err
}

// endpoints are the endpoint label's values; any other path is "other".
var endpoints = map[string]string{
	"/private/version":            "version",
	"/private/derive-signing-key": "derive-signing-key",
	"/private/evaluate-policy":    "evaluate-policy",
	"/private/resolve-identity":   "resolve-identity",
	"/private/resolve-principals": "resolve-principals",
}

func endpointLabel(path string) string {
	if e, ok := endpoints[path]; ok {
		return e
	}
	return "other"
}

// observe records one request; m may be nil (tests without a manager).
func (m *metrics) observe(endpoint string, aerr *apiError, start time.Time) {
	if m == nil {
		return
	}
	outcome := "ok"
	if aerr != nil {
		outcome = aerr.Code
	}
	m.requests.WithLabelValues(endpoint, outcome).Inc()
	m.duration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
}

// decided counts the answers of one evaluate-policy matrix.
func (m *metrics) decided(decisions [][]string) {
	if m == nil {
		return
	}
	for _, row := range decisions {
		for _, d := range row {
			m.decisions.WithLabelValues(d).Inc()
		}
	}
}
