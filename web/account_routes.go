package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/opencarbon/opencarbon/account"
)

// registerAccountRoutes registers a person's account, consent, export and
// erase routes.
func (s *Server) registerAccountRoutes() {
	s.mux.HandleFunc("POST /v1/me/account", s.person(s.handleOpenAccount))
	s.mux.HandleFunc("GET /v1/me/account", s.person(s.handleGetAccount))
	s.mux.HandleFunc("PUT /v1/me/partners/{partner}", s.person(s.handleLinkPartner))
	s.mux.HandleFunc("DELETE /v1/me/partners/{partner}", s.person(s.handleRevokePartner))
	s.mux.HandleFunc("GET /v1/me/export", s.person(s.handleExport))
	s.mux.HandleFunc("DELETE /v1/me", s.person(s.handleErase))
}

type openAccountRequest struct {
	EntryPoint     string   `json:"entry_point"`
	ConsentVersion string   `json:"consent_version"`
	Partners       []string `json:"partners"`
}

func (s *Server) handleOpenAccount(w http.ResponseWriter, r *http.Request, person string) {
	if s.Accounts == nil {
		serviceMissing(w, "accounts")
		return
	}
	var req openAccountRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	a, created, err := s.Accounts.Open(r.Context(), person, account.OpenRequest{EntryPoint: req.EntryPoint, ConsentVersion: req.ConsentVersion, Partners: req.Partners})
	if err != nil {
		writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.writeAccount(w, r, status, a)
}

func (s *Server) handleGetAccount(w http.ResponseWriter, r *http.Request, person string) {
	if s.Accounts == nil {
		serviceMissing(w, "accounts")
		return
	}
	a, err := s.Accounts.Get(r.Context(), person)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeAccount(w, r, http.StatusOK, a)
}

// writeAccount answers the account with every AccountExtras key merged in
// beside its own fields.
func (s *Server) writeAccount(w http.ResponseWriter, r *http.Request, status int, a *account.Account) {
	b, err := json.Marshal(a)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &out); err != nil {
		writeError(w, r, err)
		return
	}
	for _, extra := range s.AccountExtras {
		key, val, err := extra(r.Context(), a.ID)
		if err != nil {
			writeError(w, r, fmt.Errorf("account extra %q: %w", key, err))
			return
		}
		if _, taken := out[key]; taken || key == "" {
			writeError(w, r, fmt.Errorf("account extra %q collides with another key", key))
			return
		}
		vb, err := json.Marshal(val)
		if err != nil {
			writeError(w, r, fmt.Errorf("account extra %q: %w", key, err))
			return
		}
		out[key] = vb
	}
	writeJSON(w, status, out)
}

// decodeEmpty accepts an empty body or an empty JSON object, for calls
// whose whole input is in the path; anything else is refused.
func decodeEmpty(w http.ResponseWriter, r *http.Request) error {
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil
	}
	var none struct{}
	return decodeStrict(b, &none)
}

func (s *Server) handleLinkPartner(w http.ResponseWriter, r *http.Request, person string) {
	s.partnerConsent(w, r, person, s.Accounts.Link)
}

func (s *Server) handleRevokePartner(w http.ResponseWriter, r *http.Request, person string) {
	s.partnerConsent(w, r, person, s.Accounts.Revoke)
}

// partnerConsent links or revokes (change) the partner named in the path
// for person and answers the sub-account. The body must be empty.
func (s *Server) partnerConsent(w http.ResponseWriter, r *http.Request, person string,
	change func(ctx context.Context, person, partner string) (*account.Subaccount, error)) {
	if s.Accounts == nil {
		serviceMissing(w, "accounts")
		return
	}
	if err := decodeEmpty(w, r); err != nil {
		writeError(w, r, err)
		return
	}
	sa, err := change(r.Context(), person, r.PathValue("partner"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sa)
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request, person string) {
	if s.Accounts == nil {
		serviceMissing(w, "accounts")
		return
	}
	x, err := s.Accounts.Export(r.Context(), person)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, x)
}

func (s *Server) handleErase(w http.ResponseWriter, r *http.Request, person string) {
	if s.Accounts == nil {
		serviceMissing(w, "accounts")
		return
	}
	if err := decodeEmpty(w, r); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.Accounts.Erase(r.Context(), person); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "erased"})
}
