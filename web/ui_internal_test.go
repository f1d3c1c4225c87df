package web

import (
	cryptotls "crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestNewBaoGrows(t *testing.T) {
	prev := newBao(0, 0, 0)
	if prev.Shell == "" || len(prev.Leaves) != 0 {
		t.Fatal("level 0 is not an egg")
	}
	for level := 1; level <= 6; level++ {
		b := newBao(level, 50, 1)
		if b.Scale <= prev.Scale || len(b.Leaves) <= len(prev.Leaves) || b.Shell != "" {
			t.Fatalf("level %d does not grow: scale %d leaves %d", level, b.Scale, len(b.Leaves))
		}
		if b.Crown != (level >= 5) {
			t.Fatalf("level %d crown %v", level, b.Crown)
		}
		prev = b
	}
	if b := newBao(3, 250, 0); b.Progress != 100 {
		t.Fatalf("progress not clamped: %d", b.Progress)
	}
}

func TestFmtMass(t *testing.T) {
	for _, c := range []struct {
		mg   int64
		want string
	}{
		{0, "0 mg"}, {999, "999 mg"}, {1000, "1.0 g"}, {33390, "33.3 g"}, {999999, "999.9 g"},
		{1_000_000, "1.00 kg"}, {2_509_999, "2.50 kg"}, {-11130, "-11.1 g"},
	} {
		if got := fmtMass(c.mg); got != c.want {
			t.Errorf("fmtMass(%d) = %q, want %q", c.mg, got, c.want)
		}
	}
}

func TestLineDiff(t *testing.T) {
	a := strings.Split("a\nb\nc\nd\ne\nf\ng\nh\ni\nj", "\n")
	b := strings.Split("a\nb\nC\nd\ne\nf\ng\nh\ni\nj\nk", "\n")
	var ops []string
	for _, l := range lineDiff(a, b) {
		if l.Op != " " {
			ops = append(ops, l.Op+l.Text)
		}
	}
	if strings.Join(ops, ",") != "-c,+C,+k" && strings.Join(ops, ",") != "+C,-c,+k" {
		t.Fatalf("diff %v", ops)
	}
}

func TestSession(t *testing.T) {
	rt, err := newUIRuntime([]byte("seed"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	v := rt.encodeSession(uiSession{Kind: kindPerson, ID: "abc", Subject: "p.1", Expires: now.Add(time.Hour)})
	t.Run("OK", func(t *testing.T) {
		s, err := rt.decodeSession(v, now)
		if err != nil || s.Subject != "p.1" || s.Kind != kindPerson {
			t.Fatalf("%+v %v", s, err)
		}
	})
	t.Run("ErrExpired", func(t *testing.T) {
		if _, err := rt.decodeSession(v, now.Add(2*time.Hour)); err == nil {
			t.Fatal("expired session accepted")
		}
	})
	t.Run("ErrOtherKey", func(t *testing.T) {
		other, _ := newUIRuntime([]byte("other seed"))
		if _, err := other.decodeSession(v, now); err == nil {
			t.Fatal("session of another key accepted")
		}
	})
	t.Run("ErrEdited", func(t *testing.T) {
		forged := strings.Replace(v, "p.", "a.", 1)
		if _, err := rt.decodeSession(forged, now); err == nil {
			t.Fatal("edited session accepted")
		}
	})
}

// FuzzDecodeSession: no cookie value makes decodeSession panic, and only
// values it produced itself verify.
func FuzzDecodeSession(f *testing.F) {
	rt, err := newUIRuntime([]byte("seed"))
	if err != nil {
		f.Fatal(err)
	}
	good := rt.encodeSession(uiSession{Kind: kindPerson, ID: "abc", Subject: "p", Expires: time.Now().Add(time.Hour)})
	f.Add(good)
	f.Add("p.1.a.cA.")
	f.Add("....")
	f.Fuzz(func(t *testing.T, v string) {
		s, err := rt.decodeSession(v, time.Now())
		if err == nil && rt.encodeSession(s) != v && v != good {
			// A different encoding verifying would mean a MAC collision.
			t.Fatalf("foreign value %q verified as %+v", v, s)
		}
	})
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/history?x=1": "/history?x=1", "//evil.example/": "/", "https://evil.example/": "/",
		"history": "/", "/\\evil": "/", "": "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSessionCookieFlags(t *testing.T) {
	for _, tls := range []bool{false, true} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tls {
			r.TLS = &cryptotls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		setCookie(w, r, cookiePerson, "v", time.Hour)
		c := w.Header().Get("Set-Cookie")
		if !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") || strings.Contains(c, "Secure") != tls {
			t.Errorf("tls=%v: cookie %q", tls, c)
		}
	}
}

func TestParseYuan(t *testing.T) {
	for in, want := range map[string]int64{"12": 1200, "12.5": 1250, "12.50": 1250, "0.01": 1, " 3 ": 300} {
		if got, ok := parseYuan(in); !ok || got != want {
			t.Errorf("parseYuan(%q) = %d %v, want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "0", "0.00", "-1", "1.234", "abc", "1e3", ".5", "1.", "9999999999999"} {
		if got, ok := parseYuan(in); ok {
			t.Errorf("parseYuan(%q) = %d, want refusal", in, got)
		}
	}
}

func TestFlashOnlyFromCatalog(t *testing.T) {
	s := &Server{}
	s.Handler()
	for flash, want := range map[string]bool{"flash.revoked": true, "flash.you_were_hacked": false} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		rq := &uiReq{id: "x", lang: "en", rt: s.ui, csrfKey: "k"}
		s.render(w, r, rq, http.StatusOK, "pending", &pendingView{uiPage: uiPage{TitleKey: "registry.title", Flash: flash}, WhatKey: "registry.pending"})
		if got := strings.Contains(w.Body.String(), `class="flash"`); got != want {
			t.Errorf("%s: flash shown %v", flash, got)
		}
	}
}
