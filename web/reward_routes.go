package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/reward"
)

// registerRewardRoutes registers the catalog, redemption, voucher and
// merchant routes (see docs/rewards.md), and the webhook admin routes.
func (s *Server) registerRewardRoutes() {
	s.mux.HandleFunc("GET /v1/offers", s.handleOffers)
	s.mux.HandleFunc("POST /v1/me/redemptions", s.person(s.handleRedeem))
	s.mux.HandleFunc("POST /v1/me/donations", s.person(s.handleDonate))
	s.mux.HandleFunc("GET /v1/me/vouchers", s.person(s.handleMyVouchers))
	s.mux.HandleFunc("POST /v1/me/vouchers/{code}/cancel", s.person(s.handleCancelVoucher))

	s.mux.HandleFunc("POST /v1/partner/merchants", s.signed(partner.ScopeMallManage, s.handlePartnerMerchant))
	s.mux.HandleFunc("POST /v1/partner/offers", s.signed(partner.ScopeMallManage, s.handlePartnerCreateOffer))
	s.mux.HandleFunc("GET /v1/partner/offers", s.signed(partner.ScopeMallManage, s.handlePartnerOffers))
	s.mux.HandleFunc("GET /v1/partner/vouchers/{code}", s.signed(partner.ScopeMallManage, s.handlePartnerVoucher))
	s.mux.HandleFunc("POST /v1/partner/vouchers/{code}/redeem", s.signed(partner.ScopeMallManage, s.handlePartnerUseVoucher))

	s.mux.HandleFunc("POST /v1/admin/merchants", s.admin(s.handleAdminMerchant))
	s.mux.HandleFunc("POST /v1/admin/offers", s.admin(s.handleAdminCreateOffer))
	s.mux.HandleFunc("POST /v1/admin/offers/{id}/budget", s.admin(s.handleAdminBudget))

	s.registerWebhookRoutes()
}

// rewards returns the reward service, or answers 503 and false.
func (s *Server) rewards(w http.ResponseWriter) (*reward.Service, bool) {
	if s.Rewards == nil {
		serviceMissing(w, "rewards")
		return nil, false
	}
	return s.Rewards, true
}

func (s *Server) handleOffers(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.rewards(w)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := reward.OfferFilter{Available: true, Kind: q.Get("kind"), Partner: q.Get("partner")}
	switch f.Kind {
	case "", reward.KindDonation, reward.KindDiscount, reward.KindMall:
	default:
		writeError(w, r, oc.Errorf(oc.EInvalid, "kind must be %s, %s or %s", reward.KindDonation, reward.KindDiscount, reward.KindMall))
		return
	}
	offers, err := rs.Offers(r.Context(), f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"offers": offers})
}

type takeRequest struct {
	OfferID        int64  `json:"offer_id"`
	IdempotencyKey string `json:"idempotency_key"`
}

func (s *Server) handleRedeem(w http.ResponseWriter, r *http.Request, person string) {
	s.take(w, r, person, (*reward.Service).Redeem)
}

func (s *Server) handleDonate(w http.ResponseWriter, r *http.Request, person string) {
	s.take(w, r, person, (*reward.Service).Donate)
}

// take answers 201 with a new voucher or red envelope, 200 with the one an
// earlier request with the same idempotency key gave.
func (s *Server) take(w http.ResponseWriter, r *http.Request, person string,
	fn func(*reward.Service, context.Context, string, int64, string) (*reward.Voucher, error)) {
	rs, ok := s.rewards(w)
	if !ok {
		return
	}
	var req takeRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if req.OfferID <= 0 {
		writeError(w, r, oc.Errorf(oc.EInvalid, "offer_id is required"))
		return
	}
	v, err := fn(rs, r.Context(), person, req.OfferID, req.IdempotencyKey)
	if err != nil {
		writeError(w, r, err)
		return
	}
	status := http.StatusCreated
	if v.Replayed {
		status = http.StatusOK
	}
	writeJSON(w, status, v)
}

