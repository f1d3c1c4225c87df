package web

import (
	"net/http"
	"strings"

	"github.com/opencarbon/opencarbon/honor"
)

// registerHonorRoutes registers medals, credentials and the issuer key
// document. Called from registerCampaignRoutes.
func (s *Server) registerHonorRoutes() {
	s.mux.HandleFunc("GET /v1/me/medals", s.person(s.handleMyMedals))
	s.mux.HandleFunc("GET /v1/me/medals/{id}/credential", s.person(s.handleMedalCredential))
	s.mux.HandleFunc("GET /.well-known/opencarbon-issuer.json", s.handleIssuer)
}

// issuerID is the issuer id of credentials: the configured PublicURL, or,
// when none is configured (local use), the base URL as the client reached
// it. Configure PublicURL in production, or a client choosing the Host
// header gets a genuinely signed credential naming another issuer.
func (s *Server) issuerID(r *http.Request) string {
	if s.PublicURL != "" {
		return strings.TrimRight(s.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) handleMyMedals(w http.ResponseWriter, r *http.Request, person string) {
	if s.Honor == nil || s.Accounts == nil {
		serviceMissing(w, "honor")
		return
	}
	acc, err := s.Accounts.AccountID(r.Context(), person)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ms, err := s.Honor.Medals(r.Context(), acc)
	if err != nil {
		writeError(w, r, err)
		return
	}
	bao, err := s.Honor.Bao(r.Context(), acc)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Medals []honor.Award `json:"medals"`
		Bao    honor.Bao     `json:"bao"`
	}{ms, bao})
}

func (s *Server) handleMedalCredential(w http.ResponseWriter, r *http.Request, person string) {
	if s.Honor == nil || s.Accounts == nil {
		serviceMissing(w, "honor")
		return
	}
	acc, err := s.Accounts.AccountID(r.Context(), person)
	if err != nil {
		writeError(w, r, err)
		return
	}
	iss := s.issuerID(r)
	jws, err := s.Honor.IssueCredential(r.Context(), acc, person, r.PathValue("id"), iss)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{
		"format":     "vc+jwt",
		"credential": jws,
		"issuer_key": iss + "/.well-known/opencarbon-issuer.json",
	})
}

func (s *Server) handleIssuer(w http.ResponseWriter, r *http.Request) {
	if s.Honor == nil {
		serviceMissing(w, "honor")
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, s.Honor.Issuer(s.issuerID(r)))
}
