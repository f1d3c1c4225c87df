package web_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/web"
)

func partnerCount(t *testing.T, db *store.DB) [2]int {
	t.Helper()
	var out [2]int
	db.Read().QueryRow(`SELECT COUNT(*) FROM partners`).Scan(&out[0])
	db.Read().QueryRow(`SELECT COUNT(*) FROM partner_secrets`).Scan(&out[1])
	return out
}

func TestPartnerRoutes(t *testing.T) {
	storetest.Each(t, acctComps, func(t *testing.T, db *store.DB) {
		e := newAcctEnv(t, db, nil) // eleme and cainiao registered
		admin := acctAdminToken

		st, body := e.call("POST", "/v1/admin/partners", admin, []byte(`{"id":"xianyu","name":"Xianyu 闲鱼","scopes":["events:write","webhooks"],"webhook_url":"https://example.com/hook"}`))
		secret, _ := body["secret"].(string)
		if st != 201 || body["id"] != "xianyu" || body["name"] != "Xianyu 闲鱼" || len(secret) != 64 || body["webhook_url"] != "https://example.com/hook" {
			t.Fatalf("register = %d %v", st, body)
		}
		if _, got, _ := e.partners.Endpoint(t.Context(), "xianyu"); got != secret {
			t.Fatal("returned secret is not the stored one")
		}

		st, body = e.call("GET", "/v1/admin/partners", admin, nil)
		list, _ := body["partners"].([]any)
		if st != 200 || len(list) != 3 {
			t.Fatalf("list = %d %v", st, body)
		}
		if b, _ := jsonText(body); strings.Contains(b, secret) || strings.Contains(b, `"secret"`) {
			t.Fatalf("list shows a secret: %s", b)
		}
		if st, body := e.call("GET", "/v1/admin/partners/xianyu", admin, nil); st != 200 || body["id"] != "xianyu" {
			t.Fatalf("get = %d %v", st, body)
		}

		if st, body := e.call("PATCH", "/v1/admin/partners/xianyu", admin, []byte(`{"webhook_url":"https://example.com/v2"}`)); st != 200 || body["webhook_url"] != "https://example.com/v2" {
			t.Fatalf("patch = %d %v", st, body)
		}
		if st, body := e.call("PATCH", "/v1/admin/partners/xianyu", admin, []byte(`{"webhook_url":"gopher://x"}`)); st != 400 || errCode(body) != "invalid" {
			t.Fatalf("patch bad url = %d %v", st, body)
		}
		if st, body := e.call("PATCH", "/v1/admin/partners/nobody", admin, []byte(`{"webhook_url":""}`)); st != 404 || errCode(body) != "not_found" {
			t.Fatalf("patch unknown = %d %v", st, body)
		}
		if st, body := e.call("PATCH", "/v1/admin/partners/xianyu", admin, []byte(`{"name":"renamed"}`)); st != 400 || errCode(body) != "invalid" {
			t.Fatalf("patch unknown field = %d %v", st, body)
		}
		if _, body := e.call("GET", "/v1/admin/partners/xianyu", admin, nil); body["webhook_url"] != "https://example.com/v2" || body["name"] != "Xianyu 闲鱼" {
			t.Fatalf("after refused patches: %v", body)
		}

		st, body = e.call("POST", "/v1/admin/partners/xianyu/secrets", admin, nil)
		fresh, _ := body["secret"].(string)
		until, _ := time.Parse(time.RFC3339Nano, stringOf(body["previous_valid_until"]))
		if st != 201 || len(fresh) != 64 || fresh == secret || until.Sub(time.Now()) < 23*time.Hour || until.Sub(time.Now()) > 25*time.Hour {
			t.Fatalf("rotate = %d %v", st, body)
		}
		st, body = e.call("POST", "/v1/admin/partners/xianyu/secrets", admin, []byte(`{"overlap_seconds":0}`))
		until, _ = time.Parse(time.RFC3339Nano, stringOf(body["previous_valid_until"]))
		if st != 201 || time.Since(until) > time.Minute || time.Until(until) > time.Second {
			t.Fatalf("rotate without overlap = %d %v", st, body)
		}
	})
}

