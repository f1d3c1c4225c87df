package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/account"
)

// uiConsentVersion is the version of the consent text the UI shows
// (catalog keys consent.*); changing that text means a new version here.
const uiConsentVersion = "2026-01"

// registerPersonPages registers the person app.
func (s *Server) registerPersonPages() {
	s.mux.HandleFunc("GET /{$}", s.personPage(s.pageHome))
	s.mux.HandleFunc("GET /welcome", s.uiHandler(s.pageWelcomePage))
	s.mux.HandleFunc("POST /welcome", s.uiHandler(s.pageWelcome))
	s.mux.HandleFunc("GET /privacy", s.personPage(s.pagePrivacy))
	s.mux.HandleFunc("POST /privacy/partners/{partner}/revoke", s.personPage(s.pageRevoke))
	s.mux.HandleFunc("POST /privacy/partners/{partner}/link", s.personPage(s.pageLink))
	s.mux.HandleFunc("GET /privacy/export", s.personPage(s.pageExportDownload))
	s.mux.HandleFunc("GET /privacy/erase", s.personPage(s.pageErasePage))
	s.mux.HandleFunc("POST /privacy/erase", s.personPage(s.pageEraseConfirm))
	s.registerPersonExtraPages()
}

// personPage wraps a page of a person with an open account: no session →
// sign-in; no account yet → the opening flow (nothing is "yours" before).
func (s *Server) personPage(h func(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account)) http.HandlerFunc {
	return s.uiHandler(func(w http.ResponseWriter, r *http.Request, rq *uiReq) {
		if rq.person == nil {
			signInFirst(w, r)
			return
		}
		if s.Accounts == nil {
			s.uiStatus(w, r, rq, http.StatusServiceUnavailable, "error.unavailable")
			return
		}
		a, err := s.Accounts.Get(r.Context(), rq.person.Subject)
		if oc.ErrorCode(err) == oc.ENoConsent {
			see(w, r, "/welcome")
			return
		}
		if err != nil {
			s.uiFail(w, r, rq, err)
			return
		}
		h(w, r, rq, a)
	})
}

// partnerNames maps partner ids to display names (ids when the registry is
// not wired or a partner is gone).
func (s *Server) partnerNames(r *http.Request) map[string]string {
	out := map[string]string{}
	if s.PartnerRegistry == nil {
		return out
	}
	list, err := s.PartnerRegistry.List(r.Context())
	if err != nil {
		s.Logger.Warn("ui: list partners", "err", err)
		return out
	}
	for _, p := range list {
		out[p.ID] = p.Name
	}
	return out
}

func nameOr(names map[string]string, id string) string {
	if n, ok := names[id]; ok && n != "" {
		return n
	}
	return id
}

// partnerChoice is a partner offered for linking.
type partnerChoice struct {
	ID, Name string
	Checked  bool
}

type welcomeView struct {
	uiPage
	ConsentVersion string
	EntryPoint     string
	Partners       []partnerChoice
}

// entryPointOf reads ?from=; anything not shaped like an entry point is
// recorded as my_page.
func entryPointOf(from string) string {
	if account.EntryPointPattern.MatchString(from) {
		return from
	}
	return account.EntryPointMyPage
}

func (s *Server) pageWelcomePage(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	if rq.person == nil {
		signInFirst(w, r)
		return
	}
	if s.Accounts != nil {
		if _, err := s.Accounts.Get(r.Context(), rq.person.Subject); err == nil {
			see(w, r, "/")
			return
		}
	}
	v := &welcomeView{uiPage: uiPage{TitleKey: "welcome.title"}, ConsentVersion: uiConsentVersion,
		EntryPoint: entryPointOf(r.URL.Query().Get("from"))}
	names := s.partnerNames(r)
	// Linking is a consent of its own: no box is ticked for the person,
	// except the partner app they came from ("partner:<id>").
	from, _ := strings.CutPrefix(v.EntryPoint, "partner:")
	for _, id := range sortedKeys(names) {
		v.Partners = append(v.Partners, partnerChoice{ID: id, Name: names[id], Checked: id == from})
	}
	s.render(w, r, rq, http.StatusOK, "welcome", v)
}

