package web

import (
	"net/http"

	"github.com/opencarbon/opencarbon/account"
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
	s.mux.HandleFunc("POST /rewards/{offer}", s.personPage(s.pageTake))
	for _, p := range []struct{ path, nav, title string }{
		{"/medals", "medals", "medals.title"},
		{"/campaigns", "campaigns", "campaigns.title"},
	} {
		s.mux.HandleFunc("GET "+p.path, s.personPage(func(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
			s.render(w, r, rq, http.StatusOK, "pending", &pendingView{uiPage: uiPage{TitleKey: p.title, Nav: p.nav}, WhatKey: p.nav + ".pending"})
		}))
	}
}

// addPoints sets the person's spendable points when the ledger is wired.
func (s *Server) addPoints(r *http.Request, a *account.Account, has *bool, points *int64) {
}

// addExpiring lists point lots expiring within 30 days when the ledger is
// wired.
func (s *Server) addExpiring(r *http.Request, a *account.Account, v *rewardsView) {
}
