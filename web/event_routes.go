package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
)

// registerEventRoutes registers the event intake, reversal, calc and
// footprint routes. Owned by the event feature.
//
// POST /v1/events always answers 200 with {"results":[...]}, one result
// per event in request order, also for a single event: a batch is never
// all-or-nothing, so each event carries its own status. Only a body that is
// not an event at all (or a failure of the whole request) is an error.
func (s *Server) registerEventRoutes() {
	s.mux.HandleFunc("POST /v1/events", s.signedEvents("events:write"))
	s.mux.HandleFunc("POST /v1/events/{event_id}/reversal", s.signed("events:reverse", s.handleReversal))
	s.mux.HandleFunc("GET /v1/calcs/{calc_id}", s.handleCalc)
	s.mux.HandleFunc("GET /v1/me/footprint", s.person(s.handleFootprint))
	s.mux.HandleFunc("GET /v1/me/entries", s.person(s.handleEntries))
}

func (s *Server) intakeReady(w http.ResponseWriter, r *http.Request) bool {
	if s.Intake == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{"code": oc.EInternal, "message": "event intake is not configured"}})
		return false
	}
	return true
}

// deferredAuth is a PartnerAuth that can leave the nonce of a verified
// request to be recorded with the request's writes (*partner.Service).
type deferredAuth interface {
	VerifyDeferred(ctx context.Context, method, pathWithQuery string, h http.Header, body []byte, scope string) (string, partner.NonceClaim, error)
}

// signedEvents verifies a POST /v1/events request like signed, but with a
// PartnerAuth that can defer it, the nonce is recorded by the intake writer
// in the group commit that precedes the events (one wait for the single
// writer instead of two): a replay is still refused with nonce_reused
// before any of its events is looked at, and the nonce is durable before
// the answer. A request refused before that (bad body, missing scope)
// changes nothing, so its nonce is not kept.
func (s *Server) signedEvents(scope string) http.HandlerFunc {
	plain := s.signed(scope, func(w http.ResponseWriter, r *http.Request, partner string, body []byte) {
		s.handleEvents(w, r, partner, body, nil)
	})
	return func(w http.ResponseWriter, r *http.Request) {
		da, ok := s.Partners.(deferredAuth)
		if !ok || s.Intake == nil {
			plain(w, r)
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		id, claim, err := da.VerifyDeferred(r.Context(), r.Method, r.URL.RequestURI(), r.Header, body, scope)
		if err != nil {
			writeError(w, r, err)
			return
		}
		s.handleEvents(w, r, id, body, nonceGuard(claim))
	}
}

// nonceGuard is a partner nonce claim as an intake guard: the nonces of
// a group commit's requests are recorded in one statement.
type nonceGuard partner.NonceClaim

func (nonceGuard) ClaimAll(ctx context.Context, tx *store.Tx, gs []intake.Guard) ([]error, error) {
	claims := make([]partner.NonceClaim, len(gs))
	for i, g := range gs {
		claims[i] = partner.NonceClaim(g.(nonceGuard))
	}
	res, err := partner.ClaimNoncesTx(ctx, tx, claims)
	if err != nil {
		return nil, fmt.Errorf("record nonces: %w", err)
	}
	return res, nil
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, partner string, body []byte, guard intake.Guard) {
	if !s.intakeReady(w, r) {
		return
	}
	evs, err := intake.Decode(body, r.Header.Get("Content-Type"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out, err := s.Intake.SubmitGuarded(r.Context(), partner, evs, guard)
	if err != nil && r.Context().Err() != nil {
		// The client went away. Events already handed to a writer are
		// still processed; a retry is answered from memory.
		return
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
}

func (s *Server) handleReversal(w http.ResponseWriter, r *http.Request, partner string, body []byte) {
	if !s.intakeReady(w, r) {
		return
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if err := decodeStrict(body, &req); err != nil {
		writeError(w, r, err)
		return
	}
	rv, err := s.Intake.Reverse(r.Context(), partner, r.PathValue("event_id"), req.Reason)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rv)
}

// handleCalc shows a calc record to the person it credited, or to a
// verifier: the admin token or a methodology reviewer's token (reviewers
// check methodologies and the calcs made with them). Anyone else gets
// not_found, so ids reveal nothing.
func (s *Server) handleCalc(w http.ResponseWriter, r *http.Request) {
	if !s.intakeReady(w, r) {
		return
	}
	verifier := s.checkAdmin(r) == nil || s.isReviewer(r)
	var person string
	if !verifier {
		p, err := s.personOf(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		person = p
	}
	lang := r.URL.Query().Get("lang")
	if lang == "" && strings.HasPrefix(r.Header.Get("Accept-Language"), "zh") {
		lang = "zh"
	}
	v, err := s.Intake.Calc(r.Context(), r.PathValue("calc_id"), lang)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if !verifier {
		acct, err := s.accountOf(r, person)
		if err != nil || acct != v.AccountID {
			writeError(w, r, oc.Errorf(oc.ENotFound, "no calc record %q", r.PathValue("calc_id")))
			return
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// isReviewer reports whether the bearer token is a methodology reviewer's.
func (s *Server) isReviewer(r *http.Request) bool {
	t, ok := bearer(r)
	if !ok || s.Methodologies == nil || strings.Count(t, ".") == 2 {
		return false // a JWT is a person token
	}
	rv, err := s.Methodologies.Authenticate(r.Context(), t)
	return err == nil && rv.Has(methodology.RoleReviewer)
}

func (s *Server) accountOf(r *http.Request, person string) (int64, error) {
	if s.Accounts == nil {
		return 0, oc.Errorf(oc.EInternal, "accounts are not configured")
	}
	return s.Accounts.AccountID(r.Context(), person)
}

// handleFootprint: from and to are local dates (YYYY-MM-DD, Asia/Shanghai)
// or RFC 3339 times, inclusive; the default is the last 30 days.
func (s *Server) handleFootprint(w http.ResponseWriter, r *http.Request, person string) {
	if !s.intakeReady(w, r) {
		return
	}
	acct, err := s.accountOf(r, person)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	loc := methodology.DefaultLocation
	to := time.Now().In(loc)
	if v := q.Get("to"); v != "" {
		if to, err = parseDay(v); err != nil {
			writeError(w, r, err)
			return
		}
	}
	from := to.AddDate(0, 0, -29)
	if v := q.Get("from"); v != "" {
		if from, err = parseDay(v); err != nil {
			writeError(w, r, err)
			return
		}
	}
	fp, err := s.Intake.Footprint(r.Context(), acct, from, to, q.Get("by"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, fp)
}

func parseDay(v string) (time.Time, error) {
	loc := methodology.DefaultLocation
	if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.In(loc), nil
	}
	return time.Time{}, oc.Errorf(oc.EInvalid, "dates are YYYY-MM-DD or RFC 3339, got %q", v)
}

func (s *Server) handleEntries(w http.ResponseWriter, r *http.Request, person string) {
	if !s.intakeReady(w, r) {
		return
	}
	acct, err := s.accountOf(r, person)
	if err != nil {
		writeError(w, r, err)
		return
	}
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 200 {
			writeError(w, r, oc.Errorf(oc.EInvalid, "limit must be 1 to 200"))
			return
		}
	}
	entries, next, err := s.Intake.Entries(r.Context(), acct, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "next_cursor": next})
}
