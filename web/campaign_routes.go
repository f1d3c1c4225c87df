package web

import (
	"net/http"
	"strconv"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/campaign"
)

// registerCampaignRoutes registers campaigns, opt-in and leaderboards, and
// (honor_routes.go) medals and credentials.
func (s *Server) registerCampaignRoutes() {
	s.mux.HandleFunc("POST /v1/admin/campaigns", s.admin(s.handleCreateCampaign))
	s.mux.HandleFunc("PUT /v1/admin/campaigns/{id}", s.admin(s.handleUpdateCampaign))
	s.mux.HandleFunc("GET /v1/campaigns", s.handleListCampaigns)
	s.mux.HandleFunc("GET /v1/campaigns/{id}", s.handleGetCampaign)
	s.mux.HandleFunc("POST /v1/me/campaigns/{id}/join", s.person(s.handleJoinCampaign))
	s.mux.HandleFunc("POST /v1/me/campaigns/{id}/leave", s.person(s.handleLeaveCampaign))
	s.mux.HandleFunc("GET /v1/campaigns/{id}/leaderboards/{region}", s.handleLeaderboard)
	s.registerHonorRoutes()
}

// campaignRequest is the body of POST and PUT /v1/admin/campaigns.
type campaignRequest struct {
	ID              string            `json:"id"`
	TitleZH         string            `json:"title_zh"`
	TitleEN         string            `json:"title_en"`
	TimeZone        string            `json:"time_zone"`
	Start           string            `json:"start"`
	End             string            `json:"end"`
	Regions         []campaign.Region `json:"regions"`
	Behaviors       []string          `json:"behaviors"`
	Scenarios       []string          `json:"scenarios"`
	BonusPercent    int64             `json:"bonus_percent"`
	BonusExpiryDays int64             `json:"bonus_expiry_days"`
	Medals          []campaign.Medal  `json:"medals"`
}

func (req campaignRequest) campaign() campaign.Campaign {
	return campaign.Campaign{ID: req.ID, TitleZH: req.TitleZH, TitleEN: req.TitleEN, TimeZone: req.TimeZone, Start: req.Start, End: req.End,
		Regions: req.Regions, Behaviors: req.Behaviors, Scenarios: req.Scenarios, BonusPercent: req.BonusPercent,
		BonusExpiryDays: req.BonusExpiryDays, Medals: req.Medals}
}

func (s *Server) handleCreateCampaign(w http.ResponseWriter, r *http.Request) {
	s.saveCampaign(w, r, "", true)
}

func (s *Server) handleUpdateCampaign(w http.ResponseWriter, r *http.Request) {
	s.saveCampaign(w, r, r.PathValue("id"), false)
}

func (s *Server) saveCampaign(w http.ResponseWriter, r *http.Request, id string, create bool) {
	if s.Campaigns == nil {
		serviceMissing(w, "campaigns")
		return
	}
	var req campaignRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if !create {
		if req.ID != "" && req.ID != id {
			writeError(w, r, oc.Errorf(oc.EInvalid, "id in the body (%q) differs from the path", req.ID))
			return
		}
		req.ID = id
	}
	created, err := s.Campaigns.Save(r.Context(), req.campaign(), create)
	if err != nil {
		writeError(w, r, err)
		return
	}
	c, err := s.Campaigns.Get(r.Context(), req.ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, c)
}

func (s *Server) handleListCampaigns(w http.ResponseWriter, r *http.Request) {
	if s.Campaigns == nil {
		serviceMissing(w, "campaigns")
		return
	}
	cs, err := s.Campaigns.List(r.Context(), r.URL.Query().Get("status"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaigns": cs})
}

func (s *Server) handleGetCampaign(w http.ResponseWriter, r *http.Request) {
	if s.Campaigns == nil {
		serviceMissing(w, "campaigns")
		return
	}
	c, err := s.Campaigns.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

type joinRequest struct {
	Region      string `json:"region"`
	DisplayName string `json:"display_name"`
}

func (s *Server) handleJoinCampaign(w http.ResponseWriter, r *http.Request, person string) {
	if s.Campaigns == nil || s.Accounts == nil {
		serviceMissing(w, "campaigns")
		return
	}
	var req joinRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	acc, err := s.Accounts.AccountID(r.Context(), person)
	if err != nil {
		writeError(w, r, err)
		return
	}
	m, err := s.Campaigns.Join(r.Context(), r.PathValue("id"), acc, req.Region, req.DisplayName)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) handleLeaveCampaign(w http.ResponseWriter, r *http.Request, person string) {
	if s.Campaigns == nil || s.Accounts == nil {
		serviceMissing(w, "campaigns")
		return
	}
	if err := decodeEmpty(w, r); err != nil {
		writeError(w, r, err)
		return
	}
	acc, err := s.Accounts.AccountID(r.Context(), person)
	if err != nil {
		writeError(w, r, err)
		return
	}
	m, err := s.Campaigns.Leave(r.Context(), r.PathValue("id"), acc)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// handleLeaderboard answers the public board; a request that carries a
// person token (or UI session) also gets that person's own standing. A
// token that is present but invalid is refused rather than ignored.
func (s *Server) handleLeaderboard(w http.ResponseWriter, r *http.Request) {
	if s.Campaigns == nil {
		serviceMissing(w, "campaigns")
		return
	}
	limit := 10
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, r, oc.Errorf(oc.EInvalid, "limit must be a whole number from 1 to %d", campaign.MaxLimit))
			return
		}
		limit = n
	}
	var acc int64
	if _, has := bearer(r); has || s.sessionPerson != nil {
		person, err := s.personOf(r)
		switch {
		case err == nil && s.Accounts != nil:
			id, err := s.Accounts.AccountID(r.Context(), person)
			if err != nil && oc.ErrorCode(err) != oc.ENoConsent {
				writeError(w, r, err)
				return
			}
			acc = id
			if acc == 0 {
				acc = -1 // signed in without an account: "me" says not joined
			}
		case err != nil && has:
			writeError(w, r, err)
			return
		}
	}
	lb, err := s.Campaigns.Leaderboard(r.Context(), r.PathValue("id"), r.PathValue("region"), limit, acc)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, lb)
}
