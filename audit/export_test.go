package audit

// Compact and Expand expose the record codec to the external tests.
var (
	Compact = compact
	Expand  = expand
)
