package web

import (
	"net/http"
	"strconv"

	oc "github.com/opencarbon/opencarbon"
)

// registerWebhookRoutes registers the operator's view of webhook delivery:
// dead letters and retry (see docs/webhooks.md).
func (s *Server) registerWebhookRoutes() {
	s.mux.HandleFunc("GET /v1/admin/webhooks/dead-letters", s.admin(s.handleDeadLetters))
	s.mux.HandleFunc("POST /v1/admin/webhooks/deliveries/{id}/retry", s.admin(s.handleRetryDelivery))
}

func (s *Server) handleDeadLetters(w http.ResponseWriter, r *http.Request) {
	if s.Webhooks == nil {
		serviceMissing(w, "webhook delivery")
		return
	}
	q := r.URL.Query()
	var before int64
	limit := 100
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			writeError(w, r, oc.Errorf(oc.EInvalid, "before must be a delivery id"))
			return
		}
		before = n
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, r, oc.Errorf(oc.EInvalid, "limit must be 1 to 1000"))
			return
		}
		limit = n
	}
	dead, err := s.Webhooks.DeadLetters(r.Context(), before, limit)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := map[string]any{"deliveries": dead}
	if len(dead) == limit {
		out["next"] = strconv.FormatInt(dead[len(dead)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleRetryDelivery(w http.ResponseWriter, r *http.Request) {
	if s.Webhooks == nil {
		serviceMissing(w, "webhook delivery")
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, r, oc.Errorf(oc.ENotFound, "no delivery %q", r.PathValue("id")))
		return
	}
	d, err := s.Webhooks.Retry(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}