func (s *Server) pageWelcome(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	if rq.person == nil {
		signInFirst(w, r)
		return
	}
	if s.Accounts == nil {
		s.uiStatus(w, r, rq, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	if r.PostForm.Get("agree") != "yes" {
		s.uiStatus(w, r, rq, http.StatusBadRequest, "welcome.must_agree")
		return
	}
	req := account.OpenRequest{EntryPoint: entryPointOf(r.PostForm.Get("entry_point")),
		ConsentVersion: r.PostForm.Get("consent_version"), Partners: r.PostForm["partner"]}
	if req.ConsentVersion != uiConsentVersion {
		s.uiStatus(w, r, rq, http.StatusBadRequest, "welcome.stale_consent")
		return
	}
	if _, _, err := s.Accounts.Open(r.Context(), rq.person.Subject, req); err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	see(w, r, "/")
}

// subView is a sub-account as pages show it.
type subView struct {
	Partner, Name string
	Linked        bool
	MG, Points    int64
	HasBalance    bool
}

func (s *Server) subViews(r *http.Request, a *account.Account) []subView {
	names := s.partnerNames(r)
	out := make([]subView, 0, len(a.Subaccounts))
	for _, sa := range a.Subaccounts {
		out = append(out, subView{Partner: sa.Partner, Name: nameOr(names, sa.Partner), Linked: sa.Linked})
	}
	return out
}

type privacyView struct {
	uiPage
	Account  *account.Account
	Subs     []subView
	Unlinked []partnerChoice
}

func (s *Server) pagePrivacy(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	v := &privacyView{uiPage: uiPage{TitleKey: "privacy.title", Nav: "privacy", Flash: flashOf(r)}, Account: a, Subs: s.subViews(r, a)}
	names := s.partnerNames(r)
	for _, id := range sortedKeys(names) {
		if !slices.ContainsFunc(a.Subaccounts, func(sa account.Subaccount) bool { return sa.Partner == id }) {
			v.Unlinked = append(v.Unlinked, partnerChoice{ID: id, Name: names[id]})
		}
	}
	s.render(w, r, rq, http.StatusOK, "privacy", v)
}

// flashOf reads the ?done= notice key set by a redirect after a POST; only
// keys starting with "flash." are shown.
func flashOf(r *http.Request) string {
	d := r.URL.Query().Get("done")
	if len(d) > 6 && d[:6] == "flash." && len(d) < 64 {
		return d
	}
	return ""
}

func (s *Server) pageRevoke(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	if _, err := s.Accounts.Revoke(r.Context(), rq.person.Subject, r.PathValue("partner")); err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	see(w, r, "/privacy?done=flash.revoked")
}

func (s *Server) pageLink(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	if _, err := s.Accounts.Link(r.Context(), rq.person.Subject, r.PathValue("partner")); err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	see(w, r, "/privacy?done=flash.linked")
}

func (s *Server) pageExportDownload(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	exp, err := s.Accounts.Export(r.Context(), rq.person.Subject)
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	b, err := json.MarshalIndent(exp, "", "  ")
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="opencarbon-export.json"`)
	w.Write(b)
}

type eraseView struct {
	uiPage
	Account *account.Account
}

func (s *Server) pageErasePage(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	s.render(w, r, rq, http.StatusOK, "erase", &eraseView{uiPage: uiPage{TitleKey: "erase.title", Nav: "privacy"}, Account: a})
}

// pageEraseConfirm erases only when the person typed the confirmation
// word of their language; then the session ends.
func (s *Server) pageEraseConfirm(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	if r.PostForm.Get("confirm") != rq.rt.catalog[rq.lang]["erase.word"] {
		v := &eraseView{uiPage: uiPage{TitleKey: "erase.title", Nav: "privacy", Flash: "erase.mismatch"}, Account: a}
		s.render(w, r, rq, http.StatusBadRequest, "erase", v)
		return
	}
	if err := s.Accounts.Erase(r.Context(), rq.person.Subject); err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	s.endSession(w, r, rq, cookiePerson)
	s.render(w, r, rq, http.StatusOK, "erased", &errorView{uiPage: uiPage{TitleKey: "erase.done_title"}, MessageKey: "erase.done"})
}
