package web

import (
	"crypto/subtle"
	"net/http"
	"strings"

	oc "github.com/opencarbon/opencarbon"
)

// bearer returns the token of an "Authorization: Bearer ..." header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}

// checkAdmin verifies the admin bearer token in constant time.
func (s *Server) checkAdmin(r *http.Request) error {
	t, ok := bearer(r)
	if !ok {
		return oc.Errorf(oc.EMissingAuth, "admin calls need Authorization: Bearer <admin token>")
	}
	if s.AdminToken == "" || subtle.ConstantTimeCompare([]byte(t), []byte(s.AdminToken)) != 1 {
		return oc.Errorf(oc.EUnauthed, "admin token is not valid")
	}
	return nil
}

// admin wraps h so that it runs only for a valid admin token.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkAdmin(r); err != nil {
			writeError(w, r, err)
			return
		}
		h(w, r)
	}
}
