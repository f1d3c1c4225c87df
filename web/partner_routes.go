package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/partner"
)

// registerPartnerRoutes registers the admin routes of the partner registry.
func (s *Server) registerPartnerRoutes() {
	s.mux.HandleFunc("POST /v1/admin/partners", s.admin(s.handleRegisterPartner))
	s.mux.HandleFunc("GET /v1/admin/partners", s.admin(s.handleListPartners))
	s.mux.HandleFunc("GET /v1/admin/partners/{id}", s.admin(s.handleGetPartner))
	s.mux.HandleFunc("PATCH /v1/admin/partners/{id}", s.admin(s.handleUpdatePartner))
	s.mux.HandleFunc("POST /v1/admin/partners/{id}/secrets", s.admin(s.handleRotatePartnerSecret))
	s.mux.HandleFunc("POST /v1/admin/partners/{id}/suspend", s.admin(s.handleSuspendPartner))
	s.mux.HandleFunc("POST /v1/admin/partners/{id}/reinstate", s.admin(s.handleReinstatePartner))
	s.mux.HandleFunc("PUT /v1/admin/partners/{id}/scopes", s.admin(s.handleSetPartnerScopes))
	s.mux.HandleFunc("GET /v1/admin/partners/{id}/changes", s.admin(s.handlePartnerChanges))
}

// serviceMissing answers 503 for a route whose service is not wired.
func serviceMissing(w http.ResponseWriter, what string) {
	var body ErrorBody
	body.Error.Code = "unavailable"
	body.Error.Message = what + " is not configured on this server"
	writeJSON(w, http.StatusServiceUnavailable, body)
}

type registerPartnerRequest struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Scopes     []string `json:"scopes"`
	WebhookURL string   `json:"webhook_url"`
}

type registeredPartner struct {
	*partner.Partner
	Secret string `json:"secret"`
}

func (s *Server) handleRegisterPartner(w http.ResponseWriter, r *http.Request) {
	if s.PartnerRegistry == nil {
		serviceMissing(w, "the partner registry")
		return
	}
	var req registerPartnerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	secret, err := s.PartnerRegistry.Register(r.Context(), partner.Registration{ID: req.ID, Name: req.Name, Scopes: req.Scopes, WebhookURL: req.WebhookURL})
	if err != nil {
		writeError(w, r, err)
		return
	}
	p, err := s.PartnerRegistry.Get(r.Context(), req.ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, registeredPartner{Partner: p, Secret: secret})
}

func (s *Server) handleListPartners(w http.ResponseWriter, r *http.Request) {
	if s.PartnerRegistry == nil {
		serviceMissing(w, "the partner registry")
		return
	}
	list, err := s.PartnerRegistry.List(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"partners": list})
}

func (s *Server) handleGetPartner(w http.ResponseWriter, r *http.Request) {
	if s.PartnerRegistry == nil {
		serviceMissing(w, "the partner registry")
		return
	}
	p, err := s.PartnerRegistry.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// updatePartnerRequest changes a partner; absent fields stay as they are.
type updatePartnerRequest struct {
	WebhookURL *string `json:"webhook_url"`
}

func (s *Server) handleUpdatePartner(w http.ResponseWriter, r *http.Request) {
	if s.PartnerRegistry == nil {
		serviceMissing(w, "the partner registry")
		return
	}
	var req updatePartnerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if req.WebhookURL != nil {
		if err := s.PartnerRegistry.SetWebhookURL(r.Context(), id, *req.WebhookURL); err != nil {
			writeError(w, r, err)
			return
		}
	}
	p, err := s.PartnerRegistry.Get(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// rotateRequest is the optional body of a rotation; without it the old
// secret keeps working for partner.DefaultOverlap.
type rotateRequest struct {
	OverlapSeconds *int64 `json:"overlap_seconds"`
}

type rotatedSecret struct {
	ID                 string    `json:"id"`
	Secret             string    `json:"secret"`
	PreviousValidUntil time.Time `json:"previous_valid_until"`
}

func (s *Server) handleRotatePartnerSecret(w http.ResponseWriter, r *http.Request) {
	if s.PartnerRegistry == nil {
		serviceMissing(w, "the partner registry")
		return
	}
	b, err := readBody(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	overlap := partner.DefaultOverlap
	if strings.TrimSpace(string(b)) != "" {
		var req rotateRequest
		if err := decodeStrict(b, &req); err != nil {
			writeError(w, r, err)
			return
		}
		if req.OverlapSeconds != nil {
			if *req.OverlapSeconds < 0 || *req.OverlapSeconds > int64(partner.MaxOverlap/time.Second) {
				writeError(w, r, oc.Errorf(oc.EInvalid, "overlap_seconds must be between 0 and %d", int64(partner.MaxOverlap/time.Second)))
				return
			}
			overlap = time.Duration(*req.OverlapSeconds) * time.Second
		}
	}
	id := r.PathValue("id")
	secret, until, err := s.PartnerRegistry.Rotate(r.Context(), id, overlap)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, rotatedSecret{ID: id, Secret: secret, PreviousValidUntil: until})
}

// apiActor is who an admin API change is recorded as: the optional "by"
// of the request (the operator's name; the admin token itself names
// nobody), else "admin-api".
func apiActor(by string) string {
	if by == "" {
		return "admin-api"
	}
	return by
}

// statusRequest is the body of a suspension (reason required) or of a
// reinstatement (body and reason optional).
type statusRequest struct {
	Reason string `json:"reason"`
	By     string `json:"by"`
}

func (s *Server) handleSuspendPartner(w http.ResponseWriter, r *http.Request) {
	s.changePartnerStatus(w, r, s.PartnerRegistry.Suspend, true)
}

func (s *Server) handleReinstatePartner(w http.ResponseWriter, r *http.Request) {
	s.changePartnerStatus(w, r, s.PartnerRegistry.Reinstate, false)
}

func (s *Server) changePartnerStatus(w http.ResponseWriter, r *http.Request, change func(ctx context.Context, id, reason, actor string) (*partner.Partner, error), needBody bool) {
	if s.PartnerRegistry == nil {
		serviceMissing(w, "the partner registry")
		return
	}
	b, err := readBody(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req statusRequest
	if needBody || strings.TrimSpace(string(b)) != "" {
		if err := decodeStrict(b, &req); err != nil {
			writeError(w, r, err)
			return
		}
	}
	p, err := change(r.Context(), r.PathValue("id"), req.Reason, apiActor(req.By))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

type scopesRequest struct {
	Scopes []string `json:"scopes"`
	By     string   `json:"by"`
}

func (s *Server) handleSetPartnerScopes(w http.ResponseWriter, r *http.Request) {
	if s.PartnerRegistry == nil {
		serviceMissing(w, "the partner registry")
		return
	}
	var req scopesRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	p, err := s.PartnerRegistry.SetScopes(r.Context(), r.PathValue("id"), req.Scopes, apiActor(req.By))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handlePartnerChanges(w http.ResponseWriter, r *http.Request) {
	if s.PartnerRegistry == nil {
		serviceMissing(w, "the partner registry")
		return
	}
	list, err := s.PartnerRegistry.Changes(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": list})
}
