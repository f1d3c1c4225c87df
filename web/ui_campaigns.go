package web

import (
	"net/http"
	"strings"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/campaign"
)

// boardSize is how many leaderboard rows the campaign page shows.
const boardSize = 10

type campaignsView struct {
	uiPage
	Available bool
	Campaigns []campaignCard
}

// campaignCard is one campaign as the person sees it: open ones offer a
// join form; joined ones show the live board of the person's region.
type campaignCard struct {
	C       campaign.Campaign
	Title   string
	Regions []regionChoice
	Member  *campaign.Member
	Board   *campaign.Leaderboard
	// RegionName is the member's region in the page language.
	RegionName string
}

type regionChoice struct{ Code, Name string }

func (s *Server) pageCampaigns(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	v := &campaignsView{uiPage: uiPage{TitleKey: "campaigns.title", Nav: "campaigns", Flash: flashOf(r)}}
	if s.Campaigns == nil {
		s.render(w, r, rq, http.StatusOK, "campaigns", v)
		return
	}
	v.Available = true
	ctx := r.Context()
	list, err := s.Campaigns.List(ctx, "")
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	for _, c := range list {
		card := campaignCard{C: c, Title: c.TitleEN}
		if rq.lang == "zh" {
			card.Title = c.TitleZH
		}
		for _, rg := range c.Regions {
			p := campaign.Provinces[rg.Code]
			name := p.NameEN
			if rq.lang == "zh" {
				name = p.NameZH
			}
			card.Regions = append(card.Regions, regionChoice{Code: rg.Code, Name: name})
		}
		m, err := s.Campaigns.Member(ctx, c.ID, a.ID)
		switch {
		case err == nil && m.LeftAt == nil:
			card.Member = m
			card.RegionName = m.Region
			for _, rc := range card.Regions {
				if rc.Code == m.Region {
					card.RegionName = rc.Name
				}
			}
			if card.Board, err = s.Campaigns.Leaderboard(ctx, c.ID, m.Region, boardSize, a.ID); err != nil {
				s.uiFail(w, r, rq, err)
				return
			}
		case err != nil && oc.ErrorCode(err) != oc.ENotFound:
			s.uiFail(w, r, rq, err)
			return
		}
		v.Campaigns = append(v.Campaigns, card)
	}
	s.render(w, r, rq, http.StatusOK, "campaigns", v)
}

// pageJoin opts the person in to a campaign in the region they chose,
// under the display name they typed (a masked id when empty).
func (s *Server) pageJoin(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	if s.Campaigns == nil {
		s.uiStatus(w, r, rq, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	id := r.PathValue("id")
	name := strings.TrimSpace(r.PostForm.Get("display_name"))
	if _, err := s.Campaigns.Join(r.Context(), id, a.ID, r.PostForm.Get("region"), name); err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	see(w, r, "/campaigns?done=flash.joined#c-"+id)
}
