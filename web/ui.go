package web

// The server-rendered web UI: a person's carbon account (mobile-first, zh
// default, en selectable) and the operator/reviewer console. Templates are
// parsed once at start-up from embedded files into one set per page (layout
// + partials + page) and executed with typed view structs; every visible
// string comes from a message catalog (web/i18n). See docs/ui.md.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"sync"
)

//go:embed templates/*.html
var uiTemplateFS embed.FS

//go:embed static
var uiStaticFS embed.FS

//go:embed i18n/*.json
var uiCatalogFS embed.FS

// uiLangs are the UI languages; the first is the default.
var uiLangs = []string{"zh", "en"}

// uiRuntime is what the UI parses and derives once at start-up.
type uiRuntime struct {
	pages   map[string]*template.Template // page name → layout + partials + page
	catalog map[string]map[string]string  // lang → key → text
	key     []byte                        // session and CSRF MAC key
	stats   *creditStats                  // console dashboard counts
}

// newUIRuntime parses every template and catalog; it fails on a missing
// file, a template error or a catalog key missing in one language.
func newUIRuntime(sessionSeed []byte) (*uiRuntime, error) {
	rt := &uiRuntime{pages: map[string]*template.Template{}, catalog: map[string]map[string]string{}, stats: newCreditStats()}
	for _, lang := range uiLangs {
		b, err := uiCatalogFS.ReadFile("i18n/" + lang + ".json")
		if err != nil {
			return nil, fmt.Errorf("ui catalog %s: %w", lang, err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("ui catalog %s: %w", lang, err)
		}
		rt.catalog[lang] = m
	}
	for k := range rt.catalog[uiLangs[0]] {
		for _, lang := range uiLangs[1:] {
			if _, ok := rt.catalog[lang][k]; !ok {
				return nil, fmt.Errorf("ui catalog %s: key %q missing", lang, k)
			}
		}
	}
	shared := []string{"templates/layout.html", "templates/partials.html", "templates/charts.html"}
	names, err := fs.Glob(uiTemplateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if contains(shared, n) {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		t, err := template.New(name).Funcs(uiFuncs).ParseFS(uiTemplateFS, append(append([]string{}, shared...), n)...)
		if err != nil {
			return nil, fmt.Errorf("ui template %s: %w", name, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("ui template %s defines no content", name)
		}
		rt.pages[name] = t
	}
	// The MAC key is derived from the person-token key, so sessions survive
	// a restart and several instances agree; without one, a random key.
	if len(sessionSeed) == 0 {
		sessionSeed = make([]byte, 32)
		rand.Read(sessionSeed)
	}
	m := hmac.New(sha256.New, sessionSeed)
	m.Write([]byte("opencarbon ui session v1"))
	rt.key = m.Sum(nil)
	return rt, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// uiFuncs are the template helpers; none produces unescaped HTML.
var uiFuncs = template.FuncMap{
	"add":   func(a, b int) int { return a + b },
	"grams": fmtMass,
	"yuan":  func(fen int64) string { return fmt.Sprintf("¥%d.%02d", fen/100, fen%100) },
	"offerList": func(rows []offerRow, heading string, v *rewardsView) offerSection {
		return offerSection{Rows: rows, Heading: heading, Page: v}
	},
	"localTime": func(s string) string { return strings.Replace(s, "T", " ", 1) },
	"pct": func(v, total int64) int {
		if total <= 0 {
			return 0
		}
		return int(v * 100 / total)
	},
}

// fmtMass renders mg for people: "850 mg", "11.1 g", "2.50 kg". Digits
// beyond those shown are cut, never rounded up, so a page never shows more
// reduction than the ledger holds.
func fmtMass(mg int64) string {
	neg := ""
	if mg < 0 {
		neg, mg = "-", -mg
	}
	switch {
	case mg < 1000:
		return fmt.Sprintf("%s%d mg", neg, mg)
	case mg < 1_000_000:
		return fmt.Sprintf("%s%d.%d g", neg, mg/1000, mg/100%10)
	default:
		return fmt.Sprintf("%s%d.%02d kg", neg, mg/1_000_000, mg/10_000%100)
	}
}

// uiPage is the part of every view that the layout uses. Views embed it
// and are passed by pointer, so templates can call .T.
type uiPage struct {
	Lang      string
	TitleKey  string // catalog key of the page title
	Nav       string // active navigation item
	CSRF      string // token for every POST form
	Console   bool   // console layout (operator navigation)
	SignedIn  bool
	Who       string // who is signed in, as shown in the header
	Path      string // current path, for the language switch
	RequestID string
	Flash     string // catalog key of a one-time notice
	Secret    string // a secret shown once (partner registration/rotation)
	cat       map[string]string
}

// T returns the catalog text for key, formatted with args. A key missing
// from the catalog shows as itself, so it is visible and caught by tests.
func (p *uiPage) T(key string, args ...any) string {
	s, ok := p.cat[key]
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// OtherLang is the language the switch offers.
func (p *uiPage) OtherLang() string {
	if p.Lang == "en" {
		return "zh"
	}
	return "en"
}

type pageView interface{ base() *uiPage }

func (p *uiPage) base() *uiPage { return p }

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render executes page with v into a buffer and writes it; a template error
// becomes the error page (the cause is logged with the request id).
func (s *Server) render(w http.ResponseWriter, r *http.Request, rq *uiReq, status int, page string, v pageView) {
	t, ok := s.ui.pages[page]
	if !ok {
		s.uiFail(w, r, rq, fmt.Errorf("ui: no template %q", page))
		return
	}
	b := v.base()
	rq.fill(b)
	if _, ok := b.cat[b.Flash]; !ok {
		b.Flash = "" // only catalog notices, never text from the URL
	}
	b.Path = "/"
	if r.Method == http.MethodGet {
		b.Path = r.URL.RequestURI()
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := t.ExecuteTemplate(buf, "layout", v); err != nil {
		if page == "error" {
			http.Error(w, "Internal error. Request id "+rq.id, http.StatusInternalServerError)
			return
		}
		s.uiFail(w, r, rq, fmt.Errorf("ui: render %s: %w", page, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func newID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
