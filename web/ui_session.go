package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// UI cookies. Sessions are stateless and server-verifiable: the value is
// kind, expiry, a random session id and the subject, MACed with the UI key
// (HMAC-SHA256). A person session and a console session are separate
// cookies, so an operator can try the person app in the same browser.
const (
	cookiePerson  = "oc_session"
	cookieConsole = "oc_console"
	cookieCSRF    = "oc_csrf"
	cookieLang    = "oc_lang"

	personSessionTTL  = 12 * time.Hour
	consoleSessionTTL = 8 * time.Hour
)

// Session kinds.
const (
	kindPerson   = "p"
	kindAdmin    = "a"
	kindReviewer = "r"
)

// uiSession is a verified session cookie.
type uiSession struct {
	Kind    string
	ID      string // random, binds the CSRF token
	Subject string // person id, reviewer id, or "admin"
	Expires time.Time
}

func (rt *uiRuntime) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, rt.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// encodeSession returns the cookie value of sess.
func (rt *uiRuntime) encodeSession(sess uiSession) string {
	return rt.encodeSessionBound(sess, "")
}

// encodeSessionBound returns the cookie value of sess, valid only while
// bind (a credential the session came from; "" for none) stays the same.
func (rt *uiRuntime) encodeSessionBound(sess uiSession, bind string) string {
	payload := sess.Kind + "." + strconv.FormatInt(sess.Expires.Unix(), 10) + "." + sess.ID + "." +
		base64.RawURLEncoding.EncodeToString([]byte(sess.Subject))
	return payload + "." + base64.RawURLEncoding.EncodeToString(rt.sessionMAC(payload, bind))
}

func (rt *uiRuntime) sessionMAC(payload, bind string) []byte {
	if bind == "" {
		return rt.mac("session", payload)
	}
	return rt.mac("session", payload, bind)
}

// strictB64 refuses non-canonical encodings, so one session has exactly
// one cookie value.
var strictB64 = base64.RawURLEncoding.Strict()

// decodeSession verifies a cookie value: MAC, expiry and shape.
func (rt *uiRuntime) decodeSession(v string, now time.Time) (uiSession, error) {
	return rt.decodeSessionBound(v, now, nil)
}

// decodeSessionBound is decodeSession for cookies made by
// encodeSessionBound: bind(kind) names the binding a session of that kind
// must carry (nil: none).
func (rt *uiRuntime) decodeSessionBound(v string, now time.Time, bind func(kind string) string) (uiSession, error) {
	bad := errors.New("ui: bad session cookie")
	i := strings.LastIndexByte(v, '.')
	if i < 0 || len(v) > 1024 {
		return uiSession{}, bad
	}
	payload, sig := v[:i], v[i+1:]
	b := ""
	if bind != nil {
		kind, _, _ := strings.Cut(payload, ".")
		b = bind(kind)
	}
	got, err := strictB64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, rt.sessionMAC(payload, b)) {
		return uiSession{}, bad
	}
	f := strings.Split(payload, ".")
	if len(f) != 4 {
		return uiSession{}, bad
	}
	exp, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || now.Unix() >= exp {
		return uiSession{}, errors.New("ui: session expired")
	}
	sub, err := strictB64.DecodeString(f[3])
	if err != nil || len(sub) == 0 {
		return uiSession{}, bad
	}
	return uiSession{Kind: f[0], ID: f[2], Subject: string(sub), Expires: time.Unix(exp, 0)}, nil
}

// readSession returns the verified session in cookie name, if any.
func (s *Server) readSession(r *http.Request, name string) (uiSession, bool) {
	c, err := r.Cookie(name)
	if err != nil || s.ui == nil {
		return uiSession{}, false
	}
	sess, err := s.ui.decodeSessionBound(c.Value, time.Now(), s.sessionBinding)
	if err != nil {
		return uiSession{}, false
	}
	return sess, true
}

