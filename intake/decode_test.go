package intake_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/intake"
)

const okEvent = `{"event_id":"e1","person":"alice","behavior":"eleme.no_cutlery","occurred_at":"2026-11-25T10:00:00+08:00","params":{"order_id":"E1"},"evidence":{"cutlery_choice":"none"}}`

func TestDecode(t *testing.T) {
	tests := []struct {
		name, body, ct string
		n              int
		errs           []bool // which events are invalid
		wantErr        bool
	}{
		{"OK", okEvent, "application/json", 1, []bool{false}, false},
		{"Batch", `{"events":[` + okEvent + `,` + strings.Replace(okEvent, `"e1"`, `"e2"`, 1) + `]}`, "", 2, []bool{false, false}, false},
		{"BatchWithBadEvent", `{"events":[` + okEvent + `,{"event_id":"x","person":"p","behavior":"b","occurred_at":"yesterday"}]}`, "", 2, []bool{false, true}, false},
		{"ErrUnknownField", strings.Replace(okEvent, `"params"`, `"extra":1,"params"`, 1), "", 1, []bool{true}, false},
		{"ErrMissingOccurredAt", `{"event_id":"e1","person":"p","behavior":"eleme.no_cutlery"}`, "", 1, []bool{true}, false},
		{"ErrNoOffset", strings.Replace(okEvent, "+08:00", "", 1), "", 1, []bool{true}, false},
		{"ErrEventIDSpace", strings.Replace(okEvent, `"e1"`, `"e 1"`, 1), "", 1, []bool{true}, false},
		{"ErrEventIDTooLong", strings.Replace(okEvent, `"e1"`, `"`+strings.Repeat("x", 129)+`"`, 1), "", 1, []bool{true}, false},
		{"ErrBehavior", strings.Replace(okEvent, `eleme.no_cutlery`, `Eleme NoCutlery`, 1), "", 1, []bool{true}, false},
		{"CloudEvent", `{"specversion":"1.0","type":"eleme.no_cutlery","source":"https://eleme.example/orders","id":"e1","time":"2026-11-25T10:00:00+08:00","datacontenttype":"application/json","data":{"person":"alice","params":{"order_id":"E1"},"evidence":{"cutlery_choice":"none"}}}`, "application/cloudevents+json", 1, []bool{false}, false},
		{"CloudEventGenericType", `{"specversion":"1.0","type":"com.opencarbon.behavior","source":"/eleme","id":"e1","time":"2026-11-25T10:00:00+08:00","data":{"person":"alice","behavior":"eleme.no_cutlery","params":{"order_id":"E1"},"evidence":{"cutlery_choice":"none"}}}`, "application/json", 1, []bool{false}, false},
		{"CloudEventBatch", `[{"specversion":"1.0","type":"eleme.no_cutlery","source":"/e","id":"e1","time":"2026-11-25T10:00:00Z","data":{"person":"a"}},{"specversion":"0.3","type":"x","source":"/e","id":"e2","time":"2026-11-25T10:00:00Z","data":{"person":"a"}}]`, "application/cloudevents-batch+json", 2, []bool{false, true}, false},
		{"ErrCloudEventExtension", `{"specversion":"1.0","type":"eleme.no_cutlery","source":"/e","id":"e1","time":"2026-11-25T10:00:00Z","traceparent":"x","data":{"person":"a"}}`, "", 1, []bool{true}, false},
		{"ErrCloudEventNoSource", `{"specversion":"1.0","type":"eleme.no_cutlery","id":"e1","time":"2026-11-25T10:00:00Z","data":{"person":"a"}}`, "", 1, []bool{true}, false},
		{"ErrDuplicateKey", strings.Replace(okEvent, `"params"`, `"person":"mallory","params"`, 1), "", 1, []bool{true}, false},
		{"ErrDuplicateParam", strings.Replace(okEvent, `"order_id":"E1"`, `"order_id":"E1","order_id":"E2"`, 1), "", 1, []bool{true}, false},
		{"SameKeyInSiblings", strings.Replace(okEvent, `"order_id":"E1"`, `"order_id":"E1","n":{"order_id":"E2"}`, 1), "", 1, []bool{false}, false},
		{"ErrDuplicateCloudEventData", `{"specversion":"1.0","type":"eleme.no_cutlery","source":"/e","id":"e1","time":"2026-11-25T10:00:00Z","data":{"person":"a","person":"b"}}`, "", 1, []bool{true}, false},
		{"ErrDuplicateEvents", `{"events":[` + okEvent + `],"events":[` + okEvent + `]}`, "", 0, nil, true},
		{"ErrNotJSON", `hello`, "", 0, nil, true},
		{"ErrEmptyBatch", `{"events":[]}`, "", 0, nil, true},
		{"ErrEmptyCloudEventBatch", `[]`, "application/cloudevents-batch+json", 0, nil, true},
		{"ErrNullCloudEventBatch", `null`, "application/cloudevents-batch+json", 0, nil, true},
		{"ErrBatchExtraMember", `{"events":[` + okEvent + `],"x":1}`, "", 0, nil, true},
		{"ErrTooMany", `{"events":[` + strings.Repeat(okEvent+",", intake.MaxBatch) + okEvent + `]}`, "", 0, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := intake.Decode([]byte(tc.body), tc.ct)
			if tc.wantErr {
				if oc.ErrorCode(err) != oc.EInvalid {
					t.Fatalf("err = %v; want invalid", err)
				}
				return
			}
			if err != nil || len(evs) != tc.n {
				t.Fatalf("got %d events, %v", len(evs), err)
			}
			for i, bad := range tc.errs {
				if (evs[i].Err != nil) != bad {
					t.Fatalf("event %d: err = %v; want invalid=%v", i, evs[i].Err, bad)
				}
			}
		})
	}
}

