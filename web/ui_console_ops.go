package web

import (
	"net/http"
	"strconv"

	"github.com/opencarbon/opencarbon/campaign"
	"github.com/opencarbon/opencarbon/reward"
	"github.com/opencarbon/opencarbon/webhook"
)

// registerConsoleExtraPages registers the console's dashboard, offers,
// campaigns and webhook dead letters (admin only).
func (s *Server) registerConsoleExtraPages() {
	s.mux.HandleFunc("GET /console", s.consolePage(false, s.pageDashboard))
	s.mux.HandleFunc("GET /console/offers", s.consolePage(true, s.pageConsoleOffers))
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
	v := &consoleOffersView{uiPage: uiPage{TitleKey: "console.offers.title", Nav: "offers", Console: true}}
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
	if s.Webhooks == nil {
		s.uiStatus(w, r, rq, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.uiStatus(w, r, rq, http.StatusNotFound, "error.not_found")
		return
	}
	if _, err := s.Webhooks.Retry(r.Context(), id); err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	see(w, r, "/console/deadletters?done=flash.retried")
}
