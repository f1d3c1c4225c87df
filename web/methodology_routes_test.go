package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencarbon/opencarbon/methodologies"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/web"
)

const methAdmin = "admin-token-for-methodology-tests"

type methEnv struct {
	t   *testing.T
	srv *httptest.Server
}

func (e methEnv) do(method, path, token string, body []byte) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		e.t.Fatalf("%s %s: not JSON: %s", method, path, b)
	}
	return res.StatusCode, out
}

func methErrCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestMethodologyRoutes(t *testing.T) {
	storetest.Each(t, []store.Component{methodology.Migrations}, func(t *testing.T, db *store.DB) {
		svc := methodology.NewService(db, 2)
		if err := svc.SeedApproved(t.Context(), methodologies.FS); err != nil {
			t.Fatal(err)
		}
		s := &web.Server{DB: db, AdminToken: methAdmin, Methodologies: svc}
		e := methEnv{t, httptest.NewServer(s.Handler())}
		defer e.srv.Close()

		st, body := e.do("GET", "/v1/methodologies", "", nil)
		if list, _ := body["methodologies"].([]any); st != 200 || len(list) < 10 {
			t.Fatalf("list = %d %v", st, body)
		}
		st, body = e.do("GET", "/v1/methodologies/eleme.no_cutlery/versions/1.0.0", "", nil)
		if revs, _ := body["reviews"].([]any); st != 200 || body["status"] != "approved" || len(body["hash"].(string)) != 64 || len(revs) != 2 || body["document"] == nil {
			t.Fatalf("get = %d %v", st, body)
		}
		if st, body = e.do("GET", "/v1/methodologies?status=aproved", "", nil); st != 400 || methErrCode(body) != "invalid" {
			t.Fatalf("unknown status = %d %v", st, body)
		}
		if st, body = e.do("GET", "/v1/methodologies/nope.x/versions/1.0.0", "", nil); st != 404 {
			t.Fatalf("missing = %d %v", st, body)
		}
		st, body = e.do("GET", "/v1/factors", "", nil)
		if fs, _ := body["factors"].([]any); st != 200 || len(fs) < 10 {
			t.Fatalf("factors = %d %v", st, body)
		}

		// Reviewer accounts need the admin token; tokens are shown once.
		if st, body = e.do("POST", "/v1/admin/reviewers", "", []byte(`{"id":"a","name":"A","roles":["author"]}`)); st != 401 {
			t.Fatalf("reviewer without admin = %d %v", st, body)
		}
		tokens := map[string]string{}
		for _, r := range []struct{ id, role string }{{"ann", "author"}, {"ben", "reviewer"}, {"cat", "reviewer"}} {
			st, body = e.do("POST", "/v1/admin/reviewers", methAdmin, []byte(`{"id":"`+r.id+`","name":"`+r.id+`","roles":["`+r.role+`"]}`))
			tok, _ := body["token"].(string)
			if st != 201 || !strings.HasPrefix(tok, "ocr_") {
				t.Fatalf("create reviewer = %d %v", st, body)
			}
			tokens[r.id] = tok
		}
		src, _ := methodologies.FS.ReadFile("cainiao.box_return.yaml")
		doc := bytes.Replace(src, []byte("version: 1.0.0"), []byte("version: 1.1.0"), 1)
		base := "/v1/methodologies/cainiao.box_return/versions/1.1.0/"

		if st, body = e.do("POST", "/v1/methodologies", tokens["ben"], doc); st != 403 {
			t.Fatalf("create by non-author = %d %v", st, body)
		}
		if st, body = e.do("POST", "/v1/methodologies", tokens["ann"], []byte("id: broken\nbaseline: 1 +\n")); st != 400 || methErrCode(body) != "invalid" {
			t.Fatalf("create invalid = %d %v", st, body)
		}
		if st, body = e.do("POST", "/v1/methodologies", tokens["ann"], doc); st != 201 || body["status"] != "draft" {
			t.Fatalf("create = %d %v", st, body)
		}
		if st, body = e.do("POST", base+"approve", tokens["ben"], nil); st != 409 || methErrCode(body) != "illegal_transition" {
			t.Fatalf("approve draft = %d %v", st, body)
		}
		if st, body = e.do("POST", base+"submit", tokens["ann"], nil); st != 200 || body["status"] != "in_review" {
			t.Fatalf("submit = %d %v", st, body)
		}
		if st, body = e.do("POST", base+"reviews", tokens["ann"], []byte(`{"decision":"approve","comment":"mine"}`)); st != 403 {
			t.Fatalf("self review = %d %v", st, body)
		}
		if st, body = e.do("POST", base+"reviews", tokens["ben"], []byte(`{"decision":"approve","comment":"ok"}`)); st != 201 {
			t.Fatalf("review = %d %v", st, body)
		}
		if st, body = e.do("POST", base+"approve", tokens["ben"], nil); st != 409 || methErrCode(body) != "quorum_not_met" {
			t.Fatalf("approve below quorum = %d %v", st, body)
		}
		if st, body = e.do("POST", base+"reviews", tokens["cat"], []byte(`{"decision":"approve","comment":"ok too"}`)); st != 201 {
			t.Fatalf("review 2 = %d %v", st, body)
		}
		if st, body = e.do("POST", base+"approve", tokens["cat"], []byte(`{"effective_from":"2030-01-01T00:00:00Z"}`)); st != 200 || body["status"] != "approved" {
			t.Fatalf("approve = %d %v", st, body)
		}
		if st, body = e.do("POST", "/v1/methodologies", tokens["ann"], doc); st != 409 || methErrCode(body) != "immutable" {
			t.Fatalf("change approved = %d %v", st, body)
		}
		if st, body = e.do("POST", base+"suspend", methAdmin, []byte(`{"reason":"recheck"}`)); st != 200 || body["status"] != "suspended" {
			t.Fatalf("suspend by admin = %d %v", st, body)
		}
		if st, body = e.do("POST", base+"retire", tokens["ben"], nil); st != 200 || body["status"] != "retired" {
			t.Fatalf("retire = %d %v", st, body)
		}
		if st, body = e.do("POST", base+"frobnicate", tokens["ben"], nil); st != 404 {
			t.Fatalf("unknown action = %d %v", st, body)
		}
	})
}

