package webhook

import "time"

// Backoff exposes the retry wait after the n-th failure, with d's defaults.
func Backoff(d *Deliverer, n int) time.Duration {
	d.defaults()
	return d.backoff(n)
}

// CreditBlock is the most credits one outbox batch row holds.
const CreditBlock = creditBlock
