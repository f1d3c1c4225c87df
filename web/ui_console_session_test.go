package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/opencarbon/opencarbon/web"
	"github.com/opencarbon/opencarbon/web/webtest"
)

// TestUIConsoleSessionEndsWithAdminToken: an operator who rotates a
// leaked admin token (new configuration, restart) ends every console
// session started with the old one; a restart with the same token keeps
// them.
func TestUIConsoleSessionEndsWithAdminToken(t *testing.T) {
	env := webtest.New(t, true)
	admin := newBrowser(t, env.URL)
	tok := admin.csrf("/console/signin")
	if code, _, _ := admin.post("/console/signin", url.Values{"csrf": {tok}, "token": {webtest.AdminToken}}); code != http.StatusSeeOther {
		t.Fatalf("admin sign-in: %d", code)
	}
	restart := func(adminToken string) string {
		s := &web.Server{DB: env.Server.DB, PartnerRegistry: env.Server.PartnerRegistry, PersonTokenKey: webtest.PersonKey, AdminToken: adminToken}
		ts := httptest.NewServer(s.Handler())
		t.Cleanup(ts.Close)
		return ts.URL
	}
	tests := []struct {
		name       string
		adminToken string
		want       int
	}{
		{"OKSameToken", webtest.AdminToken, http.StatusOK},
		{"ErrRotatedToken", "rotated-admin-token-0123456789", http.StatusSeeOther},
		{"ErrAdminDisabled", "", http.StatusSeeOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Cookies are not told apart by port: the same browser
			// carries its session to the restarted server.
			admin.base = restart(tc.adminToken)
			if code, _, _ := admin.get("/console/partners"); code != tc.want {
				t.Fatalf("console with the old session: %d, want %d", code, tc.want)
			}
		})
	}
}
