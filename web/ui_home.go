package web

import (
	"net/http"
	"time"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/methodology"
)

// homeView is the person's home: totals, Carbon Bao, sub-accounts. A part
// whose service is not wired stays empty (Has* false) and the page says so.
type homeView struct {
	uiPage
	Account    *account.Account
	Subs       []subView
	HasBalance bool
	TotalMG    int64
	Points     int64
	HasBao     bool
	Bao        baoView
}

func (s *Server) pageHome(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	v := &homeView{uiPage: uiPage{TitleKey: "home.title", Nav: "home"}, Account: a, Subs: s.subViews(r, a)}
	ctx := r.Context()
	if s.Ledger != nil {
		bal, err := s.Ledger.Balance(ctx, a.ID)
		if err != nil {
			s.uiFail(w, r, rq, err)
			return
		}
		v.HasBalance, v.TotalMG, v.Points = true, bal.MG, bal.Points
		bySub := map[int64]ledger.SubBalance{}
		for _, sb := range bal.Subs {
			bySub[sb.Sub] = sb
		}
		for i, sa := range a.Subaccounts {
			sb := bySub[sa.ID]
			v.Subs[i].HasBalance, v.Subs[i].MG, v.Subs[i].Points = true, sb.MG, sb.Points
		}
	}
	if s.Honor != nil {
		b, err := s.Honor.Bao(ctx, a.ID)
		if err != nil {
			s.uiFail(w, r, rq, err)
			return
		}
		v.HasBao = true
		v.Bao = newBao(b.Level, int(b.ProgressPermille/10), max(b.NextMG-b.MG, 0))
		v.Bao.Name = b.NameEN
		if rq.lang == "zh" {
			v.Bao.Name = b.NameZH
		}
	}
	s.render(w, r, rq, http.StatusOK, "home", v)
}

// pendingView is a page whose service has not landed in this build.
type pendingView struct {
	uiPage
	WhatKey string
}

// registerPersonExtraPages registers the pages fed by the ledger, honor,
// reward and campaign services.
func (s *Server) registerPersonExtraPages() {
	s.mux.HandleFunc("GET /footprint", s.personPage(s.pageFootprint))
	s.mux.HandleFunc("GET /history", s.personPage(s.pageHistory))
	s.mux.HandleFunc("GET /history/{calc}", s.personPage(s.pageWhy))
	s.mux.HandleFunc("GET /rewards", s.personPage(s.pageRewards))
	s.mux.HandleFunc("GET /medals", s.personPage(s.pageMedals))
	s.mux.HandleFunc("GET /campaigns", s.personPage(s.pageCampaigns))
	s.mux.HandleFunc("POST /campaigns/{id}/join", s.personPage(s.pageJoin))
	s.mux.HandleFunc("POST /rewards/{offer}", s.personPage(s.pageTake))
	for _, p := range []struct{ path, nav, title string }{} {
		s.mux.HandleFunc("GET "+p.path, s.personPage(func(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
			s.render(w, r, rq, http.StatusOK, "pending", &pendingView{uiPage: uiPage{TitleKey: p.title, Nav: p.nav}, WhatKey: p.nav + ".pending"})
		}))
	}
}

// addPoints sets the person's spendable points when the ledger is wired.
func (s *Server) addPoints(r *http.Request, a *account.Account, has *bool, points *int64) {
	if s.Ledger == nil {
		return
	}
	bal, err := s.Ledger.Balance(r.Context(), a.ID)
	if err != nil {
		s.Logger.Warn("ui: balance", "err", err)
		return
	}
	*has, *points = true, bal.Points
}

// expiryWindow is how far ahead "points expiring soon" looks.
const expiryWindow = 30 * 24 * time.Hour

// addExpiring lists point lots expiring within expiryWindow when the
// ledger is wired.
func (s *Server) addExpiring(r *http.Request, a *account.Account, v *rewardsView) {
	if s.Ledger == nil {
		return
	}
	lots, err := s.Ledger.Expiring(r.Context(), a.ID, expiryWindow)
	if err != nil {
		s.Logger.Warn("ui: expiring points", "err", err)
		return
	}
	v.HasExpiry = true
	for _, l := range lots {
		v.Expiring = append(v.Expiring, expiringRow{Points: l.Points, At: l.ExpiresAt.In(methodology.DefaultLocation).Format("2006-01-02")})
	}
}
