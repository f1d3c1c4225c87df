package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/web"
)

var (
	acctKey        = []byte("person-token-key-for-tests-0123456789")
	acctAdminToken = "admin-token-for-tests"
	acctComps      = []store.Component{partner.Migrations, account.Migrations}
)

// acctEnv is a running server with the partner registry and accounts.
type acctEnv struct {
	t        testing.TB
	db       *store.DB
	srv      *web.Server
	url      string
	partners *partner.Service
}

func newAcctEnv(t testing.TB, db *store.DB, configure func(*web.Server)) *acctEnv {
	t.Helper()
	ps, err := partner.NewService(db, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"eleme", "cainiao"} {
		if _, err := ps.Register(context.Background(), partner.Registration{ID: id, Name: id, Scopes: partner.AllScopes}); err != nil {
			t.Fatal(err)
		}
	}
	srv := &web.Server{DB: db, PersonTokenKey: acctKey, AdminToken: acctAdminToken, Partners: ps, PartnerRegistry: ps, Accounts: account.NewService(db)}
	if configure != nil {
		configure(srv)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &acctEnv{t: t, db: db, srv: srv, url: ts.URL, partners: ps}
}

func personToken(t testing.TB, person string) string {
	t.Helper()
	tok, err := web.MintPersonToken(acctKey, person, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call sends a request and returns the status and the decoded JSON body.
func (e *acctEnv) call(method, path, token string, body []byte) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		e.t.Fatalf("%s %s: answer is not a JSON object: %q", method, path, b)
	}
	return res.StatusCode, out
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// acctRows counts accounts, sub-accounts and consents.
func acctRows(t testing.TB, db *store.DB) [3]int {
	t.Helper()
	var out [3]int
	for i, table := range []string{"accounts", "subaccounts", "consents"} {
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestAccountRoutes(t *testing.T) {
	storetest.Each(t, acctComps, func(t *testing.T, db *store.DB) {
		e := newAcctEnv(t, db, nil)
		tok := personToken(t, "demo-xiaoming")
		open := []byte(`{"entry_point":"search","consent_version":"2026-01","partners":["eleme"]}`)

		if st, body := e.call("GET", "/v1/me/account", tok, nil); st != 403 || errCode(body) != "no_consent" {
			t.Fatalf("GET before open = %d %v", st, body)
		}
		if got := acctRows(t, db); got != [3]int{} {
			t.Fatalf("GET before open stored %v", got)
		}
		st, body := e.call("POST", "/v1/me/account", tok, open)
		if st != 201 || body["person"] != "demo-xiaoming" || body["entry_point"] != "search" {
			t.Fatalf("open = %d %v", st, body)
		}
		if st, _ := e.call("POST", "/v1/me/account", tok, open); st != 200 {
			t.Fatalf("second open = %d, want 200", st)
		}
		if st, body := e.call("PUT", "/v1/me/partners/cainiao", tok, nil); st != 200 || body["partner"] != "cainiao" || body["linked"] != true {
			t.Fatalf("link = %d %v", st, body)
		}
		if st, body := e.call("DELETE", "/v1/me/partners/eleme", tok, nil); st != 200 || body["linked"] != false || body["revoked_at"] == nil {
			t.Fatalf("revoke = %d %v", st, body)
		}
		st, body = e.call("GET", "/v1/me/account", tok, nil)
		subs, _ := body["subaccounts"].([]any)
		if st != 200 || len(subs) != 2 {
			t.Fatalf("get = %d %v", st, body)
		}
		st, body = e.call("GET", "/v1/me/export", tok, nil)
		consents, _ := body["consents"].([]any)
		if st != 200 || body["person"] != "demo-xiaoming" || len(consents) != 4 {
			t.Fatalf("export = %d %v", st, body)
		}
		if st, body := e.call("DELETE", "/v1/me", tok, nil); st != 200 || body["status"] != "erased" {
			t.Fatalf("erase = %d %v", st, body)
		}
		for _, c := range []struct{ method, path string }{{"GET", "/v1/me/account"}, {"GET", "/v1/me/export"}, {"DELETE", "/v1/me"}, {"PUT", "/v1/me/partners/eleme"}} {
			if st, body := e.call(c.method, c.path, tok, nil); st != 403 || errCode(body) != "no_consent" {
				t.Fatalf("%s %s after erase = %d %v", c.method, c.path, st, body)
			}
		}
	})
}

func TestAccountRoutesBadInput(t *testing.T) {
	storetest.Each(t, acctComps, func(t *testing.T, db *store.DB) {
		e := newAcctEnv(t, db, nil)
		tok := personToken(t, "p1")
		tests := []struct {
			name   string
			method string
			path   string
			body   []byte
			status int
			code   string
		}{
			{"ErrUnknownField", "POST", "/v1/me/account", []byte(`{"entry_point":"search","consent_version":"v1","admin":true}`), 400, "invalid"},
			{"ErrWrongType", "POST", "/v1/me/account", []byte(`{"entry_point":"search","consent_version":"v1","partners":"eleme"}`), 400, "invalid"},
			{"ErrWrongTypeNumber", "POST", "/v1/me/account", []byte(`{"entry_point":1,"consent_version":"v1"}`), 400, "invalid"},
			{"ErrInvalidUTF8", "POST", "/v1/me/account", []byte("{\"entry_point\":\"search\",\"consent_version\":\"v\xff\"}"), 400, "invalid"},
			{"ErrEmptyBody", "POST", "/v1/me/account", nil, 400, "invalid"},
			{"ErrTrailingData", "POST", "/v1/me/account", []byte(`{"entry_point":"search","consent_version":"v1"} {}`), 400, "invalid"},
			{"ErrNotAnObject", "POST", "/v1/me/account", []byte(`["search"]`), 400, "invalid"},
			{"ErrOversize", "POST", "/v1/me/account", append([]byte(`{"entry_point":"`), bytes.Repeat([]byte("a"), web.MaxBody+1)...), 413, "body_too_large"},
			{"ErrMissingConsentVersion", "POST", "/v1/me/account", []byte(`{"entry_point":"search"}`), 400, "invalid"},
			{"ErrMissingEntryPoint", "POST", "/v1/me/account", []byte(`{"consent_version":"v1"}`), 400, "invalid"},
			{"ErrUnknownPartner", "POST", "/v1/me/account", []byte(`{"entry_point":"search","consent_version":"v1","partners":["eleme","nobody"]}`), 400, "invalid"},
			{"ErrLinkBeforeOpen", "PUT", "/v1/me/partners/eleme", nil, 403, "no_consent"},
			{"ErrRevokeBeforeOpen", "DELETE", "/v1/me/partners/eleme", nil, 403, "no_consent"},
			{"ErrExportBeforeOpen", "GET", "/v1/me/export", nil, 403, "no_consent"},
			{"ErrEraseBeforeOpen", "DELETE", "/v1/me", nil, 403, "no_consent"},
			{"ErrLinkWithBody", "PUT", "/v1/me/partners/eleme", []byte(`{"force":true}`), 400, "invalid"},
			{"ErrEraseWithBody", "DELETE", "/v1/me", []byte(`{"really":true}`), 400, "invalid"},
			{"ErrMissingPartnerID", "PUT", "/v1/me/partners/", nil, 404, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				req, _ := http.NewRequest(tc.method, e.url+tc.path, bytes.NewReader(tc.body))
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != tc.status {
					t.Fatalf("status %d (%s), want %d", res.StatusCode, b, tc.status)
				}
				if tc.code != "" {
					var body web.ErrorBody
					if err := json.Unmarshal(b, &body); err != nil || body.Error.Code != tc.code || body.Error.Message == "" {
						t.Fatalf("body %s, want code %s", b, tc.code)
					}
				}
				if got := acctRows(t, db); got != [3]int{} {
					t.Fatalf("refused call stored %v", got)
				}
			})
		}
		// Once open, bad calls on the account change nothing either.
		if st, _ := e.call("POST", "/v1/me/account", tok, []byte(`{"entry_point":"my_page","consent_version":"v1"}`)); st != 201 {
			t.Fatalf("open = %d", st)
		}
		for _, c := range []struct {
			method, path string
			status       int
			code         string
		}{
			{"PUT", "/v1/me/partners/nobody", 404, "not_found"},
			{"PUT", "/v1/me/partners/%FF", 404, "not_found"},
			{"DELETE", "/v1/me/partners/eleme", 403, "partner_not_linked"},
		} {
			if st, body := e.call(c.method, c.path, tok, nil); st != c.status || errCode(body) != c.code {
				t.Fatalf("%s %s = %d %v", c.method, c.path, st, body)
			}
		}
		if got := acctRows(t, db); got != [3]int{1, 0, 1} {
			t.Fatalf("rows %v after refused calls, want only the open", got)
		}
	})
}

func TestPersonTokenRefusals(t *testing.T) {
	db := storetest.Open(t, store.SQLite, acctComps...)
	e := newAcctEnv(t, db, nil)
	now := time.Now()
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := jwt.MapClaims{"sub": "p1", "exp": now.Add(time.Hour).Unix()}
	tests := []struct {
		name  string
		token string
		code  string
	}{
		{"ErrNoToken", "", "missing_auth"},
		{"ErrBadSignature", sign(jwt.SigningMethodHS256, []byte("another key entirely"), valid), "invalid_token"},
		{"ErrExpired", sign(jwt.SigningMethodHS256, acctKey, jwt.MapClaims{"sub": "p1", "exp": now.Add(-time.Minute).Unix()}), "token_expired"},
		{"ErrAlgNone", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid), "invalid_token"},
		{"ErrAlgHS512", sign(jwt.SigningMethodHS512, acctKey, valid), "invalid_token"},
		{"ErrNoExp", sign(jwt.SigningMethodHS256, acctKey, jwt.MapClaims{"sub": "p1"}), "invalid_token"},
		{"ErrNoSub", sign(jwt.SigningMethodHS256, acctKey, jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}), "invalid_token"},
		{"ErrLongSub", sign(jwt.SigningMethodHS256, acctKey, jwt.MapClaims{"sub": strings.Repeat("x", 129), "exp": now.Add(time.Hour).Unix()}), "invalid_token"},
		{"ErrGarbage", "not.a.jwt", "invalid_token"},
		{"ErrTamperedPayload", tamper(sign(jwt.SigningMethodHS256, acctKey, valid)), "invalid_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range []struct{ method, path string }{{"POST", "/v1/me/account"}, {"GET", "/v1/me/account"}, {"DELETE", "/v1/me"}} {
				st, body := e.call(c.method, c.path, tc.token, []byte(`{"entry_point":"search","consent_version":"v1"}`))
				if st != 401 || errCode(body) != tc.code {
					t.Fatalf("%s %s = %d %v, want 401 %s", c.method, c.path, st, body, tc.code)
				}
			}
			if got := acctRows(t, db); got != [3]int{} {
				t.Fatalf("refused token stored %v", got)
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		if st, body := e.call("POST", "/v1/me/account", sign(jwt.SigningMethodHS256, acctKey, valid), []byte(`{"entry_point":"search","consent_version":"v1"}`)); st != 201 {
			t.Fatalf("valid token = %d %v", st, body)
		}
	})
}

// tamper swaps the payload of a JWT for one naming another person.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = strings.TrimRight(jwtSeg(`{"sub":"someone-else","exp":9999999999}`), "=")
	return strings.Join(parts, ".")
}