func TestPartnerRoutesRefusals(t *testing.T) {
	storetest.Each(t, acctComps, func(t *testing.T, db *store.DB) {
		e := newAcctEnv(t, db, nil)
		before := partnerCount(t, db)
		good := `{"id":"xianyu","name":"Xianyu","scopes":["events:write"]}`
		tests := []struct {
			name   string
			method string
			path   string
			token  string
			body   []byte
			status int
			code   string
		}{
			{"ErrNoAdminToken", "POST", "/v1/admin/partners", "", []byte(good), 401, "missing_auth"},
			{"ErrWrongAdminToken", "POST", "/v1/admin/partners", "nope", []byte(good), 401, "unauthorized"},
			{"ErrPersonTokenIsNotAdmin", "POST", "/v1/admin/partners", personToken(t, "p1"), []byte(good), 401, "unauthorized"},
			{"ErrListWithoutToken", "GET", "/v1/admin/partners", "", nil, 401, "missing_auth"},
			{"ErrRotateWithoutToken", "POST", "/v1/admin/partners/eleme/secrets", "", nil, 401, "missing_auth"},
			{"ErrUnknownField", "POST", "/v1/admin/partners", acctAdminToken, []byte(`{"id":"xianyu","name":"X","scopes":["events:write"],"secret":"mine"}`), 400, "invalid"},
			{"ErrWrongType", "POST", "/v1/admin/partners", acctAdminToken, []byte(`{"id":"xianyu","name":"X","scopes":"events:write"}`), 400, "invalid"},
			{"ErrInvalidUTF8", "POST", "/v1/admin/partners", acctAdminToken, []byte("{\"id\":\"xianyu\",\"name\":\"X\xfe\",\"scopes\":[\"events:write\"]}"), 400, "invalid"},
			{"ErrOversize", "POST", "/v1/admin/partners", acctAdminToken, bytes.Repeat([]byte(" "), web.MaxBody+1), 413, "body_too_large"},
			{"ErrMissingID", "POST", "/v1/admin/partners", acctAdminToken, []byte(`{"name":"X","scopes":["events:write"]}`), 400, "invalid"},
			{"ErrBadID", "POST", "/v1/admin/partners", acctAdminToken, []byte(`{"id":"Xian Yu","name":"X","scopes":["events:write"]}`), 400, "invalid"},
			{"ErrUnknownScope", "POST", "/v1/admin/partners", acctAdminToken, []byte(`{"id":"xianyu","name":"X","scopes":["root"]}`), 400, "invalid"},
			{"ErrBadWebhook", "POST", "/v1/admin/partners", acctAdminToken, []byte(`{"id":"xianyu","name":"X","scopes":["webhooks"],"webhook_url":"file:///etc/passwd"}`), 400, "invalid"},
			{"ErrDuplicate", "POST", "/v1/admin/partners", acctAdminToken, []byte(`{"id":"eleme","name":"X","scopes":["events:write"]}`), 409, "conflict"},
			{"ErrRotateUnknown", "POST", "/v1/admin/partners/nobody/secrets", acctAdminToken, nil, 404, "not_found"},
			{"ErrRotateNegativeOverlap", "POST", "/v1/admin/partners/eleme/secrets", acctAdminToken, []byte(`{"overlap_seconds":-1}`), 400, "invalid"},
			{"ErrRotateHugeOverlap", "POST", "/v1/admin/partners/eleme/secrets", acctAdminToken, []byte(`{"overlap_seconds":99999999999}`), 400, "invalid"},
			{"ErrRotateUnknownField", "POST", "/v1/admin/partners/eleme/secrets", acctAdminToken, []byte(`{"overlap":"1h"}`), 400, "invalid"},
			{"ErrRotateWrongType", "POST", "/v1/admin/partners/eleme/secrets", acctAdminToken, []byte(`{"overlap_seconds":"60"}`), 400, "invalid"},
			{"ErrGetUnknown", "GET", "/v1/admin/partners/nobody", acctAdminToken, nil, 404, "not_found"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				st, body := e.call(tc.method, tc.path, tc.token, tc.body)
				if st != tc.status || errCode(body) != tc.code {
					t.Fatalf("= %d %v, want %d %s", st, body, tc.status, tc.code)
				}
				if got := partnerCount(t, db); got != before {
					t.Fatalf("refused call changed partners: %v, before %v", got, before)
				}
			})
		}
	})
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	db := storetest.Open(t, store.SQLite, acctComps...)
	e := newAcctEnv(t, db, func(s *web.Server) { s.AdminToken = "" })
	if st, body := e.call("GET", "/v1/admin/partners", "anything", nil); st != 401 || errCode(body) != "unauthorized" {
		t.Fatalf("admin call with admin disabled = %d %v", st, body)
	}
}