// sessionBinding is what a session of kind stays bound to: an admin
// console session to the admin token it was started with, so rotating (or
// removing) the token ends it at once.
func (s *Server) sessionBinding(kind string) string {
	if kind == kindAdmin {
		return "admin-token\x00" + s.AdminToken
	}
	return ""
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else if maxAge < 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// startSession sets a new session cookie of kind for subject, valid for
// the kind's session length or until notAfter, whichever comes first (a
// person session ends no later than the platform token it came from).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, rq *uiReq, kind, subject string, notAfter time.Time) {
	name, ttl := cookiePerson, personSessionTTL
	if kind != kindPerson {
		name, ttl = cookieConsole, consoleSessionTTL
	}
	if !notAfter.IsZero() {
		ttl = min(ttl, time.Until(notAfter))
	}
	sess := uiSession{Kind: kind, ID: newID(12), Subject: subject, Expires: time.Now().Add(ttl)}
	setCookie(w, r, name, s.ui.encodeSessionBound(sess, s.sessionBinding(kind)), ttl)
	if kind == kindPerson {
		rq.person = &sess
	} else {
		rq.console = &sess
	}
}

// endSession clears the session cookie name.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, rq *uiReq, name string) {
	setCookie(w, r, name, "", -1)
	if name == cookiePerson {
		rq.person = nil
	} else {
		rq.console = nil
	}
}

// uiReq is the UI state of one request.
type uiReq struct {
	id      string
	lang    string
	person  *uiSession
	console *uiSession
	csrfKey string // the oc_csrf cookie value
	rt      *uiRuntime
}

// csrfToken is the double-submit token: a MAC over the oc_csrf cookie and
// the ids of the current sessions, so a token is useless without the
// cookie and stops working when a session starts or ends.
func (rq *uiReq) csrfToken() string {
	var p, c string
	if rq.person != nil {
		p = rq.person.ID
	}
	if rq.console != nil {
		c = rq.console.ID
	}
	return hex.EncodeToString(rq.rt.mac("csrf", rq.csrfKey, p, c)[:20])
}

// fill sets the layout fields of a view.
func (rq *uiReq) fill(b *uiPage) {
	b.Lang = rq.lang
	b.cat = rq.rt.catalog[rq.lang]
	b.CSRF = rq.csrfToken()
	b.RequestID = rq.id
	if b.Console {
		b.SignedIn = rq.console != nil
		if rq.console != nil {
			b.Who = rq.console.Subject
		}
	} else {
		b.SignedIn = rq.person != nil
		if rq.person != nil {
			b.Who = rq.person.Subject
		}
	}
}

// contentSecurityPolicy allows only this origin's scripts, styles and
// images; no inline script or style, no framing, forms post only here.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// maxForm bounds a UI form body.
const maxForm = 64 << 10

// uiHandler wraps a UI handler: security headers, request id, language, sessions,
// the CSRF cookie, and on POST the CSRF check before the handler runs.
func (s *Server) uiHandler(h func(w http.ResponseWriter, r *http.Request, rq *uiReq)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		rq := &uiReq{id: newID(8), rt: s.ui, lang: uiLangs[0]}
		hd.Set("X-Request-Id", rq.id)
		if c, err := r.Cookie(cookieLang); err == nil && contains(uiLangs, c.Value) {
			rq.lang = c.Value
		}
		if sess, ok := s.readSession(r, cookiePerson); ok && sess.Kind == kindPerson {
			rq.person = &sess
		}
		if sess, ok := s.readSession(r, cookieConsole); ok && sess.Kind != kindPerson {
			rq.console = &sess
		}
		if c, err := r.Cookie(cookieCSRF); err == nil && len(c.Value) == 32 {
			rq.csrfKey = c.Value
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil || rq.csrfKey == "" ||
				subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(rq.csrfToken())) != 1 {
				s.uiStatus(w, r, rq, http.StatusForbidden, "error.csrf")
				return
			}
		} else if rq.csrfKey == "" {
			rq.csrfKey = newID(16)
			setCookie(w, r, cookieCSRF, rq.csrfKey, 0)
		}
		h(w, r, rq)
	}
}

// localPath returns p if it is a path on this site, else "/".
func localPath(p string) string {
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(p, "//") || strings.Contains(p, "\\") {
		return "/"
	}
	return u.RequestURI()
}

// see redirects with 303 See Other (after a POST, or to sign in).
func see(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}