func jwtSeg(s string) string {
	return strings.NewReplacer("+", "-", "/", "_").Replace(base64Std(s))
}

func TestAccountExtras(t *testing.T) {
	db := storetest.Open(t, store.SQLite, acctComps...)
	e := newAcctEnv(t, db, func(s *web.Server) {
		s.AccountExtras = append(s.AccountExtras, func(ctx context.Context, id int64) (string, any, error) {
			return "balance", map[string]int64{"account": id, "mg": 1234}, nil
		})
	})
	tok := personToken(t, "p1")
	st, body := e.call("POST", "/v1/me/account", tok, []byte(`{"entry_point":"search","consent_version":"v1"}`))
	bal, _ := body["balance"].(map[string]any)
	if st != 201 || bal["mg"] != float64(1234) || bal["account"] != body["id"] {
		t.Fatalf("open with extras = %d %v", st, body)
	}
	e.srv.AccountExtras = append(e.srv.AccountExtras, func(ctx context.Context, id int64) (string, any, error) {
		return "level", nil, errors.New("honor is down")
	})
	if st, body := e.call("GET", "/v1/me/account", tok, nil); st != 500 || errCode(body) != "internal" {
		t.Fatalf("failing extra = %d %v", st, body)
	}
}

func TestAccountRoutesUnconfigured(t *testing.T) {
	srv := &web.Server{PersonTokenKey: acctKey}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	e := &acctEnv{t: t, url: ts.URL}
	if st, body := e.call("GET", "/v1/me/account", personToken(t, "p1"), nil); st != 503 || errCode(body) != "unavailable" {
		t.Fatalf("no account service = %d %v", st, body)
	}
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func stringOf(v any) string { s, _ := v.(string); return s }
