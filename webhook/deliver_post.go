package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/opencarbon/opencarbon/partner"
)

// post sends one attempt of c to its partner's current URL, signed with the
// partner's current secret (partner.Sign over the URL's path and query,
// exactly as a partner signs its requests to us). It returns the HTTP
// status (0 when there was no answer) and nil only for a 2xx answer.
func (d *Deliverer) post(ctx context.Context, c claimed) (int, error) {
	target, secret, err := d.Endpoints.Endpoint(ctx, c.partner)
	if err != nil {
		return 0, fmt.Errorf("endpoint: %w", err)
	}
	if target == "" {
		return 0, fmt.Errorf("partner %s has no webhook URL", c.partner)
	}
	u, err := url.Parse(target)
	if err != nil {
		return 0, fmt.Errorf("webhook URL: %w", err)
	}
	body := []byte(c.body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "OpenCarbon-Webhooks/1")
	req.Header.Set(HeaderDelivery, EventID(c.id))
	partner.SignRequest(req, c.partner, secret, body)
	res, err := d.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post: %w", err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, fmt.Errorf("receiver answered %s", strconv.Itoa(res.StatusCode))
	}
	return res.StatusCode, nil
}
