package web

import (
	"crypto/subtle"
	"net/http"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/methodology"
)

// registerMethodologyRoutes registers the public methodology registry and
// the reviewer/admin workflow routes.
func (s *Server) registerMethodologyRoutes() {
	s.mux.HandleFunc("GET /v1/methodologies", s.handleListMethodologies)
	s.mux.HandleFunc("GET /v1/methodologies/{id}/versions/{v}", s.handleGetMethodology)
	s.mux.HandleFunc("GET /v1/factors", s.handleListFactors)
	s.mux.HandleFunc("POST /v1/admin/reviewers", s.admin(s.handleCreateReviewer))
	s.mux.HandleFunc("POST /v1/methodologies", s.handleCreateMethodology)
	s.mux.HandleFunc("POST /v1/methodologies/{id}/versions/{v}/{action}", s.handleMethodologyAction)
	s.mux.HandleFunc("POST /v1/admin/factors", s.admin(s.handleAddFactor))
	s.mux.HandleFunc("POST /v1/admin/factors/{id}/versions/{v}/status", s.handleFactorStatus)
}

func (s *Server) methodologies(w http.ResponseWriter) bool {
	if s.Methodologies == nil {
		serviceMissing(w, "the methodology registry")
		return false
	}
	return true
}

// handleListMethodologies lists registry versions; drafts are the authors'
// business and are left out unless ?status=draft is asked for.
func (s *Server) handleListMethodologies(w http.ResponseWriter, r *http.Request) {
	if !s.methodologies(w) {
		return
	}
	status := r.URL.Query().Get("status")
	switch status {
	case "", methodology.StatusDraft, methodology.StatusInReview, methodology.StatusApproved, methodology.StatusSuspended, methodology.StatusRetired:
	default:
		writeError(w, r, oc.Errorf(oc.EInvalid, "status must be draft, in_review, approved, suspended or retired"))
		return
	}
	list, err := s.Methodologies.List(r.Context(), status)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]methodology.Version, 0, len(list))
	for _, v := range list {
		if status == "" && v.Status == methodology.StatusDraft {
			continue
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"methodologies": out})
}

