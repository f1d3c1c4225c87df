// Package opencarbon holds the vocabulary shared by every OpenCarbon package:
// the Error type and its stable machine codes.
//
// It must never import another package of this module, nor any driver or
// HTTP package: it is the leaf every other package stands on.
package opencarbon

import (
	"errors"
	"fmt"
)

// Stable error codes. They appear in the JSON API as {"error":{"code":...}}
// and must never change meaning once released. web.StatusOf maps each to an
// HTTP status; a code missing from that table is answered as 400.
const (
	// Generic.
	EInternal   = "internal"
	EInvalid    = "invalid"
	ENotFound   = "not_found"
	EConflict   = "conflict"
	ETooLarge   = "body_too_large"
	EForbidden  = "forbidden"
	EUnauthed   = "unauthorized"
	EBadRequest = "bad_request"

	// Partner request authentication (see DESIGN.md, signature scheme).
	EUnknownPartner   = "unknown_partner"
	EInvalidSignature = "invalid_signature"
	EStaleTimestamp   = "stale_timestamp"
	ENonceReused      = "nonce_reused"
	EMissingScope     = "missing_scope"
	EMissingAuth      = "missing_auth"
	EPartnerSuspended = "partner_suspended" // the partner is suspended by an operator

	// Person token.
	EInvalidToken = "invalid_token"
	ETokenExpired = "token_expired"

	// Accounts and consent.
	ENoConsent        = "no_consent"
	EPartnerNotLinked = "partner_not_linked"
	EAccountErased    = "account_erased"

	// Intake.
	EUnknownBehavior    = "unknown_behavior"
	ENotApplicable      = "not_applicable"
	EParamOutOfRange    = "param_out_of_range"
	EMissingEvidence    = "missing_evidence"
	ECapReached         = "cap_reached"
	EExcludedBy         = "excluded_by"
	EFuture             = "occurred_in_future"
	ETooOld             = "too_old"
	EDuplicate          = "duplicate"
	EEventConflict      = "event_id_conflict"
	EReporterNotAllowed = "reporter_not_allowed"
	ENotCredited        = "not_credited"

	// Rewards.
	EInsufficientPoints = "insufficient_points"
	EOutOfStock         = "out_of_stock"
	ELimitReached       = "limit_reached"
	EOfferExpired       = "offer_expired"
	EBudgetExhausted    = "budget_exhausted"
	EVoucherUsed        = "voucher_used"

	// Methodology lifecycle.
	EIllegalTransition = "illegal_transition"
	EQuorumNotMet      = "quorum_not_met"
	EVectorsFailing    = "test_vectors_failing"
	EImmutable         = "immutable"
	ESelfReview        = "self_review"
	EInvalidUnit       = "invalid_unit" // a unit string that does not parse (e.g. a factor's "gCO2e per order")

	// Campaigns.
	ECampaignClosed = "campaign_closed"
	ERegionLocked   = "region_locked"
	ENotEligible    = "not_eligible"
)

// Error is a domain error with a stable machine code and a message that is
// safe to show to the caller. Anything that is not an *Error is internal.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal
// for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the caller-safe message of err: the message of an
// *Error, or "Internal error." for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
