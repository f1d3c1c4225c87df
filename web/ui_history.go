package web

import (
	"net/http"
	"slices"
	"strconv"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/audit"
	"github.com/opencarbon/opencarbon/intake"
)

type historyView struct {
	uiPage
	Available bool
	Entries   []historyRow
	Next      string
}

type historyRow struct {
	intake.Entry
	PartnerName string
	Title       string
}

func (s *Server) pageHistory(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	v := &historyView{uiPage: uiPage{TitleKey: "history.title", Nav: "history"}}
	if s.Intake == nil {
		s.render(w, r, rq, http.StatusOK, "history", v)
		return
	}
	v.Available = true
	list, next, err := s.Intake.Entries(r.Context(), a.ID, r.URL.Query().Get("cursor"), 30)
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	names := s.partnerNames(r)
	titles := s.behaviorTitles(r, rq.lang)
	for _, e := range list {
		v.Entries = append(v.Entries, historyRow{Entry: e, PartnerName: nameOr(names, e.Partner), Title: nameOr(titles, e.Behavior)})
	}
	v.Next = next
	s.render(w, r, rq, http.StatusOK, "history", v)
}

// behaviorTitles maps behaviors to their methodology titles in lang.
func (s *Server) behaviorTitles(r *http.Request, lang string) map[string]string {
	out := map[string]string{}
	if s.Methodologies == nil {
		return out
	}
	list, err := s.Methodologies.List(r.Context(), "")
	if err != nil {
		return out
	}
	for _, v := range list {
		out[v.ID] = v.Title.Get(lang)
	}
	return out
}

// whyView explains one credit: the calc record in plain words.
type whyView struct {
	uiPage
	Rec         *audit.Record
	Explanation string
	Title       string
	ParamKeys   []string
	Params      map[string]string
}

// pageWhy shows "why this many grams?" for one of the person's calcs;
// someone else's calc id is answered as not found.
func (s *Server) pageWhy(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	if s.Intake == nil {
		s.uiStatus(w, r, rq, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	cv, err := s.Intake.Calc(r.Context(), r.PathValue("calc"), rq.lang)
	if err == nil && cv.AccountID != a.ID {
		err = oc.Errorf(oc.ENotFound, "no such calc")
	}
	if err != nil {
		if oc.ErrorCode(err) == oc.ENotFound || oc.ErrorCode(err) == oc.EInvalid {
			s.uiStatus(w, r, rq, http.StatusNotFound, "error.not_found")
			return
		}
		s.uiFail(w, r, rq, err)
		return
	}
	v := &whyView{uiPage: uiPage{TitleKey: "why.title", Nav: "history"}, Rec: cv.Record, Explanation: cv.Explanation, Params: map[string]string{}}
	v.Title = nameOr(s.behaviorTitles(r, rq.lang), cv.Calc.Behavior)
	for k, p := range cv.Calc.Params {
		v.ParamKeys = append(v.ParamKeys, k)
		switch x := p.(type) {
		case float64:
			v.Params[k] = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			v.Params[k] = toText(x)
		}
	}
	slices.Sort(v.ParamKeys)
	s.render(w, r, rq, http.StatusOK, "why", v)
}