func (s *Server) handleGetMethodology(w http.ResponseWriter, r *http.Request) {
	if !s.methodologies(w) {
		return
	}
	v, err := s.Methodologies.Get(r.Context(), r.PathValue("id"), r.PathValue("v"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleListFactors(w http.ResponseWriter, r *http.Request) {
	if !s.methodologies(w) {
		return
	}
	fs, err := s.Methodologies.Factors(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	if fs == nil {
		fs = []methodology.Factor{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"factors": fs})
}

type createReviewerRequest struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

func (s *Server) handleCreateReviewer(w http.ResponseWriter, r *http.Request) {
	if !s.methodologies(w) {
		return
	}
	var req createReviewerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	rev, token, err := s.Methodologies.CreateReviewer(r.Context(), req.ID, req.Name, req.Roles)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"reviewer": rev, "token": token})
}

// actor authenticates the caller: a reviewer token, or (when allowAdmin)
// the admin token, answered as a nil reviewer.
func (s *Server) actor(r *http.Request, allowAdmin bool) (*methodology.Reviewer, error) {
	t, ok := bearer(r)
	if !ok {
		return nil, oc.Errorf(oc.EMissingAuth, "this call needs Authorization: Bearer <reviewer token>")
	}
	if allowAdmin && s.AdminToken != "" && subtle.ConstantTimeCompare([]byte(t), []byte(s.AdminToken)) == 1 {
		return nil, nil
	}
	return s.Methodologies.Authenticate(r.Context(), t)
}

// handleCreateMethodology stores a draft from a YAML or JSON body.
func (s *Server) handleCreateMethodology(w http.ResponseWriter, r *http.Request) {
	if !s.methodologies(w) {
		return
	}
	author, err := s.actor(r, false)
	if err != nil {
		writeError(w, r, err)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	v, err := s.Methodologies.Create(r.Context(), author, body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

type methodologyActionRequest struct {
	Decision      string     `json:"decision"`       // reviews
	Comment       string     `json:"comment"`        // reviews
	Reason        string     `json:"reason"`         // suspend, reinstate, retire
	EffectiveFrom *time.Time `json:"effective_from"` // approve
}

// handleMethodologyAction runs one workflow step: submit, withdraw,
// reviews, approve, suspend, reinstate or retire.
func (s *Server) handleMethodologyAction(w http.ResponseWriter, r *http.Request) {
	if !s.methodologies(w) {
		return
	}
	action := r.PathValue("action")
	adminOK := action == "suspend" || action == "retire" || action == "reinstate" || action == "approve"
	actor, err := s.actor(r, adminOK)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req methodologyActionRequest
	body, err := readBody(w, r)
	if err == nil && len(body) > 0 {
		err = decodeStrict(body, &req)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	ctx, svc := r.Context(), s.Methodologies
	id, ver := r.PathValue("id"), r.PathValue("v")
	status := http.StatusOK
	switch action {
	case "submit":
		err = svc.Submit(ctx, actor, id, ver)
	case "withdraw":
		err = svc.Withdraw(ctx, actor, id, ver)
	case "reviews":
		if actor == nil {
			err = oc.Errorf(oc.EForbidden, "reviews are recorded by reviewer accounts")
		} else {
			err = svc.Review(ctx, actor, id, ver, req.Decision, req.Comment)
		}
		status = http.StatusCreated
	case "approve":
		var eff time.Time
		if req.EffectiveFrom != nil {
			eff = *req.EffectiveFrom
		}
		err = svc.Approve(ctx, actor, id, ver, eff)
	case "suspend":
		err = svc.Suspend(ctx, actor, id, ver, req.Reason)
	case "reinstate":
		err = svc.Reinstate(ctx, actor, id, ver, req.Reason)
	case "retire":
		err = svc.Retire(ctx, actor, id, ver, req.Reason)
	default:
		err = oc.Errorf(oc.ENotFound, "unknown action %q", action)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	v, err := svc.Get(ctx, id, ver)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

// handleAddFactor adds a draft factor version (admin token). The body is
// a factor as GET /v1/factors shows it, with its full source; status may
// be left out or be "draft". 201 when stored or changed (a draft can be
// corrected), 200 when the same content was already there; other content
// for a version that was ever approved is refused (immutable): a new
// figure is a new version.
func (s *Server) handleAddFactor(w http.ResponseWriter, r *http.Request) {
	if !s.methodologies(w) {
		return
	}
	var f methodology.Factor
	if err := decodeJSON(w, r, &f); err != nil {
		writeError(w, r, err)
		return
	}
	stored, changed, err := s.Methodologies.AddDraftFactor(r.Context(), f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if changed {
		status = http.StatusCreated
	}
	writeJSON(w, status, stored)
}

type factorStatusRequest struct {
	Status string `json:"status"`
}

// handleFactorStatus approves, suspends or retires a factor version: the
// admin token, or a reviewer account with the reviewer role.
func (s *Server) handleFactorStatus(w http.ResponseWriter, r *http.Request) {
	if !s.methodologies(w) {
		return
	}
	actor, err := s.actor(r, true)
	if err == nil && actor != nil && !actor.Has(methodology.RoleReviewer) {
		err = oc.Errorf(oc.EForbidden, "changing a factor's status needs the reviewer role")
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req factorStatusRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	switch req.Status {
	case methodology.FactorApproved, methodology.FactorSuspended, methodology.FactorRetired:
	default:
		writeError(w, r, oc.Errorf(oc.EInvalid, "status %q must be approved, suspended or retired", req.Status))
		return
	}
	ctx, id, ver := r.Context(), r.PathValue("id"), r.PathValue("v")
	if err := s.Methodologies.SetFactorStatus(ctx, id, ver, req.Status); err != nil {
		writeError(w, r, err)
		return
	}
	f, err := s.Methodologies.FindFactor(ctx, id, ver)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}
