package web

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/opencarbon/opencarbon/partner"
)

// registerConsolePages registers the operator and reviewer console.
func (s *Server) registerConsolePages() {
	s.mux.HandleFunc("GET /console/signin", s.uiHandler(s.pageConsoleSignInPage))
	s.mux.HandleFunc("POST /console/signin", s.uiHandler(s.pageConsoleSignIn))
	s.mux.HandleFunc("GET /console/partners", s.consolePage(true, s.pageConsolePartners))
	s.mux.HandleFunc("POST /console/partners", s.consolePage(true, s.pageConsoleRegister))
	s.mux.HandleFunc("POST /console/partners/{id}/rotate", s.consolePage(true, s.pageConsoleRotate))
	s.mux.HandleFunc("POST /console/partners/{id}/suspend", s.consolePage(true, s.pageConsoleSuspend))
	s.mux.HandleFunc("POST /console/partners/{id}/reinstate", s.consolePage(true, s.pageConsoleReinstate))
	s.mux.HandleFunc("POST /console/partners/{id}/scopes", s.consolePage(true, s.pageConsoleScopes))
	s.registerConsoleExtraPages()
	s.registerMethodologyPages()
}

// consolePage wraps a console page: a console session is needed, and an
// admin session when adminOnly (reviewers see the methodology pages).
func (s *Server) consolePage(adminOnly bool, h func(w http.ResponseWriter, r *http.Request, rq *uiReq)) http.HandlerFunc {
	return s.uiHandler(func(w http.ResponseWriter, r *http.Request, rq *uiReq) {
		if rq.console == nil {
			see(w, r, "/console/signin")
			return
		}
		if adminOnly && rq.console.Kind != kindAdmin {
			s.uiStatus(w, r, rq, http.StatusForbidden, "error.forbidden")
			return
		}
		h(w, r, rq)
	})
}

type consoleSignInView struct {
	uiPage
}

func (s *Server) pageConsoleSignInPage(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	s.render(w, r, rq, http.StatusOK, "console_signin", &consoleSignInView{uiPage: uiPage{TitleKey: "console.signin.title", Console: true}})
}

// pageConsoleSignIn accepts the admin token, or a reviewer's token when
// the methodology registry is wired.
func (s *Server) pageConsoleSignIn(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if tok != "" && s.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.AdminToken)) == 1 {
		s.startSession(w, r, rq, kindAdmin, "admin", time.Time{})
		see(w, r, "/console")
		return
	}
	if id, ok := s.reviewerByToken(r, tok); ok {
		s.startSession(w, r, rq, kindReviewer, id, time.Time{})
		see(w, r, "/console/methodologies")
		return
	}
	s.render(w, r, rq, http.StatusUnauthorized, "console_signin", &consoleSignInView{uiPage: uiPage{TitleKey: "console.signin.title", Console: true, Flash: "signin.failed"}})
}

type consolePartnersView struct {
	uiPage
	Partners  []*partner.Partner
	AllScopes []string
	SecretFor string
	Until     time.Time
}

func (s *Server) pageConsolePartners(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	v := &consolePartnersView{}
	v.Flash = flashOf(r)
	s.renderPartners(w, r, rq, http.StatusOK, v)
}

func (s *Server) renderPartners(w http.ResponseWriter, r *http.Request, rq *uiReq, status int, v *consolePartnersView) {
	v.TitleKey, v.Nav, v.Console, v.AllScopes = "console.partners.title", "partners", true, partner.AllScopes
	if s.PartnerRegistry == nil {
		s.uiStatus(w, r, rq, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	list, err := s.PartnerRegistry.List(r.Context())
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	v.Partners = list
	s.render(w, r, rq, status, "console_partners", v)
}

// pageConsoleRegister registers a partner and shows its secret once, in
// this response only (it is not kept anywhere in the UI).
func (s *Server) pageConsoleRegister(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	if s.PartnerRegistry == nil {
		s.uiStatus(w, r, rq, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	reg := partner.Registration{ID: strings.TrimSpace(r.PostForm.Get("id")), Name: strings.TrimSpace(r.PostForm.Get("name")),
		Scopes: r.PostForm["scope"], WebhookURL: strings.TrimSpace(r.PostForm.Get("webhook_url"))}
	secret, err := s.PartnerRegistry.Register(r.Context(), reg)
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	v := &consolePartnersView{SecretFor: reg.ID}
	v.Secret, v.Flash = secret, "flash.partner_registered"
	s.renderPartners(w, r, rq, http.StatusCreated, v)
}

func (s *Server) pageConsoleRotate(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	if s.PartnerRegistry == nil {
		s.uiStatus(w, r, rq, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	id := r.PathValue("id")
	secret, until, err := s.PartnerRegistry.Rotate(r.Context(), id, partner.DefaultOverlap)
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	v := &consolePartnersView{SecretFor: id, Until: until}
	v.Secret, v.Flash = secret, "flash.partner_rotated"
	s.renderPartners(w, r, rq, http.StatusOK, v)
}

// consoleActor is who a console change is recorded as.
func consoleActor(rq *uiReq) string { return "console:" + rq.console.Subject }

// pageConsoleSuspend suspends a partner; the reason is required.
func (s *Server) pageConsoleSuspend(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	s.consolePartnerChange(w, r, rq, "flash.partner_suspended", func(id string) error {
		_, err := s.PartnerRegistry.Suspend(r.Context(), id, r.PostForm.Get("reason"), consoleActor(rq))
		return err
	})
}

func (s *Server) pageConsoleReinstate(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	s.consolePartnerChange(w, r, rq, "flash.partner_reinstated", func(id string) error {
		_, err := s.PartnerRegistry.Reinstate(r.Context(), id, r.PostForm.Get("reason"), consoleActor(rq))
		return err
	})
}

// pageConsoleScopes replaces a partner's scopes with the checked boxes.
func (s *Server) pageConsoleScopes(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	s.consolePartnerChange(w, r, rq, "flash.partner_scopes", func(id string) error {
		_, err := s.PartnerRegistry.SetScopes(r.Context(), id, r.PostForm["scope"], consoleActor(rq))
		return err
	})
}

// consolePartnerChange runs change on the {id} partner and goes back to
// the partner list with the flash notice done, or shows the refusal.
func (s *Server) consolePartnerChange(w http.ResponseWriter, r *http.Request, rq *uiReq, done string, change func(id string) error) {
	if s.PartnerRegistry == nil {
		s.uiStatus(w, r, rq, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	if err := change(r.PathValue("id")); err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	see(w, r, "/console/partners?done="+done)
}