// TestDecodeSameEventSameHash: the plain and CloudEvents forms of one event,
// with other key order and zone, have the same body hash.
func TestDecodeSameEventSameHash(t *testing.T) {
	plain, _ := intake.Decode([]byte(okEvent), "")
	ce, _ := intake.Decode([]byte(`{"data":{"evidence":{"cutlery_choice":"none"},"params":{"order_id":"E1"},"person":"alice"},"specversion":"1.0","type":"eleme.no_cutlery","source":"/x","id":"e1","time":"2026-11-25T02:00:00Z"}`), "")
	if plain[0].Err != nil || ce[0].Err != nil {
		t.Fatal(plain[0].Err, ce[0].Err)
	}
	if plain[0].Hash() != ce[0].Hash() {
		t.Fatal("same event, different hash")
	}
	if !plain[0].OccurredAt.Equal(time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("occurred_at = %v", plain[0].OccurredAt)
	}
	other, _ := intake.Decode([]byte(strings.Replace(okEvent, `"E1"`, `"E2"`, 1)), "")
	if other[0].Hash() == plain[0].Hash() {
		t.Fatal("different events, same hash")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(okEvent), "application/json")
	f.Add([]byte(`{"events":[`+okEvent+`]}`), "")
	f.Add([]byte(`{"specversion":"1.0","type":"com.opencarbon.behavior","source":"/e","id":"e1","time":"2026-11-25T10:00:00Z","data":{"person":"a","behavior":"b"}}`), "application/cloudevents+json")
	f.Add([]byte(`[{"specversion":"1.0"}]`), "application/cloudevents-batch+json")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		evs, err := intake.Decode(body, ct)
		if err != nil {
			if oc.ErrorCode(err) != oc.EInvalid || len(evs) != 0 {
				t.Fatalf("error %v with %d events", err, len(evs))
			}
			return
		}
		if len(evs) == 0 || len(evs) > intake.MaxBatch {
			t.Fatalf("%d events", len(evs))
		}
		for _, ev := range evs {
			if ev.Err != nil {
				if ev.Err.Code != oc.EInvalid {
					t.Fatalf("event error code %q", ev.Err.Code)
				}
				continue
			}
			if ev.ID == "" || len(ev.ID) > 128 || ev.Person == "" || ev.Behavior == "" || ev.OccurredAt.IsZero() || ev.OccurredAt.Location() != time.UTC {
				t.Fatalf("accepted an incomplete event %+v", ev)
			}
			if ev.Hash() != ev.Hash() {
				t.Fatal("hash is not deterministic")
			}
		}
	})
}

// BenchmarkDecode measures decoding one event and a 1000-event batch
// (validation and the duplicate-key check included).
//
//	go test ./intake -run XXX -bench Decode
func BenchmarkDecode(b *testing.B) {
	one := []byte(`{"event_id":"ord-20261125-000123","person":"u-8f3a2c","behavior":"tmall.low_carbon_product","occurred_at":"2026-11-25T10:00:00+08:00","params":{"order_id":"ord-20261125-000123","kwh_saved":1.25},"evidence":{"order_id":"ord-20261125-000123","label":"energy-A"}}`)
	var batch bytes.Buffer
	batch.WriteString(`{"events":[`)
	for i := range 1000 {
		if i > 0 {
			batch.WriteByte(',')
		}
		batch.Write(bytes.ReplaceAll(one, []byte("000123"), []byte(fmt.Sprintf("%06d", i))))
	}
	batch.WriteString(`]}`)
	for _, c := range []struct {
		name string
		body []byte
		n    int
	}{{"one", one, 1}, {"batch1000", batch.Bytes(), 1000}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				evs, err := intake.Decode(c.body, "application/json")
				if err != nil || len(evs) != c.n || evs[0].Err != nil {
					b.Fatal(err, len(evs))
				}
			}
		})
	}
}
