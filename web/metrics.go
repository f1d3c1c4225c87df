package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/opencarbon/opencarbon/intake"
)

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opencarbon_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "opencarbon_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// intakeMetrics exports the intake's counters: the rate of events over the
// rate of batches is the group commit's size, and a writer busy close to one
// second a second per shard is a saturated intake.
func intakeMetrics(svc *intake.Service) []prometheus.Collector {
	counter := func(name, help string, v func(intake.Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "opencarbon_intake_" + name, Help: help},
			func() float64 { return v(svc.Stats()) })
	}
	return []prometheus.Collector{
		counter("batches_total", "Group commits written by the intake's shard writers.", func(s intake.Stats) float64 { return float64(s.Batches) }),
		counter("batch_events_total", "Events in those group commits.", func(s intake.Stats) float64 { return float64(s.Events) }),
		counter("writer_busy_seconds_total", "Wall time the shard writers spent writing, summed over shards.", func(s intake.Stats) float64 { return s.WriterBusy.Seconds() }),
		counter("durable_wait_seconds_total", "Time committed batches waited for their fsync before they were answered (SQLite).", func(s intake.Stats) float64 { return s.DurableWait.Seconds() }),
		counter("fallbacks_total", "Group commits redone event by event in savepoints.", func(s intake.Stats) float64 { return float64(s.Fallbacks) }),
	}
}

// Register adds extra collectors (domain counters) to the /metrics registry;
// it must be called after Handler.
func (s *Server) Register(c ...prometheus.Collector) { s.metrics.reg.MustRegister(c...) }

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe records request count and latency by matched route pattern (not
// by raw path, so ids do not explode the label space) and recovers panics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				s.Logger.Error("panic", "route", r.Pattern, "panic", p)
				if sw.code == 0 {
					writeError(sw, r, nil)
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			s.metrics.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
			s.metrics.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}
