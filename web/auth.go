package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	oc "github.com/opencarbon/opencarbon"
)

// PartnerAuth verifies a signed partner request (DESIGN.md signature
// scheme) before its body is used, and that the partner holds scope. It
// returns the partner id, or an *oc.Error with EMissingAuth,
// EUnknownPartner, EStaleTimestamp, ENonceReused, EInvalidSignature or
// EMissingScope. pathWithQuery is the request path with its query string
// exactly as sent.
type PartnerAuth interface {
	Verify(ctx context.Context, method, pathWithQuery string, h http.Header, body []byte, scope string) (string, error)
}

// personFromToken verifies an HS256 person token (sub and exp required) with
// key and returns its subject.
func personFromToken(key []byte, token string) (string, error) {
	if len(key) == 0 {
		return "", oc.Errorf(oc.EInvalidToken, "person tokens are not enabled on this server")
	}
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(5*time.Second))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return "", oc.Errorf(oc.ETokenExpired, "person token has expired")
		}
		return "", oc.Errorf(oc.EInvalidToken, "person token is not valid")
	}
	if claims.Subject == "" || len(claims.Subject) > 128 {
		return "", oc.Errorf(oc.EInvalidToken, "person token has no usable sub")
	}
	return claims.Subject, nil
}

// MintPersonToken returns an HS256 person token for person valid for ttl.
func MintPersonToken(key []byte, person string, ttl time.Duration) (string, error) {
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   person,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	})
	return t.SignedString(key)
}

// personOf returns the person id of a request: from the Bearer token, or
// from the UI session cookie (see the UI's session code, which sets
// sessionPerson). Errors are EMissingAuth, EInvalidToken or ETokenExpired.
func (s *Server) personOf(r *http.Request) (string, error) {
	if t, ok := bearer(r); ok {
		return personFromToken(s.PersonTokenKey, t)
	}
	if s.sessionPerson != nil {
		if p, ok := s.sessionPerson(r); ok {
			return p, nil
		}
	}
	return "", oc.Errorf(oc.EMissingAuth, "this call needs Authorization: Bearer <person token>")
}

// person wraps a handler that needs a signed-in person.
func (s *Server) person(h func(w http.ResponseWriter, r *http.Request, person string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.personOf(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		h(w, r, p)
	}
}

// signed wraps a partner handler: it reads the (size-limited) body, verifies
// the signature and scope before the body is used, and passes both on.
func (s *Server) signed(scope string, h func(w http.ResponseWriter, r *http.Request, partner string, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Partners == nil {
			writeError(w, r, oc.Errorf(oc.EInternal, "partner registry is not configured"))
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		id, err := s.Partners.Verify(r.Context(), r.Method, r.URL.RequestURI(), r.Header, body, scope)
		if err != nil {
			writeError(w, r, err)
			return
		}
		h(w, r, id, body)
	}
}