// factorBody is a valid draft factor with its full source; edits replace
// one field's JSON text.
const factorBody = `{"id":"test.per_order","version":"1","value":12.5,"unit":"gCO2e/order","region":"CN","year":2025,` +
	`"source":{"publisher":"P","document":"D","table":"T1","url":"https://example.org/d"},"method":"test figure","uncertainty_pct":20}`

func TestFactorAdminRoutes(t *testing.T) {
	storetest.Each(t, []store.Component{methodology.Migrations}, func(t *testing.T, db *store.DB) {
		svc := methodology.NewService(db, 2)
		s := &web.Server{DB: db, AdminToken: methAdmin, Methodologies: svc}
		e := methEnv{t, httptest.NewServer(s.Handler())}
		defer e.srv.Close()
		tokens := map[string]string{}
		for _, r := range []struct{ id, role string }{{"ann", "author"}, {"ben", "reviewer"}} {
			_, body := e.do("POST", "/v1/admin/reviewers", methAdmin, []byte(`{"id":"`+r.id+`","name":"`+r.id+`","roles":["`+r.role+`"]}`))
			tokens[r.id], _ = body["token"].(string)
		}
		statusPath := "/v1/admin/factors/test.per_order/versions/1/status"
		steps := []struct {
			name, path, token, body string
			status                  int
			code                    string // error code, or the factor's status on success
		}{
			{"ErrNoToken", "/v1/admin/factors", "", factorBody, 401, "missing_auth"},
			{"ErrReviewerTokenIsNotAdmin", "/v1/admin/factors", tokens["ben"], factorBody, 401, "unauthorized"},
			{"ErrUnknownField", "/v1/admin/factors", methAdmin, strings.Replace(factorBody, `"region"`, `"colour":"red","region"`, 1), 400, "invalid"},
			{"ErrWrongUnit", "/v1/admin/factors", methAdmin, strings.Replace(factorBody, `"gCO2e/order"`, `"grams per order"`, 1), 400, "invalid_unit"},
			{"ErrUnitNotKnown", "/v1/admin/factors", methAdmin, strings.Replace(factorBody, `"gCO2e/order"`, `"gCO2e/ordr"`, 1), 400, "invalid_unit"},
			{"ErrValueAsText", "/v1/admin/factors", methAdmin, strings.Replace(factorBody, `12.5`, `"12.5"`, 1), 400, "invalid"},
			{"ErrNoPublisher", "/v1/admin/factors", methAdmin, strings.Replace(factorBody, `"publisher":"P"`, `"publisher":""`, 1), 400, "invalid"},
			{"ErrApprovedOnArrival", "/v1/admin/factors", methAdmin, strings.Replace(factorBody, `"uncertainty_pct":20`, `"uncertainty_pct":20,"status":"approved"`, 1), 400, "invalid"},
			{"ErrNotJSON", "/v1/admin/factors", methAdmin, "id: test.per_order", 400, "invalid"},
			{"ErrStatusOfMissingFactor", statusPath, methAdmin, `{"status":"approved"}`, 404, "not_found"},
			{"AddDraft", "/v1/admin/factors", methAdmin, factorBody, 201, "draft"},
			{"SameDraftAgain", "/v1/admin/factors", methAdmin, factorBody, 200, "draft"},
			{"CorrectDraft", "/v1/admin/factors", methAdmin, strings.Replace(factorBody, `12.5`, `12.6`, 1), 201, "draft"},
			{"ErrStatusNoToken", statusPath, "", `{"status":"approved"}`, 401, "missing_auth"},
			{"ErrStatusByAuthor", statusPath, tokens["ann"], `{"status":"approved"}`, 403, "forbidden"},
			{"ErrStatusUnknown", statusPath, methAdmin, `{"status":"gone"}`, 400, "invalid"},
			{"ErrStatusDraft", statusPath, methAdmin, `{"status":"draft"}`, 400, "invalid"},
			{"ErrStatusUnknownField", statusPath, methAdmin, `{"status":"approved","reason":"x"}`, 400, "invalid"},
			{"ErrDraftCannotBeSuspended", statusPath, methAdmin, `{"status":"suspended"}`, 409, "illegal_transition"},
			{"ApproveByReviewer", statusPath, tokens["ben"], `{"status":"approved"}`, 200, "approved"},
			{"ErrApprovedIsImmutable", "/v1/admin/factors", methAdmin, strings.Replace(factorBody, `12.5`, `13`, 1), 409, "immutable"},
			{"SameApprovedContentAgain", "/v1/admin/factors", methAdmin, strings.Replace(factorBody, `12.5`, `12.6`, 1), 200, "approved"},
			{"SuspendByAdmin", statusPath, methAdmin, `{"status":"suspended"}`, 200, "suspended"},
			{"Reinstate", statusPath, tokens["ben"], `{"status":"approved"}`, 200, "approved"},
			{"Retire", statusPath, tokens["ben"], `{"status":"retired"}`, 200, "retired"},
			{"ErrRetiredIsFinal", statusPath, methAdmin, `{"status":"approved"}`, 409, "illegal_transition"},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				st, body := e.do("POST", step.path, step.token, []byte(step.body))
				got := methErrCode(body)
				if st < 300 {
					got, _ = body["status"].(string)
				}
				if st != step.status || got != step.code {
					t.Fatalf("= %d %v, want %d %s", st, body, step.status, step.code)
				}
			})
		}
		// The library shows the one factor that was accepted, with its
		// corrected value, full source and final status.
		_, body := e.do("GET", "/v1/factors", "", nil)
		fs, _ := body["factors"].([]any)
		if len(fs) != 1 {
			t.Fatalf("factors = %v", body)
		}
		f := fs[0].(map[string]any)
		src, _ := f["source"].(map[string]any)
		if f["value"] != 12.6 || f["status"] != "retired" || src["table"] != "T1" || src["url"] != "https://example.org/d" {
			t.Fatalf("stored factor = %v", f)
		}
	})
}
