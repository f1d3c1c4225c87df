package web

import (
	"net/http"
	"strconv"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/reward"
)

// rewardsView lists what points can buy now, by kind, and the person's
// vouchers. Each take form carries a fresh idempotency key, so a double
// submit gives the same voucher once.
type rewardsView struct {
	uiPage
	Available  bool
	Donations  []offerRow
	Discounts  []offerRow
	Malls      []offerRow
	Vouchers   []*reward.Voucher
	HasPoints  bool
	Points     int64
	Expiring   []expiringRow
	HasExpiry  bool
	NewVoucher *reward.Voucher
}

type offerRow struct {
	*reward.Offer
	Key         string // idempotency key for this form
	PartnerName string
	Linked      bool // mall: the person linked this partner
	Short       bool // the points it spends from are fewer than it costs
}

type expiringRow struct {
	Points int64
	At     string
}

func (s *Server) pageRewards(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	s.renderRewards(w, r, rq, a, http.StatusOK, &rewardsView{})
}

func (s *Server) renderRewards(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account, status int, v *rewardsView) {
	v.TitleKey, v.Nav = "rewards.title", "rewards"
	if s.Rewards == nil {
		s.render(w, r, rq, status, "rewards", v)
		return
	}
	v.Available = true
	ctx := r.Context()
	offers, err := s.Rewards.Offers(ctx, reward.OfferFilter{Available: true})
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	names := s.partnerNames(r)
	linked := map[string]bool{}
	for _, sa := range a.Subaccounts {
		linked[sa.Partner] = sa.Linked
	}
	// What each offer can spend from: the parent total, or for a mall item
	// its partner's sub-account (when the ledger is wired).
	parentPts, subPts, known := s.pointsBySource(r, a)
	for _, o := range offers {
		row := offerRow{Offer: o, Key: "ui-" + newID(12), PartnerName: nameOr(names, o.Partner), Linked: linked[o.Partner]}
		if known {
			have := parentPts
			if o.Kind == reward.KindMall {
				have = subPts[o.Partner]
			}
			row.Short = have < o.Points
		}
		switch o.Kind {
		case reward.KindDonation:
			v.Donations = append(v.Donations, row)
		case reward.KindDiscount:
			v.Discounts = append(v.Discounts, row)
		case reward.KindMall:
			v.Malls = append(v.Malls, row)
		}
	}
	if v.Vouchers, err = s.Rewards.Vouchers(ctx, a.Person, "", 20); err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	s.addPoints(r, a, &v.HasPoints, &v.Points)
	s.addExpiring(r, a, v)
	s.render(w, r, rq, status, "rewards", v)
}

// pageTake redeems (or donates to) an offer and shows the voucher.
func (s *Server) pageTake(w http.ResponseWriter, r *http.Request, rq *uiReq, a *account.Account) {
	if s.Rewards == nil {
		s.uiStatus(w, r, rq, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	id, err := strconv.ParseInt(r.PathValue("offer"), 10, 64)
	if err != nil {
		s.uiStatus(w, r, rq, http.StatusNotFound, "error.not_found")
		return
	}
	key := r.PostForm.Get("key")
	var vch *reward.Voucher
	if r.PostForm.Get("kind") == reward.KindDonation {
		vch, err = s.Rewards.Donate(r.Context(), a.Person, id, key)
	} else {
		vch, err = s.Rewards.Redeem(r.Context(), a.Person, id, key)
	}
	if err != nil {
		s.uiFail(w, r, rq, err)
		return
	}
	v := &rewardsView{NewVoucher: vch}
	v.Flash = "flash.voucher"
	s.renderRewards(w, r, rq, a, http.StatusOK, v)
}

// offerSection is one list of offers passed to the "offers" partial.
type offerSection struct {
	Rows    []offerRow
	Heading string
	Page    *rewardsView
}

// pointsBySource returns the parent's spendable points and each partner
// sub-account's; known is false when the ledger is not wired.
func (s *Server) pointsBySource(r *http.Request, a *account.Account) (parent int64, subs map[string]int64, known bool) {
	if s.Ledger == nil {
		return 0, nil, false
	}
	bal, err := s.Ledger.Balance(r.Context(), a.ID)
	if err != nil {
		s.Logger.Warn("ui: balance", "err", err)
		return 0, nil, false
	}
	partnerOf := map[int64]string{}
	for _, sa := range a.Subaccounts {
		partnerOf[sa.ID] = sa.Partner
	}
	subs = map[string]int64{}
	for _, sb := range bal.Subs {
		subs[partnerOf[sb.Sub]] = sb.Points
	}
	return bal.Points, subs, true
}
