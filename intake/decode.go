package intake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/methodology"
)

// MaxBatch is the largest number of events accepted in one request.
const MaxBatch = 1000

// maxEventBytes bounds one event's JSON.
const maxEventBytes = 16 << 10

// CloudEventsType is the CloudEvents "type" that carries the behavior in
// data.behavior. Any other type is itself the behavior id.
const CloudEventsType = "com.opencarbon.behavior"

// Event is one reported behavior as decoded from a request.
type Event struct {
	ID         string         `json:"event_id"`
	Person     string         `json:"person"`
	Behavior   string         `json:"behavior"`
	OccurredAt time.Time      `json:"occurred_at"`
	Params     map[string]any `json:"params,omitempty"`
	Evidence   map[string]any `json:"evidence,omitempty"`

	// Err is set when the event could not be decoded or validated; it is
	// answered "rejected" with code invalid and never reaches the database.
	Err *oc.Error `json:"-"`

	hash string // memo of Hash, set by the writer that owns the event
	// The event evaluated up to its caps on the request's goroutine
	// (Submit), so that the shard writer only applies the caps; nil, or
	// from an engine the writer no longer uses, means evaluate in full.
	prep *methodology.Prepared
}

// wireEvent is the strict JSON shape of an event.
type wireEvent struct {
	EventID    *string        `json:"event_id"`
	Person     *string        `json:"person"`
	Behavior   *string        `json:"behavior"`
	OccurredAt *string        `json:"occurred_at"`
	Params     map[string]any `json:"params"`
	Evidence   map[string]any `json:"evidence"`
}

// wireCloudEvent is the strict JSON shape of a CloudEvents 1.0 structured
// event carrying an OpenCarbon event. Extension attributes are refused.
type wireCloudEvent struct {
	SpecVersion     *string         `json:"specversion"`
	Type            *string         `json:"type"`
	Source          *string         `json:"source"`
	ID              *string         `json:"id"`
	Time            *string         `json:"time"`
	Subject         *string         `json:"subject"`
	DataContentType *string         `json:"datacontenttype"`
	DataSchema      *string         `json:"dataschema"`
	Data            json.RawMessage `json:"data"`
}

type wireCloudData struct {
	Person   *string        `json:"person"`
	Behavior *string        `json:"behavior"`
	Params   map[string]any `json:"params"`
	Evidence map[string]any `json:"evidence"`
}

// validBehavior reports whether s is a behavior id: 1-64 characters of
// a-z 0-9 _ . -, starting with a letter or digit (^[a-z0-9][a-z0-9_.-]{0,63}$).
func validBehavior(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || i > 0 && (c == '_' || c == '.' || c == '-')) {
			return false
		}
	}
	return true
}

// Decode reads a request body: one event, {"events":[...]} (at most
// MaxBatch), one CloudEvents 1.0 structured event (detected by
// contentType application/cloudevents+json or a "specversion" member), or
// a CloudEvents batch (a JSON array, application/cloudevents-batch+json).
//
// A body that cannot be read as one of these shapes is an EInvalid error.
// Otherwise every element is returned in order; an element that is not a
// valid event has Err set and is answered on its own, so a batch is never
// all-or-nothing for bad events.
func Decode(body []byte, contentType string) ([]Event, error) {
	if !utf8.Valid(body) {
		return nil, oc.Errorf(oc.EInvalid, "body is not valid UTF-8")
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, oc.Errorf(oc.EInvalid, "empty body")
	}
	ct := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	if body[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, oc.Errorf(oc.EInvalid, "invalid JSON array: %s", problem(err))
		}
		if len(raws) == 0 {
			return nil, oc.Errorf(oc.EInvalid, "the batch is empty")
		}
		return decodeMany(raws, true)
	}
	if body[0] != '{' {
		return nil, oc.Errorf(oc.EInvalid, "body must be a JSON object or, for a CloudEvents batch, an array")
	}
	if !json.Valid(body) {
		var v any
		return nil, oc.Errorf(oc.EInvalid, "invalid JSON: %s", problem(json.Unmarshal(body, &v)))
	}
	top := readTop(body)
	if evs := top.events; evs != nil {
		if err := uniqueKeys(body, 1); err != nil {
			return nil, oc.Errorf(oc.EInvalid, "invalid batch: %s", err)
		}
		if top.n != 1 {
			return nil, oc.Errorf(oc.EInvalid, `a batch is {"events":[...]} with no other member`)
		}
		var raws []json.RawMessage
		if err := json.Unmarshal(evs, &raws); err != nil {
			return nil, oc.Errorf(oc.EInvalid, "events must be an array of events")
		}
		if len(raws) == 0 {
			return nil, oc.Errorf(oc.EInvalid, "events is empty")
		}
		return decodeMany(raws, false)
	}
	ce := top.specVersion || ct == "application/cloudevents+json"
	return []Event{decodeOne(body, ce)}, nil
}

