// Package web is OpenCarbon's HTTP edge: the JSON API (v1), the OpenAPI
// document, operations endpoints and the server-rendered UI.
//
// It decodes and authenticates requests, calls the domain services and maps
// their *opencarbon.Error codes to HTTP statuses in one table (errors.go).
// It holds no business rules and no SQL: those live in the domain packages,
// which must never import web.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/campaign"
	"github.com/opencarbon/opencarbon/honor"
	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/reward"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

// Server is the HTTP server. Fill the exported fields, then call Handler.
// Each domain service is optional: routes whose service is nil answer 503.
type Server struct {
	DB         *store.DB
	Logger     *slog.Logger
	AdminToken string // Bearer token for /v1/admin/*; empty disables admin calls
	Demo       bool   // demo mode: the UI offers sign-in as the demo people
	// PublicURL is the base URL people and verifiers reach this deployment
	// at (e.g. https://carbon.example.org); it names the issuer of medal
	// credentials. Empty: taken from each request, for local use.
	PublicURL string

	// PersonTokenKey verifies HS256 person tokens (Authorization: Bearer).
	PersonTokenKey []byte
	// Partners verifies signed partner requests.
	Partners PartnerAuth

	// Domain services (set by cmd/opencarbon). Keep one line each.
	// -- services --
	Campaigns *campaign.Service // campaigns, opt-in and leaderboards
	Honor     *honor.Service    // Carbon Bao, medals and their credentials

	Rewards  *reward.Service    // offers, redemptions, donations and vouchers
	Webhooks *webhook.Deliverer // webhook deliveries (admin: dead letters, retry)

	Ledger *ledger.Service // balances and expiring points for the UI
	ui     *uiRuntime      // web UI templates, catalogs and session key (ui.go)

	PartnerRegistry *partner.Service // admin calls on partners (registration, rotation)
	Accounts        *account.Service // 1+N accounts and consent
	Intake          *intake.Service  // event intake, reversal, calcs, footprint and entries
	// Methodologies is the methodology registry and review workflow.
	Methodologies *methodology.Service
	// AccountExtras add keys (balances, level, medals, expiries) to
	// GET /v1/me/account; each returns its key and value for the account.
	AccountExtras []func(ctx context.Context, accountID int64) (key string, val any, err error)

	mux     *http.ServeMux
	metrics *metrics

	// sessionPerson, set by the UI, reads the person of a session cookie.
	sessionPerson func(*http.Request) (string, bool)
}

// Handler builds the routes and returns the root handler.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.mux = http.NewServeMux()
	s.metrics = newMetrics(prometheus.NewRegistry())
	if s.Intake != nil {
		s.metrics.reg.MustRegister(intakeMetrics(s.Intake)...)
	}
	s.routes()
	return s.observe(s.mux)
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /openapi.json", s.handleOpenAPI)
	// Each feature registers its own routes in its own file.
	s.registerPartnerRoutes()
	s.registerAccountRoutes()
	s.registerMethodologyRoutes()
	s.registerEventRoutes()
	s.registerRewardRoutes()
	s.registerCampaignRoutes()
	s.registerUIRoutes()
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if s.DB == nil {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	if err := s.DB.Ping(ctx); err != nil {
		s.Logger.Warn("readyz: database does not answer", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
