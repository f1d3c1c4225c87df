package web

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	oc "github.com/opencarbon/opencarbon"
)

// statusByCode maps every stable error code to its HTTP status. A code
// missing here is answered 400; a non-*oc.Error is 500 "Internal error.".
var statusByCode = map[string]int{
	oc.EInternal:   http.StatusInternalServerError,
	oc.EInvalid:    http.StatusBadRequest,
	oc.EBadRequest: http.StatusBadRequest,
	oc.ENotFound:   http.StatusNotFound,
	oc.EConflict:   http.StatusConflict,
	oc.ETooLarge:   http.StatusRequestEntityTooLarge,
	oc.EForbidden:  http.StatusForbidden,
	oc.EUnauthed:   http.StatusUnauthorized,

	oc.EUnknownPartner:   http.StatusUnauthorized,
	oc.EInvalidSignature: http.StatusUnauthorized,
	oc.EStaleTimestamp:   http.StatusUnauthorized,
	oc.ENonceReused:      http.StatusUnauthorized,
	oc.EMissingAuth:      http.StatusUnauthorized,
	oc.EMissingScope:     http.StatusForbidden,
	oc.EPartnerSuspended: http.StatusForbidden,
	oc.EInvalidToken:     http.StatusUnauthorized,
	oc.ETokenExpired:     http.StatusUnauthorized,

	oc.ENoConsent:        http.StatusForbidden,
	oc.EPartnerNotLinked: http.StatusForbidden,
	oc.EAccountErased:    http.StatusGone,

	oc.EUnknownBehavior:    http.StatusUnprocessableEntity,
	oc.ENotApplicable:      http.StatusUnprocessableEntity,
	oc.EParamOutOfRange:    http.StatusUnprocessableEntity,
	oc.EMissingEvidence:    http.StatusUnprocessableEntity,
	oc.ECapReached:         http.StatusUnprocessableEntity,
	oc.EExcludedBy:         http.StatusUnprocessableEntity,
	oc.EFuture:             http.StatusUnprocessableEntity,
	oc.ETooOld:             http.StatusUnprocessableEntity,
	oc.EDuplicate:          http.StatusConflict,
	oc.EEventConflict:      http.StatusConflict,
	oc.EReporterNotAllowed: http.StatusForbidden,
	oc.ENotCredited:        http.StatusConflict,

	oc.EInsufficientPoints: http.StatusConflict,
	oc.EOutOfStock:         http.StatusConflict,
	oc.ELimitReached:       http.StatusConflict,
	oc.EOfferExpired:       http.StatusConflict,
	oc.EBudgetExhausted:    http.StatusConflict,
	oc.EVoucherUsed:        http.StatusConflict,

	oc.EIllegalTransition: http.StatusConflict,
	oc.EQuorumNotMet:      http.StatusConflict,
	oc.EVectorsFailing:    http.StatusConflict,
	oc.EImmutable:         http.StatusConflict,
	oc.ESelfReview:        http.StatusForbidden,
	oc.EInvalidUnit:       http.StatusBadRequest,

	oc.ECampaignClosed: http.StatusConflict,
	oc.ERegionLocked:   http.StatusConflict,
	oc.ENotEligible:    http.StatusUnprocessableEntity,
}

// StatusOf returns the HTTP status for an error code.
func StatusOf(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusBadRequest
}

// ErrorBody is the JSON shape of every error answer.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError answers err as {"error":{"code","message"}}. Internal errors
// are logged with their cause and shown as "Internal error.".
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := oc.ErrorCode(err)
	if code == "" || code == oc.EInternal {
		code = oc.EInternal
		slog.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var body ErrorBody
	body.Error.Code = code
	body.Error.Message = oc.ErrorMessage(err)
	writeJSON(w, StatusOf(code), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

// MaxBody is the largest request body accepted (a 1000-event batch fits).
const MaxBody = 4 << 20

// readBody reads at most MaxBody bytes of r's body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, oc.Errorf(oc.ETooLarge, "request body is larger than %d bytes", MaxBody)
		}
		return nil, oc.Errorf(oc.EBadRequest, "cannot read request body")
	}
	return b, nil
}

// decodeStrict decodes one JSON value from b into v, refusing unknown
// fields, trailing data and invalid UTF-8 with EInvalid.
func decodeStrict(b []byte, v any) error {
	if !utf8.Valid(b) {
		return oc.Errorf(oc.EInvalid, "request body is not valid UTF-8")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return oc.Errorf(oc.EInvalid, "invalid JSON body: %s", jsonProblem(err))
	}
	if dec.More() {
		return oc.Errorf(oc.EInvalid, "invalid JSON body: trailing data after the object")
	}
	return nil
}

// decodeJSON reads and strictly decodes the request body into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	return decodeStrict(b, v)
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field " + te.Field + " must be " + te.Type.String()
	}
	if errors.Is(err, io.EOF) {
		return "empty body"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
