package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/opencarbon/opencarbon/campaign"
	"github.com/opencarbon/opencarbon/reward"
	"github.com/opencarbon/opencarbon/webhook"
)

// registerConsoleExtraPages registers the console's dashboard, offers,
// campaigns and webhook dead letters (admin only).
func (s *Server) registerConsoleExtraPages() {
	s.mux.HandleFunc("GET /console", s.consolePage(false, s.pageDashboard))
	s.mux.HandleFunc("GET /console/offers", s.consolePage(true, s.pageConsoleOffers))
	s.mux.HandleFunc("POST /console/offers/{id}/topup", s.consolePage(true, s.pageTopUp))
	s.mux.HandleFunc("GET /console/campaigns", s.consolePage(true, s.pageConsoleCampaigns))
	s.mux.HandleFunc("GET /console/deadletters", s.consolePage(true, s.pageDeadLetters))
	s.mux.HandleFunc("POST /console/deadletters/{id}/retry", s.consolePage(true, s.pageRetry))
}

type consoleOffersView struct {
	uiPage
	Available bool
	Offers    []*reward.Offer
}

func (s *Server) pageConsoleOffers(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	v := &consoleOffersView{uiPage: uiPage{TitleKey: "console.offers.title", Nav: "offers", Console: true, Flash: flashOf(r)}}
	if s.Rewards != nil {
		v.Available = true
		var err error
		if v.Offers, err = s.Rewards.Offers(r.Context(), reward.OfferFilter{}); err != nil {
			s.uiFail(w, r, rq, err)
			return
		}
	}
	s.render(w, r, rq, http.StatusOK, "console_offers", v)
}

// pageTopUp adds to a donation program's budget; the amount is typed in
// yuan with at most two decimals.
func (s *Server) pageTopUp(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	id, ok := s.consoleTarget(w, r, rq, s.Rewards != nil)
	if !ok {
		return
	}
	fen, ok := parseYuan(r.PostForm.Get("yuan"))
	if !ok {
		s.uiStatus(w, r, rq, http.StatusBadRequest, "error.invalid")
		return
	}
	if _, err := s.Rewards.TopUp(r.Context(), id, fen); err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	see(w, r, "/console/offers?done=flash.topped_up")
}

// parseYuan reads "12", "12.5" or "12.50" yuan as fen; anything else, or a
// value that is not positive, is refused.
func parseYuan(v string) (int64, bool) {
	whole, frac, dot := strings.Cut(strings.TrimSpace(v), ".")
	if whole == "" || len(whole) > 12 || len(frac) > 2 || (dot && frac == "") || strings.ContainsAny(whole+frac, "+-") {
		return 0, false
	}
	y, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	var f uint64
	if frac != "" {
		if f, err = strconv.ParseUint(frac, 10, 64); err != nil {
			return 0, false
		}
		if len(frac) == 1 {
			f *= 10
		}
	}
	fen := int64(y*100 + f)
	return fen, fen > 0
}

type consoleCampaignsView struct {
	uiPage
	Available bool
	Campaigns []campaign.Campaign
}

func (s *Server) pageConsoleCampaigns(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	v := &consoleCampaignsView{uiPage: uiPage{TitleKey: "console.campaigns.title", Nav: "campaigns", Console: true}}
	if s.Campaigns != nil {
		v.Available = true
		var err error
		if v.Campaigns, err = s.Campaigns.List(r.Context(), ""); err != nil {
			s.uiFail(w, r, rq, err)
			return
		}
	}
	s.render(w, r, rq, http.StatusOK, "console_campaigns", v)
}

type deadLettersView struct {
	uiPage
	Available bool
	Letters   []webhook.Delivery
}

func (s *Server) pageDeadLetters(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	v := &deadLettersView{uiPage: uiPage{TitleKey: "console.deadletters.title", Nav: "deadletters", Console: true, Flash: flashOf(r)}}
	if s.Webhooks != nil {
		v.Available = true
		var err error
		if v.Letters, err = s.Webhooks.DeadLetters(r.Context(), 0, 100); err != nil {
			s.uiFail(w, r, rq, err)
			return
		}
	}
	s.render(w, r, rq, http.StatusOK, "console_deadletters", v)
}

func (s *Server) pageRetry(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	id, ok := s.consoleTarget(w, r, rq, s.Webhooks != nil)
	if !ok {
		return
	}
	if _, err := s.Webhooks.Retry(r.Context(), id); err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	see(w, r, "/console/deadletters?done=flash.retried")
}

// consoleTarget reads the {id} of a console action on a service: it
// answers unavailable when the service is not wired (available false) and
// not found when the id is not a number.
func (s *Server) consoleTarget(w http.ResponseWriter, r *http.Request, rq *uiReq, available bool) (int64, bool) {
	if !available {
		s.uiStatus(w, r, rq, http.StatusServiceUnavailable, "error.unavailable")
		return 0, false
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.uiStatus(w, r, rq, http.StatusNotFound, "error.not_found")
		return 0, false
	}
	return id, true
}
