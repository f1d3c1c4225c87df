package web

import (
	"net/http"

	"github.com/opencarbon/opencarbon/account"
)

// medalsView is the medals wall: earned medals first, then the ones still
// to earn (greyed, with no claim that they are the person's).
type medalsView struct {
	uiPage
	Available bool
	Earned    []medalRow
	Locked    []medalRow
}

type medalRow struct {
	ID, Name, Artwork string
	At                string
}

func (s *Server) pageMedals(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	v := &medalsView{uiPage: uiPage{TitleKey: "medals.title", Nav: "medals"}}
	if s.Honor == nil {
		s.render(w, r, rq, http.StatusOK, "medals", v)
		return
	}
	v.Available = true
	ctx := r.Context()
	cat, err := s.Honor.Catalog(ctx)
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	awards, err := s.Honor.Medals(ctx, a.ID)
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	name := func(zh, en string) string {
		if rq.lang == "zh" {
			return zh
		}
		return en
	}
	got := map[string]bool{}
	for _, aw := range awards {
		got[aw.ID] = true
		v.Earned = append(v.Earned, medalRow{ID: aw.ID, Name: name(aw.NameZH, aw.NameEN), Artwork: aw.Artwork, At: aw.AwardedAt.Format("2006-01-02")})
	}
	for _, m := range cat {
		if !got[m.ID] {
			v.Locked = append(v.Locked, medalRow{ID: m.ID, Name: name(m.NameZH, m.NameEN), Artwork: m.Artwork})
		}
	}
	s.render(w, r, rq, http.StatusOK, "medals", v)
}
