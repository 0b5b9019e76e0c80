package minioidentity

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opa-sts/opa-sts/internal/promutil"
)

// Results of an identity call, the one label of the metrics.
const (
	resultAllowed      = "allowed"      // 200: the token's bearer is a user
	resultDenied       = "denied"       // 403: the decision refused the token
	resultUnauthorized = "unauthorized" // 401: not MinIO (wrong or missing Authorization)
	resultBadRequest   = "bad_request"  // 400/404/405: not MinIO's request shape
	resultBusy         = "busy"         // 503: max_concurrent_requests reached
	resultError        = "error"        // 500: the decision failed or was malformed
)

// metrics never carry tokens: the only label is the result.
type metrics struct {
	answers            *prometheus.CounterVec
	duration           *prometheus.HistogramVec
	connectionsRefused prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opa_sts_minio_identity_requests_total",
			Help: "Calls of MinIO's identity plugin (AssumeRoleWithCustomToken), by result: allowed, denied, unauthorized, bad_request, busy, error.",
		}, []string{"result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "opa_sts_minio_identity_duration_seconds",
			Help:    "Latency of MinIO identity plugin calls, by result.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"result"}),
		connectionsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "opa_sts_minio_identity_connections_refused_total",
			Help: "Connections to the identity plugin's listener answered 503 and closed because max_connections were open.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.answers = promutil.Register(reg, m.answers, &err)
	m.duration = promutil.Register(reg, m.duration, &err)
	m.connectionsRefused = promutil.Register(reg, m.connectionsRefused, &err)
	return m, err
}