func decodeMany(raws []json.RawMessage, cloudEvents bool) ([]Event, error) {
	if len(raws) > MaxBatch {
		return nil, oc.Errorf(oc.EInvalid, "a batch holds at most %d events, got %d", MaxBatch, len(raws))
	}
	out := make([]Event, len(raws))
	for i, r := range raws {
		ce := cloudEvents
		if !ce && bytes.Contains(r, []byte(`"specversion"`)) {
			ce = true
		}
		out[i] = decodeOne(r, ce)
	}
	return out, nil
}

// decodeOne decodes one element; problems are recorded in Event.Err with
// as much of the event id as could be read.
func decodeOne(raw []byte, cloudEvent bool) Event {
	var ev Event
	bad := func(format string, args ...any) Event {
		ev.Err = oc.Errorf(oc.EInvalid, format, args...)
		return ev
	}
	if len(raw) > maxEventBytes {
		ev.ID = peekID(raw)
		return bad("event is larger than %d bytes", maxEventBytes)
	}
	var at *string
	if cloudEvent {
		var w wireCloudEvent
		if err := strict(raw, &w); err != nil {
			ev.ID = peekID(raw)
			return bad("invalid CloudEvent: %s", problem(err))
		}
		ev.ID = deref(w.ID)
		switch {
		case deref(w.SpecVersion) != "1.0":
			return bad("specversion must be \"1.0\"")
		case deref(w.Source) == "":
			return bad("source is required")
		case w.DataContentType != nil && !strings.HasPrefix(*w.DataContentType, "application/json"):
			return bad("datacontenttype must be application/json")
		case len(w.Data) == 0 || w.Data[0] != '{':
			return bad("data must be an object {person, params, evidence}")
		}
		var d wireCloudData
		if err := strict(w.Data, &d); err != nil {
			return bad("invalid CloudEvent data: %s", problem(err))
		}
		ev.Person, ev.Params, ev.Evidence = deref(d.Person), d.Params, d.Evidence
		typ := deref(w.Type)
		switch {
		case typ == CloudEventsType:
			ev.Behavior = deref(d.Behavior)
		case d.Behavior != nil && *d.Behavior != typ:
			return bad("data.behavior %q differs from type %q", *d.Behavior, typ)
		default:
			ev.Behavior = typ
		}
		at = w.Time
	} else {
		var w wireEvent
		if err := strict(raw, &w); err != nil {
			ev.ID = peekID(raw)
			return bad("invalid event: %s", problem(err))
		}
		ev.ID, ev.Person, ev.Behavior = deref(w.EventID), deref(w.Person), deref(w.Behavior)
		ev.Params, ev.Evidence = w.Params, w.Evidence
		at = w.OccurredAt
	}
	if err := validID("event_id", ev.ID); err != nil {
		return bad("%s", err)
	}
	if err := validID("person", ev.Person); err != nil {
		return bad("%s", err)
	}
	if !validBehavior(ev.Behavior) {
		return bad("behavior must be 1-64 characters of a-z 0-9 _ . - (got %q)", trunc(ev.Behavior))
	}
	if at == nil || *at == "" {
		return bad("occurred_at (CloudEvents: time) is required")
	}
	t, err := time.Parse(time.RFC3339Nano, *at)
	if err != nil {
		return bad("occurred_at must be an RFC 3339 time with an offset, got %q", trunc(*at))
	}
	if t.Year() < 2000 || t.Year() > 9999 {
		return bad("occurred_at is out of range")
	}
	ev.OccurredAt = t.UTC().Truncate(time.Microsecond)
	return ev
}

func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return uniqueKeys(b, 64)
}

// validID checks an identifier: 1-128 printable ASCII characters, no spaces.
func validID(name, s string) error {
	if s == "" {
		return fmt.Errorf("%s is required", name)
	}
	if len(s) > 128 {
		return fmt.Errorf("%s is longer than 128 characters", name)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return fmt.Errorf("%s must be printable ASCII without spaces", name)
		}
	}
	return nil
}

// peekID reads event_id (or id) from an element that failed strict
// decoding, so the answer can still name it.
func peekID(raw []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	for _, k := range []string{"event_id", "id"} {
		var s string
		if json.Unmarshal(m[k], &s) == nil && validID(k, s) == nil {
			return s
		}
	}
	return ""
}

func problem(err error) string {
	var te *json.UnmarshalTypeError
	if e, ok := err.(*json.UnmarshalTypeError); ok {
		te = e
		return "field " + te.Field + " must be " + te.Type.String()
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
