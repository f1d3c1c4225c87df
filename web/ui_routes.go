package web

import (
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/account"
)

// registerUIRoutes parses the UI templates and catalogs (a failure is a
// programming error caught by the tests, so it panics at start-up) and
// registers the person app at / and the console at /console.
func (s *Server) registerUIRoutes() {
	rt, err := newUIRuntime(s.PersonTokenKey)
	if err != nil {
		panic(err)
	}
	s.ui = rt
	s.sessionPerson = func(r *http.Request) (string, bool) {
		sess, ok := s.readSession(r, cookiePerson)
		return sess.Subject, ok && sess.Kind == kindPerson
	}
	static, _ := fs.Sub(uiStaticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	s.mux.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
	s.mux.HandleFunc("GET /lang/{lang}", s.uiHandler(s.pageLang))
	s.mux.HandleFunc("GET /signin", s.uiHandler(s.pageSignInPage))
	s.mux.HandleFunc("POST /signin", s.uiHandler(s.pageSignIn))
	s.mux.HandleFunc("POST /signout", s.uiHandler(s.pageSignOut))
	s.registerPersonPages()
	s.registerConsolePages()
}

func (s *Server) pageLang(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	lang := r.PathValue("lang")
	if !contains(uiLangs, lang) {
		s.uiStatus(w, r, rq, http.StatusNotFound, "error.not_found")
		return
	}
	setCookie(w, r, cookieLang, lang, 365*24*time.Hour)
	see(w, r, localPath(r.URL.Query().Get("back")))
}

type signInView struct {
	uiPage
	Demo   []account.DemoPerson
	Next   string
	Failed bool
}

func (s *Server) pageSignInPage(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	v := &signInView{uiPage: uiPage{TitleKey: "signin.title"}, Next: localPath(r.URL.Query().Get("next"))}
	if s.Demo {
		v.Demo = account.DemoPeople
	}
	s.render(w, r, rq, http.StatusOK, "signin", v)
}

// pageSignIn turns a host-platform person token (or, in demo mode, a demo
// person) into a person session.
func (s *Server) pageSignIn(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	person, notAfter := "", time.Time{}
	if demo := r.PostForm.Get("demo"); demo != "" && s.Demo {
		for _, p := range account.DemoPeople {
			if p.Person == demo {
				person = p.Person
			}
		}
	} else if tok := r.PostForm.Get("token"); tok != "" {
		p, err := personFromToken(s.PersonTokenKey, tok)
		if err == nil {
			person, notAfter = p, tokenExpiry(tok)
		}
	}
	if person == "" {
		v := &signInView{uiPage: uiPage{TitleKey: "signin.title", Flash: "signin.failed"}, Next: localPath(r.PostForm.Get("next")), Failed: true}
		if s.Demo {
			v.Demo = account.DemoPeople
		}
		s.render(w, r, rq, http.StatusUnauthorized, "signin", v)
		return
	}
	s.startSession(w, r, rq, kindPerson, person, notAfter)
	see(w, r, localPath(r.PostForm.Get("next")))
}

func (s *Server) pageSignOut(w http.ResponseWriter, r *http.Request, rq *uiReq) {
	if r.PostForm.Get("console") != "" {
		s.endSession(w, r, rq, cookieConsole)
		see(w, r, "/console/signin")
		return
	}
	s.endSession(w, r, rq, cookiePerson)
	see(w, r, "/signin")
}

type errorView struct {
	uiPage
	MessageKey string
	Status     int
}

// uiStatus renders the friendly error page with a catalog message.
func (s *Server) uiStatus(w http.ResponseWriter, r *http.Request, rq *uiReq, status int, key string) {
	v := &errorView{uiPage: uiPage{TitleKey: "error.title"}, MessageKey: key, Status: status}
	v.Console = len(r.URL.Path) >= 8 && r.URL.Path[:8] == "/console"
	s.render(w, r, rq, status, "error", v)
}

// uiFail shows err to the person as a friendly page: a domain error by its
// code's catalog message (or a generic one), anything else as an internal
// error whose cause goes to the log with the request id only.
func (s *Server) uiFail(w http.ResponseWriter, r *http.Request, rq *uiReq, err error) {
	code := oc.ErrorCode(err)
	var ocErr *oc.Error
	if code == "" || code == oc.EInternal || !errors.As(err, &ocErr) {
		s.Logger.Error("ui: internal error", "request_id", rq.id, "method", r.Method, "path", r.URL.Path, "err", err)
		s.uiStatus(w, r, rq, http.StatusInternalServerError, "error.internal")
		return
	}
	key := "error." + code
	if _, ok := rq.rt.catalog[rq.lang][key]; !ok {
		key = "error.generic"
	}
	s.uiStatus(w, r, rq, StatusOf(code), key)
}

// signInFirst sends a visitor without a person session to the sign-in page.
func signInFirst(w http.ResponseWriter, r *http.Request) {
	see(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()))
}

// tokenExpiry reads the exp of a token personFromToken has verified.
func tokenExpiry(tok string) time.Time {
	claims := &jwt.RegisteredClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil || claims.ExpiresAt == nil {
		return time.Time{}
	}
	return claims.ExpiresAt.Time
}
