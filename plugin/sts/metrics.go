package sts

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opa-sts/opa-sts/internal/promutil"
)

// metrics are the plugin's Prometheus metrics. Values never carry tokens
// or secrets: labels are the STS action and the error code only.
type metrics struct {
	issued   *prometheus.CounterVec   // action
	denied   *prometheus.CounterVec   // action, code
	duration *prometheus.HistogramVec // action, outcome
	// connectionsRefused counts connections closed at once over max_connections.
	connectionsRefused prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opa_sts_credentials_issued_total",
			Help: "Temporary credentials issued, by STS action.",
		}, []string{"action"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opa_sts_requests_denied_total",
			Help: "STS requests answered with an error, by STS action and error code.",
		}, []string{"action", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "opa_sts_request_duration_seconds",
			Help:    "STS request latency, by STS action and outcome (issued or error).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"action", "outcome"}),
		connectionsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "opa_sts_connections_refused_total",
			Help: "Connections to the STS listener answered 503 and closed because max_connections were open.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.issued = promutil.Register(reg, m.issued, &err)
	m.denied = promutil.Register(reg, m.denied, &err)
	m.duration = promutil.Register(reg, m.duration, &err)
	m.connectionsRefused = promutil.Register(reg, m.connectionsRefused, &err)
	return m, err
}