func (s *Server) handleMyVouchers(w http.ResponseWriter, r *http.Request, person string) {
	rs, ok := s.rewards(w)
	if !ok {
		return
	}
	limit := 50
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, r, oc.Errorf(oc.EInvalid, "limit must be 1 to 1000"))
			return
		}
		limit = n
	}
	vs, err := rs.Vouchers(r.Context(), person, r.URL.Query().Get("before"), limit)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := map[string]any{"vouchers": vs}
	if len(vs) == limit {
		out["next"] = vs[len(vs)-1].Code
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleCancelVoucher(w http.ResponseWriter, r *http.Request, person string) {
	rs, ok := s.rewards(w)
	if !ok {
		return
	}
	v, err := rs.Cancel(r.Context(), person, r.PathValue("code"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

type merchantRequest struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Partner string `json:"partner"`
}

func (s *Server) createMerchant(w http.ResponseWriter, r *http.Request, byPartner string, body []byte) {
	rs, ok := s.rewards(w)
	if !ok {
		return
	}
	var req merchantRequest
	if err := decodeStrict(body, &req); err != nil {
		writeError(w, r, err)
		return
	}
	m, err := rs.CreateMerchant(r.Context(), byPartner, reward.Merchant{ID: req.ID, Name: req.Name, Partner: req.Partner})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, m)
}

func (s *Server) handlePartnerMerchant(w http.ResponseWriter, r *http.Request, partnerID string, body []byte) {
	s.createMerchant(w, r, partnerID, body)
}

func (s *Server) handleAdminMerchant(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.createMerchant(w, r, "", body)
}

// offerRequest is the JSON of a new offer. Times are RFC 3339.
type offerRequest struct {
	Kind        string     `json:"kind"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Project     string     `json:"project"`
	Merchant    string     `json:"merchant"`
	Partner     string     `json:"partner"`
	Points      int64      `json:"points"`
	Stock       *int64     `json:"stock"`
	PerPerson   int64      `json:"per_person_limit"`
	AmountFen   int64      `json:"amount_fen"`
	BudgetFen   int64      `json:"budget_fen"`
	ValidFrom   *time.Time `json:"valid_from"`
	ValidUntil  *time.Time `json:"valid_until"`
}

func (s *Server) createOffer(w http.ResponseWriter, r *http.Request, byPartner string, body []byte) {
	rs, ok := s.rewards(w)
	if !ok {
		return
	}
	var req offerRequest
	if err := decodeStrict(body, &req); err != nil {
		writeError(w, r, err)
		return
	}
	in := reward.OfferInput{Kind: req.Kind, Title: req.Title, Description: req.Description, Project: req.Project,
		Merchant: req.Merchant, Partner: req.Partner, Points: req.Points, Stock: req.Stock, PerPerson: req.PerPerson,
		AmountFen: req.AmountFen, BudgetFen: req.BudgetFen}
	if req.ValidFrom != nil {
		in.ValidFrom = *req.ValidFrom
	}
	if req.ValidUntil != nil {
		in.ValidUntil = *req.ValidUntil
	}
	o, err := rs.CreateOffer(r.Context(), byPartner, in)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, o)
}

func (s *Server) handlePartnerCreateOffer(w http.ResponseWriter, r *http.Request, partnerID string, body []byte) {
	s.createOffer(w, r, partnerID, body)
}

func (s *Server) handleAdminCreateOffer(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.createOffer(w, r, "", body)
}

func (s *Server) handlePartnerOffers(w http.ResponseWriter, r *http.Request, partnerID string, _ []byte) {
	rs, ok := s.rewards(w)
	if !ok {
		return
	}
	offers, err := rs.Offers(r.Context(), reward.OfferFilter{Partner: partnerID})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"offers": offers})
}

func (s *Server) handlePartnerVoucher(w http.ResponseWriter, r *http.Request, partnerID string, _ []byte) {
	rs, ok := s.rewards(w)
	if !ok {
		return
	}
	v, err := rs.CheckVoucher(r.Context(), partnerID, r.PathValue("code"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handlePartnerUseVoucher(w http.ResponseWriter, r *http.Request, partnerID string, _ []byte) {
	rs, ok := s.rewards(w)
	if !ok {
		return
	}
	v, err := rs.UseVoucher(r.Context(), partnerID, r.PathValue("code"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

type budgetRequest struct {
	AmountFen int64 `json:"amount_fen"`
}

func (s *Server) handleAdminBudget(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.rewards(w)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, r, oc.Errorf(oc.ENotFound, "no offer %q", r.PathValue("id")))
		return
	}
	var req budgetRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	o, err := rs.TopUp(r.Context(), id, req.AmountFen)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}
